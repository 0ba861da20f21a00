"""The shared helpers: dataclass configuration -> command line, atomic files, stale temporaries."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pytest

from echo_from_noise.cli import (build_parser, config_from_dict, config_to_dict, option_arguments,
                                 parse_config, prefixed_arguments, prefixed_options, program,
                                 with_defaults)
from echo_from_noise.errors import AlreadyReported, UserError
from echo_from_noise.files import (atomic_path, read_label_png, read_png, remove_temporaries,
                                   write_png)


@dataclass
class ExampleConfig:
    data_dir: str = field(default="", metadata={"help": "input", "required": True})
    size: int = field(default=256, metadata={"help": "pixels"})
    views: tuple[str, ...] = field(default=("2CH_ED",), metadata={"help": "views",
                                                                   "choices": ("2CH_ED", "4CH_ED")})
    flip: bool = field(default=True, metadata={"help": "flip"})
    resume: Optional[str] = field(default=None, metadata={"help": "checkpoint"})


def test_config_options_parse_and_round_trip():
    config = parse_config(ExampleConfig, ["--data-dir", "x", "--views", "4CH_ED", "2CH_ED",
                                          "--no-flip", "--size", "64"])
    assert config == ExampleConfig("x", 64, ("4CH_ED", "2CH_ED"), False, None)
    assert config_from_dict(ExampleConfig, config_to_dict(config)) == config
    with pytest.raises(UserError, match="unknown keys"):
        config_from_dict(ExampleConfig, {**config_to_dict(config), "other": 1})
    with pytest.raises(SystemExit):
        parse_config(ExampleConfig, ["--size", "64"])  # --data-dir is required
    with pytest.raises(SystemExit):
        parse_config(ExampleConfig, ["--data-dir", "x", "--views", "3CH"])


def test_prefixed_options_offer_a_programs_options_and_pass_on_the_set_ones():
    names = ("size", "views", "flip")
    Runner = dataclasses.make_dataclass(
        "Runner", [("seed", int, 0), *prefixed_options(ExampleConfig, "ex_", names, "example")])
    help_text = build_parser(Runner).format_help()
    assert "--ex-views [{2CH_ED,4CH_ED} ...]" in help_text and "example --size: pixels" in help_text
    runner = parse_config(Runner, ["--ex-size", "64", "--ex-views", "4CH_ED", "--no-ex-flip"])
    assert (runner.ex_size, runner.ex_views, runner.ex_flip, runner.seed) == (64, ("4CH_ED",), False, 0)
    arguments = prefixed_arguments(runner, "ex_", names)
    assert arguments == ["--size", "64", "--views", "4CH_ED", "--no-flip"]
    assert parse_config(ExampleConfig, ["--data-dir", "x", *arguments]) == \
        ExampleConfig("x", 64, ("4CH_ED",), False, None)
    assert prefixed_arguments(parse_config(Runner, []), "ex_", names) == []  # unset: left out


def test_option_arguments_are_what_the_parser_reads():
    assert option_arguments("data_dir", "x") == ["--data-dir", "x"]
    assert option_arguments("views", ("2CH_ED", "4CH_ED")) == ["--views", "2CH_ED", "4CH_ED"]
    assert option_arguments("flip", True) == ["--flip"]
    assert option_arguments("flip", False) == ["--no-flip"]
    assert option_arguments("resume", None) == []


def test_with_defaults_changes_only_the_defaults():
    Small = with_defaults(ExampleConfig, size=32, views=("4CH_ED",))
    assert issubclass(Small, ExampleConfig)
    assert [f.name for f in dataclasses.fields(Small)] == [f.name for f in dataclasses.fields(ExampleConfig)]
    assert parse_config(Small, ["--data-dir", "x"]) == Small("x", 32, ("4CH_ED",), True, None)
    help_text = build_parser(Small).format_help()
    assert "pixels (default: 32)" in help_text and "--views {2CH_ED,4CH_ED}" in help_text
    with pytest.raises(KeyError, match="colour"):
        with_defaults(ExampleConfig, colour="red")


def test_program_parses_runs_and_reports_errors_in_one_line(capsys):
    runs = []
    main = program(ExampleConfig, runs.append, "an example", explicit=True)
    main(["--data-dir", "x", "--size", "64"])
    assert runs == [ExampleConfig("x", 64)] and runs[0].explicit == ("data_dir", "size")
    # a configuration chosen by the command line (a function of argv)
    program(lambda argv: with_defaults(ExampleConfig, size=len(argv)), runs.append, None)(["--data-dir", "y"])
    assert runs[-1].size == 2
    for error, printed in ((UserError("bad\ninput"), "error: bad input\n"), (AlreadyReported("x"), "")):
        def fail(config, error=error):
            raise error
        with pytest.raises(SystemExit) as exit_info:
            program(ExampleConfig, fail, None)(["--data-dir", "x"])
        assert exit_info.value.code == 2 and capsys.readouterr().err == printed


def test_atomic_path_leaves_nothing_when_the_write_fails(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]


def test_remove_temporaries_deletes_only_unfinished_files(tmp_path):
    keep = [tmp_path / "last.pt", tmp_path / "a.png", tmp_path / ".hidden"]
    stale = [tmp_path / ".last.pt.0123abcd.tmp", tmp_path / ".a.png.89abcdef.tmp"]
    for path in keep + stale:
        path.write_bytes(b"x")
    assert remove_temporaries(tmp_path, ".png") == 1
    assert remove_temporaries(tmp_path) == 1
    assert sorted(tmp_path.iterdir()) == sorted(keep)


def test_png_reading_names_the_file_and_the_problem(tmp_path):
    labels = np.array([[0, 1], [4, 5]], dtype=np.uint8)
    write_png(tmp_path / "map.png", labels)
    assert np.array_equal(read_png(tmp_path / "map.png"), labels)
    with pytest.raises(UserError, match=r"map\.png: label values \[5\] outside 0\.\.4"):
        read_label_png(tmp_path / "map.png", 5)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match=r"broken\.png: not a readable image"):
        read_png(tmp_path / "broken.png")
    with pytest.raises(UserError, match=r"missing\.png: file not found"):
        read_png(tmp_path / "missing.png")


def test_print_table_aligns_headers_and_cells(capsys):
    from echo_from_noise.timing import print_table

    print_table([("name", "<6", "name"), ("s", ">7.2f", "s"), ("x", ">5", lambda r: f"{r['x']}x")],
                [{"name": "a", "s": 1.0, "x": 3}, {"name": "bb", "s": 12.345, "x": 40}])
    assert capsys.readouterr().out.splitlines() == ["name        s    x", "a        1.00   3x",
                                                    "bb      12.35  40x"]
