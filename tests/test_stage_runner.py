"""The pipeline's stage runner: a finished stage is skipped only while what it read is unchanged."""
import sys
from pathlib import Path

from echo_pipeline.stage_runner import StageRunner

# a stage: copies the file --in (if given) to --out-dir/out.txt, adding its --tag
STAGE = ("import sys, pathlib; a = dict(zip(sys.argv[1::2], sys.argv[2::2])); "
         "o = pathlib.Path(a['--out-dir']); o.mkdir(exist_ok=True); "
         "text = pathlib.Path(a['--in']).read_text() if '--in' in a else ''; "
         "(o / 'out.txt').write_text(text + a['--tag'])")


def stage(out: Path, tag: str, source: Path | None = None) -> list[str]:
    reads = ["--in", str(source / "out.txt")] if source else []
    return [sys.executable, "-c", STAGE, "--out-dir", str(out), "--tag", tag, *reads]


def run_all(work: Path, first_tag: str) -> list[str]:
    """Three stages: a, b reading a's output, c reading nothing of them. Returns those that ran."""
    runner = StageRunner(work)
    runner.run("a", stage(work / "a", first_tag), "cpu")
    runner.run("b", stage(work / "b", "b", work / "a"), "cpu")
    runner.run("c", stage(work / "c", "c"), "cpu")
    return sorted(runner.redone)


def test_a_stage_whose_input_was_redone_runs_again_though_its_command_is_the_same(tmp_path):
    assert run_all(tmp_path, "1") == ["a", "b", "c"]
    assert run_all(tmp_path, "1") == []  # nothing changed: every stage skipped
    # a's command changes: b reads a's new output, so b starts again in a new folder (its
    # program would resume the finished one); c reads nothing of a
    (tmp_path / "b" / "resumable.pt").write_text("a finished run of the old input")
    assert run_all(tmp_path, "2") == ["a", "b"]
    assert (tmp_path / "b" / "out.txt").read_text() == "2b"
    assert not (tmp_path / "b" / "resumable.pt").exists()
    assert (tmp_path / "c" / "out.txt").read_text() == "c"


def test_a_dependant_left_stale_by_an_earlier_stopped_run_runs_again(tmp_path):
    run_all(tmp_path, "1")
    StageRunner(tmp_path).run("a", stage(tmp_path / "a", "2"), "cpu")  # stopped after a
    assert run_all(tmp_path, "2") == ["b"]  # a is done; b finished before a's new output
    assert (tmp_path / "b" / "out.txt").read_text() == "2b"
