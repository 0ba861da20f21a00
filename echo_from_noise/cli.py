"""Command-line plumbing shared by every program of the project.

Each program describes its options once, as a dataclass whose fields carry a ``help`` text in
their metadata. ``parse_config`` derives the argparse parser from it, and ``save_config`` writes the
exact configuration next to the program's outputs, so nothing is defined twice. An option the
command line must give is declared with ``required``.

    @dataclass
    class Config:
        data_dir: str = required("folder of ...")
        size: int = field(default=256, metadata={"help": "output size in pixels"})
        views: tuple[str, ...] = field(default=VIEWS, metadata={"help": "...", "choices": VIEWS})

    CONFIG = Config  # (what the pipeline checks its options with: echo_pipeline's StageChecker)
    main = program(CONFIG, extract, __doc__)

``program`` makes the program's ``main(argv=None)``: the options of the command line (``argv``, or
sys.argv) parsed into the configuration, the program's function run on it under ``run_program``.

A program that runs or resembles another one takes that program's options from its dataclass
instead of declaring them again: ``prefixed_options`` offers some of them under a prefix (passed on
by ``prefixed_arguments``), ``with_defaults`` keeps all of them with other defaults.

Errors a user can cause (bad input) are raised as ``UserError``; ``run_program`` turns them into one
line on stderr and exit status 2, with no traceback (none for an ``AlreadyReported`` one, whose line
was printed by whoever failed, e.g. a pipeline stage's program).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

from .errors import AlreadyReported, UserError
from .files import atomic_path

T = TypeVar("T")


def _field_type(cls: type, f: dataclasses.Field) -> Any:
    hints = typing.get_type_hints(cls)
    return hints[f.name]


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep the program description's line breaks and show every option's default."""


def required(help_text: str, default: Any = "") -> Any:
    """The field of an option the command line must give (its --help shows no default);
    ``default`` fills only a configuration built in code without it."""
    return dataclasses.field(default=default, metadata={"help": help_text, "required": True})


def build_parser(cls: type, description: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser with one option per dataclass field (``foo_bar`` -> ``--foo-bar``)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=_HelpFormatter)
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli", True) is False:
            continue
        tp, optional = _unwrap_optional(_field_type(cls, f))
        help_text = f.metadata.get("help", "")
        kwargs: dict[str, Any] = {"help": help_text, "dest": f.name}
        if f.default is not dataclasses.MISSING:
            kwargs["default"] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            kwargs["default"] = f.default_factory()  # type: ignore[misc]
        if f.metadata.get("required"):
            kwargs["required"] = True
            kwargs["default"] = argparse.SUPPRESS  # no "(default: ...)" for a required option
        if "choices" in f.metadata:
            kwargs["choices"] = list(f.metadata["choices"])
        name = "--" + f.name.replace("_", "-")
        origin = typing.get_origin(tp)
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin in (tuple, list):
            args = typing.get_args(tp)
            kwargs["type"] = args[0] if args and args[0] is not Ellipsis else str
            kwargs["nargs"] = "*" if optional else "+"
        elif typing.get_origin(tp) is typing.Literal:
            kwargs["choices"] = list(typing.get_args(tp))
            kwargs["type"] = type(typing.get_args(tp)[0])
        else:
            kwargs["type"] = tp
        if optional and "default" in kwargs and kwargs["default"] is None:
            kwargs["default"] = None
        parser.add_argument(name, **kwargs)
    return parser


def config_from_namespace(cls: type[T], namespace: argparse.Namespace) -> T:
    values = {}
    for f in dataclasses.fields(cls):
        if not hasattr(namespace, f.name):
            continue
        value = getattr(namespace, f.name)
        tp, _ = _unwrap_optional(_field_type(cls, f))
        if typing.get_origin(tp) is tuple and isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)


def parse_config(cls: type[T], argv: list[str] | None = None, description: str | None = None) -> T:
    """Parse command-line options into an instance of the configuration dataclass ``cls``."""
    parser = build_parser(cls, description)
    return config_from_namespace(cls, parser.parse_args(argv))


Configuration = type | Callable[[Optional[list[str]]], type]  # a class, or argv -> the class


def config_class(config: Configuration, argv: list[str] | None) -> type:
    """The configuration class of a program for the command line ``argv``: ``config`` itself, or
    what it gives for ``argv`` when it is a function (options that set other options' defaults)."""
    return config if isinstance(config, type) else config(argv)


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage and exit
        raise UserError(message)


def check_program_options(module_name: str, argv: list[str]) -> None:
    """UserError if ``argv`` is not a valid command line of the program ``module_name``: its
    options parsed with its configuration (the module's ``CONFIG``: the class, or a function of
    argv giving it) and checked by its ``check_options`` (no file is read). Modules without
    ``CONFIG`` are not checked."""
    module = importlib.import_module(module_name)
    if getattr(module, "CONFIG", None) is None:
        return
    cls = config_class(module.CONFIG, argv)
    parser = build_parser(cls)
    parser.__class__ = _RaisingParser
    try:
        config = config_from_namespace(cls, parser.parse_args(argv))
        if hasattr(module, "check_options"):
            module.check_options(config)
    except UserError as error:
        raise UserError(f"{module_name}: {error}") from None


def explicit_options(cls: type, argv: list[str] | None = None) -> tuple[str, ...]:
    """The fields of ``cls`` whose options appear in ``argv`` (the command line by default)."""
    parser = build_parser(cls)
    for action in parser._actions:
        action.default, action.required = argparse.SUPPRESS, False
    namespace, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return tuple(vars(namespace))


def prefixed_options(cls: type, prefix: str, names: tuple[str, ...], program: str) -> list[tuple]:
    """Options ``names`` of ``program`` (configured by ``cls``) as options ``prefix + name`` of another.

    Field specifications for ``dataclasses.make_dataclass``: the same type, help text and choices,
    but optional, with the default None (not given: the default of whoever fills it applies).
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    specs = []
    for name in names:
        metadata = {k: v for k, v in fields[name].metadata.items() if k in ("help", "choices")}
        metadata["help"] = f"{program} --{name.replace('_', '-')}: {metadata.get('help', '')}"
        specs.append((prefix + name, Optional[hints[name]],
                      dataclasses.field(default=None, metadata=metadata)))
    return specs


def option_arguments(name: str, value: Any) -> list[str]:
    """The command line that gives option ``name`` the ``value`` (what ``build_parser`` reads back).

    ``--name value``; several values for a tuple; ``--name`` / ``--no-name`` for a bool; nothing for
    None (the option is left out).
    """
    flag = "--" + name.replace("_", "-")
    if value is None:
        return []
    if isinstance(value, bool):
        return [flag] if value else ["--no-" + flag[2:]]
    if isinstance(value, (tuple, list)):
        return [flag, *map(str, value)]
    return [flag, str(value)]


def prefixed_values(config: Any, prefix: str, names: tuple[str, ...]) -> dict[str, Any]:
    """{name: value} of each option ``prefix + name`` of ``config`` that is set (not None)."""
    return {name: getattr(config, prefix + name) for name in names
            if getattr(config, prefix + name) is not None}


def prefixed_arguments(config: Any, prefix: str, names: tuple[str, ...]) -> list[str]:
    """The command line passing each option ``prefix + name`` of ``config`` that is set on as ``--name``."""
    return [arg for name, value in prefixed_values(config, prefix, names).items()
            for arg in option_arguments(name, value)]


def with_defaults(cls: type[T], **defaults: Any) -> type[T]:
    """A subclass of the configuration ``cls`` whose options ``defaults`` have other default values.

    Help texts and choices stay those of ``cls``; e.g. a benchmark's tiny network by default. A name
    that is not an option of ``cls`` is a KeyError.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    specs = [(name, hints[name], dataclasses.field(default=value, metadata=fields[name].metadata))
             for name, value in defaults.items()]
    return dataclasses.make_dataclass(cls.__name__, specs, bases=(cls,))


def config_to_dict(config: Any) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        if dataclasses.is_dataclass(value):
            return config_to_dict(value)
        return value

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a configuration saved by ``save_config`` (unknown keys are an error)."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise UserError(f"configuration has unknown keys for {cls.__name__}: {sorted(unknown)}")
    values = {}
    for name, value in data.items():
        tp, _ = _unwrap_optional(_field_type(cls, names[name]))
        if typing.get_origin(tp) is tuple and isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return cls(**values)


def save_config(config: Any, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write the configuration (plus optional extra facts) as JSON, atomically."""
    data = config_to_dict(config)
    if extra:
        data = {**data, **extra}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def require_at_least(config: Any, **minimums: float) -> None:
    """UserError "--batch-size must be at least 1, got 0" for the first option below its minimum."""
    for name, minimum in minimums.items():
        value = getattr(config, name)
        if value < minimum:
            raise UserError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")


STAGE_VARIABLE = "ECHO_FROM_NOISE_STAGE"  # set by the pipeline: the stage a program runs as


def run_program(body: Callable[[], Any]) -> None:
    """Run a program's body; a UserError becomes one line on stderr and exit status 2 (naming the
    pipeline stage it runs as, if any, since the pipeline then adds no line of its own)."""
    try:
        body()
    except AlreadyReported:
        raise SystemExit(2) from None
    except UserError as error:
        # one line, whatever a library put in the message (nibabel's texts hold newlines)
        stage = os.environ.get(STAGE_VARIABLE)
        where = f"stage {stage} failed (re-run the pipeline to resume): " if stage else ""
        print(f"error: {where}{' '.join(str(error).split())}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted: finished outputs are kept; re-run the same command to resume",
              file=sys.stderr)
        raise SystemExit(130) from None


def program(config: Configuration, run: Callable[[Any], Any],
            description: str | Callable[[], str] | None,
            explicit: bool = False) -> Callable[[Optional[list[str]]], None]:
    """The ``main(argv=None)`` of a program: the command line ``argv`` (default sys.argv) parsed
    into the configuration ``config`` (a class, or argv -> the class) with the --help text
    ``description`` (or the function that writes it when the program runs), and ``run`` called
    with it under ``run_program``. ``explicit``: the configuration's ``explicit`` also names the
    options the command line gave."""
    def main(argv: list[str] | None = None) -> None:
        def body() -> None:
            cls = config_class(config, argv)
            text = description() if callable(description) else description
            options = parse_config(cls, argv, text)
            if explicit:
                options.explicit = explicit_options(cls, argv)
            run(options)
        run_program(body)
    return main
