"""The sampling program end to end on real CAMUS maps (small_labels: step 2 on 8 patients) with a
tiny model trained for 2 steps by the training program: outputs, determinism, resuming after a
kill, mpiexec, independent jobs sharing one --out-dir, bad input."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_from_noise.files import list_pngs, read_png, write_png
from semantic_diffusion_model.training.checkpoint import load_checkpoint, load_model, save_checkpoint
from semantic_diffusion_model.training.data import one_hot, read_image, read_map
from semantic_diffusion_model.diffusion.ddpm import get_named_beta_schedule
from semantic_diffusion_model.samplers.guidance import LabelConditionedDenoiser
from semantic_diffusion_model.sample import main as sample_main
from semantic_diffusion_model.samplers import SAMPLER_NAMES, PerSampleNoise, Process, Sampler
from tests.conftest import REPO, kill_when, subprocess_env

SIZE = 32
FOLDERS = ("samples", "labels", "labels_visible", "combined")
FAST = ["--sampler", "ddpm", "--steps", "4"]  # respaced DDPM: fresh noise at every step


@pytest.fixture(scope="session")
def tiny_checkpoint(small_labels, tmp_path_factory) -> Path:
    """A 0.3 M parameter SPADE UNet at 32 px after 2 training steps (lr 1e-2, EMA = weights, so
    its output is far from the zero-initialised one), trained with label dropout 0.2."""
    from semantic_diffusion_model.train import main as train_main

    out = tmp_path_factory.mktemp("tiny_sdm")
    train_main(["--data-dir", str(small_labels), "--views", "2CH_ED", "--out-dir", str(out),
                "--image-size", str(SIZE), "--model-channels", "16", "--channel-mult", "1", "2",
                "--num-res-blocks", "1", "--attention-resolutions", "16", "--num-head-channels", "8",
                "--norm-groups", "8", "--spade-hidden", "8", "--batch-size", "2", "--max-steps", "2",
                "--lr", "1e-2", "--ema-rate", "0", "--label-dropout", "0.2", "--no-tensorboard",
                "--num-workers", "1"])
    return out / "checkpoint_0000002.pt"


@pytest.fixture(scope="session")
def maps_2ch(small_labels) -> Path:
    """12 augmented 2CH_ED maps (8 training, 4 validation), 64 px."""
    return small_labels / "2CH_ED_augmented" / "sector_annotations"


def sample(checkpoint, maps_dir, out_dir, *options, view="2CH_ED") -> dict:
    """Run the program in this process; the summary.json of ``view`` ("" = --out-dir itself)."""
    sample_main(["--checkpoint", str(checkpoint), "--maps-dir", str(maps_dir), "--out-dir",
                 str(out_dir), *options])
    return json.loads((Path(out_dir) / view / "summary.json").read_text())


@pytest.fixture(scope="session")
def reference(tiny_checkpoint, maps_2ch, tmp_path_factory) -> Path:
    """An uninterrupted single-process run over the 12 maps, batch 4."""
    out = tmp_path_factory.mktemp("reference")
    sample(tiny_checkpoint, maps_2ch, out, *FAST, "--batch-size", "4")
    return out


def names(folder: Path) -> list[str]:
    return [p.name for p in list_pngs(folder)]


def assert_same_outputs(a: Path, b: Path) -> None:
    """The same files in every output folder, images within 1 grey level, maps identical."""
    for folder in FOLDERS:
        assert names(a / "2CH_ED" / folder) == names(b / "2CH_ED" / folder), folder
    for name in names(a / "2CH_ED" / "samples"):
        x = read_png(a / "2CH_ED" / "samples" / name).astype(int)
        y = read_png(b / "2CH_ED" / "samples" / name).astype(int)
        assert np.abs(x - y).max() <= 1, name
        assert np.array_equal(read_png(a / "2CH_ED" / "labels" / name),
                              read_png(b / "2CH_ED" / "labels" / name))


def test_reference_run_writes_step_3(reference, maps_2ch, small_labels):
    summary = json.loads((reference / "2CH_ED" / "summary.json").read_text())
    assert summary["count"] == summary["generated"] == summary["done"] == 12
    assert summary["nfe_per_image"] == 4 and summary["sampler"] == "ddpm"
    assert summary["run"]["images_per_second"] > 0
    stems = sorted(p.stem for s in ("training", "validation") for p in list_pngs(maps_2ch / s))
    assert [n.removesuffix(".png") for n in names(reference / "2CH_ED" / "samples")] == stems
    images = [read_png(reference / "2CH_ED" / "samples" / f"{s}.png") for s in stems]
    assert all(im.shape == (SIZE, SIZE) for im in images)
    assert len({im.tobytes() for im in images}) == 12  # every map its own image
    # the label is the map at the image size; the coloured one and the 4-panel figure match it
    stem = stems[0]
    label = read_png(reference / "2CH_ED" / "labels" / f"{stem}.png")
    assert np.array_equal(label, read_map(str(maps_2ch / "training" / f"{stem}.png"), 5, SIZE))
    assert read_png(reference / "2CH_ED" / "labels_visible" / f"{stem}.png", color=True).shape == (SIZE, SIZE, 3)
    combined = read_png(reference / "2CH_ED" / "combined" / f"{stem}.png", color=True)
    assert combined.shape == (SIZE, 4 * SIZE + 3 * 2, 3)
    # first panel: the real image the augmented map came from (patient..._training_0 -> patient..._training)
    real = read_image(str(small_labels / "2CH_ED" / "images" / "training" / f"{stem.rsplit('_', 1)[0]}.png"), SIZE)
    assert np.array_equal(combined[:, :SIZE, 0], real)
    assert np.array_equal(combined[:, SIZE + 2:2 * SIZE + 2, 0], images[0])
    assert (reference / "2CH_ED" / "contact_sheet.png").is_file()
    config = json.loads((reference / "2CH_ED" / "sample_config.json").read_text())
    assert config["generation"]["steps"] == 4 and config["batch_size"] == 4


def test_every_sampler_returns_images_in_range(tiny_checkpoint, maps_2ch):
    model, diffusion_config, model_config = load_model(str(tiny_checkpoint))
    betas = get_named_beta_schedule(diffusion_config.noise_schedule, diffusion_config.diffusion_steps)
    maps = [read_map(str(p), 5, SIZE) for p in list_pngs(maps_2ch / "training")[:2]]
    y = one_hot(torch.from_numpy(np.stack(maps)), 5)
    for name in SAMPLER_NAMES:
        sampler = Sampler(name, Process.discrete(betas, model_config.learn_sigma), steps=3)
        with torch.inference_mode():
            x = sampler(LabelConditionedDenoiser(model, y), PerSampleNoise([1, 2], (1, SIZE, SIZE)))
        assert x.shape == (2, 1, SIZE, SIZE) and torch.isfinite(x).all(), name
        assert x.min() >= -1 and x.max() <= 1 and x.std() > 0.05, name


def test_same_map_same_image_whatever_the_batch_size(reference, tiny_checkpoint, maps_2ch, tmp_path):
    summary = sample(tiny_checkpoint, maps_2ch, tmp_path, *FAST, "--batch-size", "1")
    assert summary["generated"] == 12
    assert_same_outputs(reference, tmp_path)


def test_other_seed_other_images(reference, tiny_checkpoint, maps_2ch, tmp_path):
    sample(tiny_checkpoint, maps_2ch, tmp_path, *FAST, "--seed", "1", "--num-samples", "1")
    name = names(tmp_path / "2CH_ED" / "samples")[0]
    assert not np.array_equal(read_png(tmp_path / "2CH_ED" / "samples" / name),
                              read_png(reference / "2CH_ED" / "samples" / name))


def test_several_seeds_per_map_add_images_and_keep_the_first(reference, tiny_checkpoint, maps_2ch, tmp_path):
    summary = sample(tiny_checkpoint, maps_2ch, tmp_path, *FAST, "--num-samples", "2",
                     "--samples-per-map", "3")
    assert summary["count"] == summary["generated"] == 6 and summary["samples_per_map"] == 3
    first = sorted(p.stem for p in list_pngs(maps_2ch / "training"))[:2]
    made = sorted(n.removesuffix(".png") for n in names(tmp_path / "2CH_ED" / "samples"))
    assert made == sorted(f"{m}{s}" for m in first for s in ("", "_s1", "_s2"))
    samples = tmp_path / "2CH_ED" / "samples"
    # the first image of a map is the one sampled with one image per map; the others differ
    assert np.array_equal(read_png(samples / f"{first[0]}.png"),
                          read_png(reference / "2CH_ED" / "samples" / f"{first[0]}.png"))
    images = [read_png(samples / f"{first[0]}{s}.png") for s in ("", "_s1", "_s2")]
    assert len({im.tobytes() for im in images}) == 3
    assert np.array_equal(read_png(tmp_path / "2CH_ED" / "labels" / f"{first[0]}_s2.png"),
                          read_png(tmp_path / "2CH_ED" / "labels" / f"{first[0]}.png"))


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_set(tiny_checkpoint, maps_2ch, tmp_path):
    slow = ["--sampler", "ddpm", "--steps", "20", "--batch-size", "1", "--num-samples", "6"]
    command = [sys.executable, "-m", "semantic_diffusion_model.sample", "--checkpoint",
               str(tiny_checkpoint), "--maps-dir", str(maps_2ch), "--out-dir", str(tmp_path / "killed"),
               *slow]
    samples = tmp_path / "killed" / "2CH_ED" / "samples"
    kill_when(command, lambda: len(list_pngs(samples)) >= 2)
    done_before = len(list_pngs(samples))
    assert 2 <= done_before < 6, "the run was not killed part-way"
    summary = sample(tiny_checkpoint, maps_2ch, tmp_path / "killed", *slow)  # the same command again
    assert summary["skipped"] >= done_before and summary["done"] == 6
    assert summary["generated"] + summary["skipped"] == 6
    sample(tiny_checkpoint, maps_2ch, tmp_path / "whole", *slow)
    assert_same_outputs(tmp_path / "whole", tmp_path / "killed")
    leftovers = [p for f in FOLDERS for p in (tmp_path / "killed" / "2CH_ED" / f).iterdir()
                 if p.name.startswith(".")]
    assert leftovers == []


@pytest.mark.slow
def test_mpiexec_two_ranks_generate_every_map_once(reference, tiny_checkpoint, maps_2ch, tmp_path, venv_bin):
    result = subprocess.run(
        [str(venv_bin / "mpiexec"), "-n", "2", sys.executable, "-m", "semantic_diffusion_model.sample",
         "--checkpoint", str(tiny_checkpoint), "--maps-dir", str(maps_2ch), "--out-dir", str(tmp_path),
         *FAST, "--batch-size", "4"],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "2CH_ED" / "summary.json").read_text())
    assert summary["run"]["world_size"] == 2
    assert summary["run"]["generated_per_rank"] == [6, 6] and summary["done"] == 12  # none twice
    assert_same_outputs(reference, tmp_path)


# --- independent jobs on one --out-dir: each map claimed by one job -------------------------------

SHARED = ["--sampler", "ddpm", "--steps", "4", "--batch-size", "1"]  # batch 1: exact same bits


def start_job(checkpoint, maps_dir, out_dir, log: Path, *options) -> subprocess.Popen:
    """The program in a subprocess, its stderr to ``log`` (a pipe left unread could stall it)."""
    command = [sys.executable, "-m", "semantic_diffusion_model.sample", "--checkpoint",
               str(checkpoint), "--maps-dir", str(maps_dir), "--out-dir", str(out_dir), *options]
    with open(log, "w") as err:
        return subprocess.Popen(command, cwd=REPO, env=subprocess_env(), stdout=subprocess.DEVNULL,
                                stderr=err)


def generated_count(log: Path) -> int:
    """The N of the program's last line "N images generated ..."."""
    return int(re.findall(r"(\d+) images generated", log.read_text())[-1])


@pytest.mark.slow
def test_two_jobs_on_one_out_dir_generate_each_image_once(tiny_checkpoint, maps_2ch, tmp_path):
    logs = [tmp_path / f"job{i}.log" for i in range(2)]
    jobs = [start_job(tiny_checkpoint, maps_2ch, tmp_path / "shared", log, *SHARED) for log in logs]
    for job, log in zip(jobs, logs):
        assert job.wait(timeout=300) == 0, log.read_text()[-2000:]
    counts = [generated_count(log) for log in logs]
    assert sum(counts) == 12, counts  # none twice (both usually share it; timing decides how)
    summary = json.loads((tmp_path / "shared" / "2CH_ED" / "summary.json").read_text())
    assert summary["done"] == 12 and summary["generated"] in counts
    sample(tiny_checkpoint, maps_2ch, tmp_path / "single", *SHARED)
    for folder in (*FOLDERS, ""):
        a, b = tmp_path / "shared" / "2CH_ED" / folder, tmp_path / "single" / "2CH_ED" / folder
        assert names(a) == names(b), folder
        for name in names(a):  # bit-identical to a single job's
            assert (a / name).read_bytes() == (b / name).read_bytes(), f"{folder}/{name}"
    left = [p.name for p in (tmp_path / "shared" / "2CH_ED").rglob(".*")]
    assert left == [], left  # no claims or temporaries left behind


def write_claim(out_dir: Path, name: str, host: str, pid: int, age_s: float = 0.0) -> Path:
    """Another job's claim on the map ``name`` (as semantic_diffusion_model.sampling.work_claims writes it)."""
    path = out_dir / "2CH_ED" / f".{name}.png.claim"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "started": "2024-01-01T00:00:00",
                                "token": "another-job"}))
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def first_maps(maps_dir: Path, count: int) -> list[str]:
    """The first ``count`` maps as the program orders them (by name over both splits: the ones
    that --num-samples takes)."""
    return sorted(p.stem for split in ("training", "validation")
                  for p in list_pngs(maps_dir / split))[:count]


@pytest.mark.slow
def test_stale_claims_of_dead_jobs_are_taken_over(tiny_checkpoint, maps_2ch, tmp_path):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # its pid is now dead
    a, b = first_maps(maps_2ch, 2)
    write_claim(tmp_path, a, socket.gethostname(), finished.pid)  # killed job on this host
    write_claim(tmp_path, b, "another-host", 1, age_s=2 * 3600)  # silent for 2 h > 30 min
    half_written = tmp_path / "2CH_ED" / "samples" / f".{a}.png.0123abcd.tmp"
    half_written.parent.mkdir(parents=True)
    half_written.write_bytes(b"")
    summary = sample(tiny_checkpoint, maps_2ch, tmp_path, *FAST, "--num-samples", "2")
    assert summary["generated"] == summary["done"] == 2 and summary["other_jobs"] == 0
    assert [p.name for p in (tmp_path / "2CH_ED").rglob(".*")] == []  # claims and temporaries


@pytest.mark.slow
def test_claims_of_live_jobs_are_respected(tiny_checkpoint, maps_2ch, tmp_path, capsys):
    a, b, c = first_maps(maps_2ch, 3)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        write_claim(tmp_path, a, "another-host", os.getpid())  # fresh: its job is working
        write_claim(tmp_path, b, socket.gethostname(), sleeper.pid)  # a live process here
        write_claim(tmp_path, c, "another-host", 1, age_s=10 * 60)  # quiet 10 min < 30 min
        summary = sample(tiny_checkpoint, maps_2ch, tmp_path, *FAST, "--num-samples", "4")
        assert summary["generated"] == summary["done"] == 1 and summary["other_jobs"] == 3
        assert "3 maps being generated by other jobs" in capsys.readouterr().err  # and exit 0
        assert names(tmp_path / "2CH_ED" / "samples") == [f"{first_maps(maps_2ch, 4)[3]}.png"]
        # a shorter --claim-timeout-minutes ends the quiet claim; then a killed process's claim
        summary = sample(tiny_checkpoint, maps_2ch, tmp_path, *FAST, "--num-samples", "4",
                         "--claim-timeout-minutes", "5")
        assert summary["generated"] == 1 and summary["other_jobs"] == 2
        sleeper.kill()
        sleeper.wait()
        summary = sample(tiny_checkpoint, maps_2ch, tmp_path, *FAST, "--num-samples", "4")
        assert summary["generated"] == 1 and summary["done"] == 3 and summary["other_jobs"] == 1
        assert not (tmp_path / "2CH_ED" / "samples" / f"{a}.png").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_claims_are_refreshed_while_held_and_released_after(tmp_path):
    from semantic_diffusion_model.sampling.work_claims import Claims

    claims = Claims(timeout_s=2)  # a heartbeat every 0.5 s
    path = tmp_path / ".map.png.claim"
    with claims.heartbeat():
        assert claims.claim(path) and not claims.claim(path)
        assert json.loads(path.read_text())["pid"] == os.getpid()
        os.utime(path, (time.time() - 1.8, time.time() - 1.8))
        time.sleep(1.0)
        assert time.time() - path.stat().st_mtime < 1.0 and not claims.is_stale(path)
    assert not path.exists()


def test_guidance_doubles_the_batch_and_changes_the_image(reference, tiny_checkpoint, maps_2ch, tmp_path):
    summary = sample(tiny_checkpoint, maps_2ch, tmp_path, *FAST, "--guidance-scale", "3",
                     "--num-samples", "2")
    assert summary["guidance_scale"] == 3.0 and summary["network_images_per_image"] == 8
    assert summary["run"]["network_images"] == 2 * 4 * 2
    name = names(tmp_path / "2CH_ED" / "samples")[0]
    assert not np.array_equal(read_png(tmp_path / "2CH_ED" / "samples" / name),
                              read_png(reference / "2CH_ED" / "samples" / name))


def test_guidance_is_refused_for_a_model_without_label_dropout(tiny_checkpoint, maps_2ch, tmp_path, capsys):
    state = dict(load_checkpoint(str(tiny_checkpoint)))
    state["label_dropout"] = 0.0
    checkpoint = tmp_path / "no_dropout.pt"
    save_checkpoint(str(checkpoint), state)
    summary = sample(checkpoint, maps_2ch, tmp_path / "out", *FAST, "--guidance-scale", "3",
                     "--num-samples", "1")
    assert summary["guidance_scale"] == 1.0 and summary["network_images_per_image"] == 4
    assert "never learned the null map" in capsys.readouterr().err


def test_step_2_root_with_views_and_plain_folders(tiny_checkpoint, small_labels, tmp_path, capsys):
    summary = sample(tiny_checkpoint, small_labels, tmp_path / "root", *FAST, "--views", "2CH_ES",
                     "4CH_ED", "--splits", "validation", view="4CH_ED")
    assert summary["run"]["views"] == ["2CH_ES", "4CH_ED"] and summary["run"]["maps"] == 8
    assert summary["count"] == 4
    # a 2CH model on 2CH_ES maps is the paper's use; on 4CH maps it warns
    assert "trained on 2CH_ED but is sampling maps of 4CH_ED\n" in capsys.readouterr().err
    assert len(names(tmp_path / "root" / "4CH_ED" / "samples")) == 4
    # one view's folder (LABELS/2CH_ES_augmented): its sector_annotations/<split> maps
    summary = sample(tiny_checkpoint, small_labels / "2CH_ES_augmented", tmp_path / "view", *FAST,
                     "--splits", "validation", view="2CH_ES")
    assert summary["run"]["views"] == ["2CH_ES"] and summary["count"] == 4
    # a plain folder of maps with names that tell no view: outputs straight under --out-dir,
    # the first panel grey (no real image known)
    plain = tmp_path / "plain"
    plain.mkdir()
    write_png(plain / "my_map.png", read_png(next(iter(list_pngs(small_labels / "4CH_ES" / "sector_annotations" / "testing")))))
    summary = sample(tiny_checkpoint, plain, tmp_path / "plain_out", *FAST, view="")
    assert summary["count"] == 1 and (tmp_path / "plain_out" / "samples" / "my_map.png").is_file()
    combined = read_png(tmp_path / "plain_out" / "combined" / "my_map.png", color=True)
    assert (combined[:, :SIZE] == 128).all()


# --- bad input: one line, exit status 2, nothing written ----------------------------------------

def run_failing(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        sample_main(list(map(str, argv)))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.split("\r")[-1].strip()  # after any erased progress bar
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_bad_maps_are_refused_before_anything_is_written(tiny_checkpoint, maps_2ch, tmp_path, capsys):
    out = tmp_path / "out"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no label map PNGs" in run_failing(capsys, "--checkpoint", tiny_checkpoint, "--maps-dir", empty, "--out-dir", out)
    for bad_name, array, message in [
            ("values", np.full((SIZE, SIZE), 5, np.uint8), "label values [5] outside 0..4"),
            ("shape", np.zeros((SIZE, SIZE + 8), np.uint8), "expected a square map")]:
        folder = tmp_path / bad_name
        folder.mkdir()
        for p in list_pngs(maps_2ch / "training")[:3]:
            write_png(folder / p.name, read_png(p))
        write_png(folder / "zz_bad.png", array)
        err = run_failing(capsys, "--checkpoint", tiny_checkpoint, "--maps-dir", folder, "--out-dir", out)
        assert "zz_bad.png" in err and message in err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not a png")
    assert "a.png" in run_failing(capsys, "--checkpoint", tiny_checkpoint, "--maps-dir", tmp_path / "broken", "--out-dir", out)
    assert not out.exists()


def test_bad_checkpoints_are_refused(maps_2ch, tmp_path, capsys):
    out = tmp_path / "out"
    err = run_failing(capsys, "--checkpoint", tmp_path / "missing.pt", "--maps-dir", maps_2ch, "--out-dir", out)
    assert "missing.pt" in err and "not found" in err
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    err = run_failing(capsys, "--checkpoint", tmp_path / "other.pt", "--maps-dir", maps_2ch, "--out-dir", out)
    assert "other.pt" in err and "not a semantic diffusion model checkpoint" in err
    (tmp_path / "text.pt").write_text("hello")
    assert "text.pt" in run_failing(capsys, "--checkpoint", tmp_path / "text.pt", "--maps-dir", maps_2ch, "--out-dir", out)
    assert not out.exists()


def test_unwritable_out_dir_and_bad_options(tiny_checkpoint, maps_2ch, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    err = run_failing(capsys, "--checkpoint", tiny_checkpoint, "--maps-dir", maps_2ch, "--out-dir", blocker / "out")
    assert "not writable" in err
    out = tmp_path / "out"
    assert "--steps" in run_failing(capsys, "--checkpoint", tiny_checkpoint, "--maps-dir", maps_2ch,
                                    "--out-dir", out, "--steps", "5000")
    assert "--batch-size" in run_failing(capsys, "--checkpoint", tiny_checkpoint, "--maps-dir", maps_2ch,
                                         "--out-dir", out, "--batch-size", "0")
    assert not out.exists()


def test_each_view_folder_keeps_its_own_checkpoint(tiny_checkpoint, small_labels, tmp_path, capsys):
    # the pipeline samples 2CH and 4CH views with their own models into one --out-dir
    other = tmp_path / "other_model.pt"
    other.write_bytes(tiny_checkpoint.read_bytes())
    out = tmp_path / "out"
    sample(tiny_checkpoint, small_labels, out, *FAST, "--views", "2CH_ED", "--num-samples", "1")
    summary = sample(other, small_labels, out, *FAST, "--views", "4CH_ED", "--num-samples", "1",
                     view="4CH_ED")
    assert summary["checkpoint"] == str(other) and summary["generated"] == 1
    err = run_failing(capsys, "--checkpoint", other, "--maps-dir", small_labels, "--out-dir", out,
                      *FAST, "--views", "2CH_ED", "--num-samples", "2")
    assert "2CH_ED: holds samples made with other settings (checkpoint" in err
    assert len(list_pngs(out / "2CH_ED" / "samples")) == 1


def test_resuming_with_other_settings_is_refused(reference, tiny_checkpoint, maps_2ch, capsys):
    before = sorted(os.listdir(reference / "2CH_ED" / "samples"))
    err = run_failing(capsys, "--checkpoint", tiny_checkpoint, "--maps-dir", maps_2ch, "--out-dir",
                      reference, "--sampler", "ddim", "--steps", "4")
    assert "other settings" in err and "sampler 'ddpm' -> 'ddim'" in err
    assert sorted(os.listdir(reference / "2CH_ED" / "samples")) == before
