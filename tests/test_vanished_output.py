"""An output folder removed while a long job runs stops the job with one line saying so, instead of
a traceback or a folder recreated with only the later outputs."""
from __future__ import annotations

import shutil
from pathlib import Path

from semantic_diffusion_model.sample import main as sample_main
from semantic_diffusion_model.samplers import Sampler
from semantic_diffusion_model.train import main as train_main
from semantic_diffusion_model.training.trainer import Trainer

from .conftest import expect_user_error

OLD = Path(__file__).parent / "data" / "formulation_checkpoints"  # tiny checkpoints, 2 maps


def test_the_diffusion_trainer_stops_when_its_output_folder_vanishes(small_labels, tmp_path,
                                                                     monkeypatch, capsys):
    out = tmp_path / "run"
    step = Trainer.step

    def step_then_remove(self, i, log):
        finite = step(self, i, log)
        if i == 1:  # after the checkpoint of step 2 ... the folder goes
            shutil.rmtree(out)
        return finite
    monkeypatch.setattr(Trainer, "step", step_then_remove)
    expect_user_error(train_main, [
        "--data-dir", str(small_labels), "--out-dir", str(out), "--image-size", "32",
        "--model-channels", "16", "--channel-mult", "1", "2", "--num-res-blocks", "1",
        "--attention-resolutions", "16", "--num-head-channels", "8", "--norm-groups", "8",
        "--spade-hidden", "8", "--batch-size", "2", "--max-steps", "4", "--save-interval", "1",
        "--no-tensorboard", "--num-workers", "1"], capsys, str(out), "vanished while training")
    assert not out.exists()  # not recreated with the later checkpoints


def test_the_sampler_stops_when_its_output_folder_vanishes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "samples"
    call = Sampler.__call__

    def sample_then_remove(self, denoiser, noise, progress=False):
        images = call(self, denoiser, noise, progress)
        shutil.rmtree(out, ignore_errors=True)
        return images
    monkeypatch.setattr(Sampler, "__call__", sample_then_remove)
    expect_user_error(sample_main, ["--checkpoint", str(OLD / "edm.pt"), "--maps-dir", str(OLD / "maps"),
                                    "--out-dir", str(out), "--sampler", "euler", "--steps", "2",
                                    "--batch-size", "1"], capsys, "vanished while sampling")
    assert not out.exists()
