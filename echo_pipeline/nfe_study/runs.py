"""The study's runs: each checkpoint (its formulation and training cost) with each sampler that
fits it at each NFE budget, cheapest first, and the stages of one run (sampling, data set,
segmentation training and testing)."""
from __future__ import annotations

from pathlib import Path

from echo_from_noise.cli import option_arguments
from echo_from_noise.errors import UserError
from echo_from_noise.files import read_json
from echo_segmentation.run_folder import BEST_FILE
from semantic_diffusion_model.autoencoder.checkpoint import load_autoencoder
from semantic_diffusion_model.config import ModelConfig
from semantic_diffusion_model.flops import decoder_gflop, forward_gflop, training_gflop_per_image
from semantic_diffusion_model.formulations import formulation_of
from semantic_diffusion_model.samplers import Process, Sampler, SamplerConfig
from semantic_diffusion_model.samplers.registry import SAMPLERS
from semantic_diffusion_model.training.checkpoint import configs_of, load_checkpoint

from ..launch import PYTHON
from ..stage_runner import StageRunner
from .config import StudyConfig
from .sampler_spec import SamplerSpec


def steps_for(sampler: str, budget: int, process: Process | None = None,
              options: SamplerConfig | None = None) -> int:
    """The most steps whose NFE does not exceed ``budget`` (at least 1); with a checkpoint's
    ``process``, the NFE the sampler really spends there (heun's Euler steps count once)."""
    def nfe(steps: int) -> int:
        if process is None:
            return SAMPLERS[sampler].nfe(steps)
        return Sampler(sampler, process, steps, options or SamplerConfig()).nfe

    steps = 1
    while nfe(steps + 1) <= budget:
        steps += 1
    return steps


def checkpoint_facts(paths: tuple[str, ...]) -> list[dict]:
    """What the study needs of each checkpoint, read before anything runs: path, run label,
    formulation, process, training step and its cost (training_cost)."""
    facts, labels = [], set()
    for path in paths:
        folder = Path(path).resolve().parent
        state = load_checkpoint(path)
        model, diffusion = configs_of(state, path)
        # the run's folder and training step name it, whatever else a command lists
        label = f"{folder.name or 'model'}_s{int(state['step'])}"
        while label in labels:
            label += "_"
        labels.add(label)
        facts.append({"checkpoint": path, "label": label, "formulation": diffusion.formulation,
                      "process": formulation_of(diffusion, model.learn_sigma).process(),
                      **training_cost(state, model, folder)})
    return facts


def training_cost(state: dict, model: ModelConfig, folder: Path) -> dict:
    """Training steps, images seen, diffusion training GFLOP (forward and backward of every
    image), and the GFLOP of one network evaluation and of a decode (latent models)."""
    world = read_json(folder / "config.json").get("world_size", 1) if (folder / "config.json").is_file() else 1
    images = int(state["step"]) * int(state["config"]["batch_size"]) * int(world)
    recorded = state.get("autoencoder") or {}
    decode = 0.0
    if recorded.get("path") and Path(recorded["path"]).is_file():
        decode = decoder_gflop(load_autoencoder(recorded["path"]))
    return {"train_steps": int(state["step"]), "train_images": images,
            "train_gflop": training_gflop_per_image(model) * images,
            "gflop_per_nfe": forward_gflop(model), "decode_gflop": decode}


def runs_of(c: StudyConfig) -> list[dict]:
    """Every run: the real baseline first, then the (checkpoint, sampler) pairs budget by
    budget, cheapest first, so that an interrupted study has every pair at its low budgets."""
    specs = [SamplerSpec.parse(text) for text in c.samplers]
    pairs = []
    for fact in checkpoint_facts(c.checkpoints):
        formulation = fact["formulation"]
        fitting = [spec for spec in specs if spec.formulation in ("", formulation)
                   and spec.sampler in fact["process"].samplers]
        if not fitting:
            raise UserError(f"{fact['checkpoint']}: none of --samplers {' '.join(c.samplers)} fits "
                            f"its formulation {formulation}")
        pairs += [(fact, spec) for spec in fitting]
    runs = [{"name": "real", "checkpoint": "", "label": "real", "formulation": "real",
             "sampler": "", "sampler_options": [], "steps": 0, "nfe": 0}] if c.real_baseline else []
    for budget in sorted(set(c.nfe)):
        for fact, spec in pairs:
            options = spec.config()
            steps = steps_for(spec.sampler, budget, fact["process"], options)
            nfe = Sampler(spec.sampler, fact["process"], steps, options).nfe
            name = f"{fact['label']}_{spec.tag}_nfe{nfe}"
            if all(r["name"] != name for r in runs):
                cost = {k: v for k, v in fact.items() if k not in ("checkpoint", "label", "formulation", "process")}
                runs.append({"name": name, "checkpoint": fact["checkpoint"], "label": fact["label"],
                             "formulation": fact["formulation"], "sampler": spec.tag,
                             "sampler_options": [spec.sampler, *spec.arguments()], "steps": steps,
                             "nfe": nfe, **cost})
    return runs


def run_stages(stages: StageRunner, c: StudyConfig, run: dict, out: Path) -> None:
    """Sampling, data set, segmentation training and testing of one run."""
    name, views = run["name"], option_arguments("views", c.views)
    if run["checkpoint"]:
        stages.run(f"sample_{name}", PYTHON + [
            "semantic_diffusion_model.sample", "--checkpoint", run["checkpoint"],
            "--maps-dir", c.labels_dir, "--out-dir", str(out / "samples" / name), *views,
            "--sampler", *run["sampler_options"], "--steps", str(run["steps"]),
            "--batch-size", str(c.sample_batch_size), "--seed", str(c.seed)])
        source = ["--source", "synthetic", "--samples-dir", str(out / "samples" / name)]
    else:
        source = ["--source", "real"]
    stages.run(f"segmentation_data_{name}", PYTHON + [
        "data_preparation.prepare_segmentation_data", *source, "--extract-dir", c.extract_dir,
        "--out-dir", str(out / "seg_data"), "--dataset-name", name, *views])
    seg_dir = out / "segmentation" / name
    stages.run(f"segmentation_train_{name}", PYTHON + [
        "echo_segmentation.train", "--data-dir", str(out / "seg_data" / name),
        "--out-dir", str(seg_dir), "--preset", c.seg_preset, "--epochs", str(c.seg_epochs),
        *(["--image-size", str(c.seg_image_size)] if c.seg_image_size else []),
        "--seed", str(c.seed), "--resume"])
    stages.run(f"segmentation_test_{name}", PYTHON + [
        "echo_segmentation.test", "--checkpoint", str(seg_dir / BEST_FILE),
        "--data-dir", c.extract_dir, *views, "--out-dir", str(out / "results" / name),
        "--seed", str(c.seed)])
