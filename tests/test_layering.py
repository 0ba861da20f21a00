"""Imports run downwards only (README, Layout): each package imports its own floor's package and
those below, never one beside or above it; semantic_diffusion_model reaches echo_segmentation
only through its documented interface, echo_segmentation.encoder."""
import ast
from pathlib import Path

from tests.conftest import REPO

FLOORS = {"echo_from_noise": 0, "data_preparation": 1, "embedded_camus": 1,
          "echo_segmentation": 1, "semantic_diffusion_model": 2, "echo_pipeline": 3}
INTERFACES = {("semantic_diffusion_model", "echo_segmentation"): {"echo_segmentation.encoder"}}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the file, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def wrong_imports() -> list[str]:
    wrong = []
    for package, floor in FLOORS.items():
        for path in sorted((REPO / package).rglob("*.py")):
            for line, module in imported_modules(path):
                target = module.split(".")[0]
                if target not in FLOORS or target == package:
                    continue
                allowed = INTERFACES.get((package, target))
                if allowed is not None:
                    ok = module in allowed
                else:
                    ok = FLOORS[target] < floor
                if not ok:
                    wrong.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return wrong


def test_imports_run_downwards_only():
    assert wrong_imports() == []


def test_the_check_finds_an_import_running_back_up(tmp_path, monkeypatch):
    import tests.test_layering as layering

    fake = tmp_path / "echo_from_noise"
    fake.mkdir()
    (fake / "x.py").write_text("def f():\n    from semantic_diffusion_model.config import ModelConfig\n")
    for package in FLOORS:
        if package != "echo_from_noise":
            (tmp_path / package).mkdir()
    monkeypatch.setattr(layering, "REPO", tmp_path)
    assert layering.wrong_imports() == ["echo_from_noise/x.py:2 imports semantic_diffusion_model.config"]
