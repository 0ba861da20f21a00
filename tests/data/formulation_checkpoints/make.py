"""Writes the checkpoints and images that tests/test_formulation_registry.py compares against: one
tiny model per formulation (16 px, 2 training steps on the embedded CAMUS-format data), two label
maps, and the images that the sampling program made from them, so that later code can be checked to
load and sample these checkpoints exactly as the code that wrote them did.

    python tests/data/formulation_checkpoints/make.py      # (re)writes this folder
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

# formulation -> the samplers whose images are recorded (name, steps)
CASES = {"ddpm": [("ddpm", 4), ("ddim", 3), ("dpm-solver++", 3), ("heun", 3)],
         "edm": [("heun", 3), ("euler", 4), ("dpm-solver++", 3)],
         "vp": [("heun", 3)], "ve": [("euler", 3)]}
NETWORK = ["--image-size", "16", "--model-channels", "8", "--channel-mult", "1", "2",
           "--num-res-blocks", "1", "--attention-resolutions", "8", "--num-head-channels", "8",
           "--norm-groups", "8", "--spade-hidden", "4"]


def main() -> None:
    import torch
    from PIL import Image

    from data_preparation.extract_camus import main as extract
    from data_preparation.prepare_labels import main as labels
    from embedded_camus.generate import make_synthetic_camus
    from semantic_diffusion_model.sample import main as sample
    from semantic_diffusion_model.train import main as train

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        camus = make_synthetic_camus(tmp / "camus", num_patients=6, seed=0, size=64)
        extract(["--camus-dir", str(camus), "--out-dir", str(tmp / "extract"), "--size", "16"])
        labels(["--extract-dir", str(tmp / "extract"), "--out-dir", str(tmp / "labels"),
                "--num-augment", "1", "--seed", "0"])
        maps = HERE / "maps"
        shutil.rmtree(maps, ignore_errors=True)
        maps.mkdir()
        for path in sorted((tmp / "labels" / "2CH_ED" / "sector_annotations" / "training").glob("*.png"))[:2]:
            shutil.copy(path, maps / path.name)
        images = {}
        for formulation, samplers in CASES.items():
            out = tmp / formulation
            train(["--data-dir", str(tmp / "labels"), "--out-dir", str(out), "--formulation",
                   formulation, *NETWORK, "--batch-size", "2", "--max-steps", "2", "--lr", "1e-2",
                   "--ema-rate", "0", "--no-tensorboard", "--num-workers", "1"])
            state = torch.load(out / "checkpoint_0000002.pt", weights_only=False)
            # only what sampling reads (--ema-rate 0: the EMA weights are the weights), to keep
            # the repository small
            state["model"], state["optimizer"] = {}, {}
            torch.save(state, HERE / f"{formulation}.pt")
            for sampler, steps in samplers:
                folder = tmp / f"samples_{formulation}_{sampler}"
                sample(["--checkpoint", str(HERE / f"{formulation}.pt"), "--maps-dir", str(maps),
                        "--out-dir", str(folder), "--sampler", sampler, "--steps", str(steps)])
                for png in sorted(folder.rglob("samples/*.png")):
                    images[f"{formulation}/{sampler}/{steps}/{png.stem}"] = np.asarray(Image.open(png))
        np.savez_compressed(HERE / "images.npz", **images)


if __name__ == "__main__":
    main()
