"""The pipeline's stages in order, each as its stage program's command line: the data (embedded
CAMUS, extraction, label maps), the Gamma-VAE of --latent, each chamber's diffusion model and its
samples, the few-real generators, the segmentation data sets, networks and tests, the evaluation."""
from __future__ import annotations

from pathlib import Path

from data_preparation.camus_reader import open_camus
from echo_from_noise.cli import option_arguments
from echo_from_noise.contract import chosen_patients
from echo_segmentation.run_folder import BEST_FILE
from semantic_diffusion_model.training.checkpoint import checkpoint_name

from .config import (DIFFUSION_TRAINING, EVALUATION, FORMULATION, LATENT_CHANNELS, SAMPLER,
                     SAMPLING, SEGMENTATION_TRAINING, PipelineConfig)
from .folders import Folders
from .launch import PYTHON, launcher_command
from .rows import SegmentationRow, segmentation_rows
from .stage_runner import StageRunner


def every_stage(stages: StageRunner, c: PipelineConfig, folders: Folders) -> list[SegmentationRow]:
    """Every stage in order (run, skipped or collected by ``stages``) -> the segmentation data sets."""
    data_stages(stages, c, folders)
    if c.latent:
        autoencoder_stage(stages, c, folders)
    for chamber in chambers(c):
        diffusion_stages(stages, c, folders, chamber)
    if c.few_real_generator:
        for fraction in c.real_fractions or ():
            few_real_stages(stages, c, folders, fraction)
    datasets = segmentation_datasets(c)
    segmentation_stages(stages, c, folders, datasets)
    evaluation_stage(stages, c, folders)
    return datasets


def data_stages(stages: StageRunner, c: PipelineConfig, folders: Folders) -> None:
    """The embedded CAMUS-format data (without --camus-dir), extraction (1) and label maps (2)."""
    if not c.camus_dir:
        stages.run("embedded_data", PYTHON + [
            "embedded_camus.generate", "--out-dir", str(folders.camus),
            "--num-patients", str(c.num_patients), "--size", str(c.data_size), "--seed", str(c.seed)], kind="cpu")
    stages.run("extract", PYTHON + [
        "data_preparation.extract_camus", "--camus-dir", str(folders.camus),
        "--out-dir", str(folders.extract), "--size", str(c.image_size),
        *option_arguments("views", c.views), *patients_option(c, folders.camus)], kind="cpu")
    stages.run("labels", PYTHON + [
        "data_preparation.prepare_labels", "--extract-dir", str(folders.extract),
        "--out-dir", str(folders.labels), "--num-augment", str(c.num_augment),
        "--seed", str(c.seed), *option_arguments("views", c.views)], kind="cpu")


def patients_option(c: PipelineConfig, camus: Path) -> list[str]:
    """``--patients`` of the extraction with --train-patients (else nothing: every patient)."""
    if not c.train_patients:
        return []
    if not c.camus_dir and not camus.exists():  # embedded data not generated yet (a dry run)
        return ["--patients", f"<all test, the first {c.train_patients} training and "
                f"{max(1, c.train_patients // 4)} validation patients of {camus}>"]
    return option_arguments("patients", select_patients(camus, c.train_patients))


def select_patients(camus_dir: Path, limit: int) -> list[str]:
    """Patient numbers: all test patients, the first ``limit`` training and limit/4 validation ones."""
    split_of = open_camus(camus_dir).split_of
    keep = {"training": limit, "validation": max(1, limit // 4), "testing": len(split_of)}
    chosen = []
    for split, count in keep.items():
        chosen += sorted(p for p, s in split_of.items() if s == split)[:count]
    return [str(int(p.removeprefix("patient"))) for p in sorted(chosen)]


def autoencoder_stage(stages: StageRunner, c: PipelineConfig, folders: Folders) -> None:
    """The Gamma-VAE of --latent, trained on the real training frames of every view."""
    stages.run("autoencoder", launcher_command(c) + [
        "semantic_diffusion_model.train_autoencoder", "--data-dir", str(folders.labels),
        "--out-dir", str(folders.autoencoder), *option_arguments("views", c.views),
        "--image-size", str(c.image_size), *option_arguments("channels", LATENT_CHANNELS[c.latent]),
        *(["--epochs", str(c.vae_epochs)] if c.vae_epochs else []), "--seed", str(c.seed)],
        kind="gpus")


def chambers(c: PipelineConfig) -> list[str]:
    return sorted({view.split("_")[0] for view in c.views})


def few_real_stages(stages: StageRunner, c: PipelineConfig, folders: Folders, fraction: float) -> None:
    """--few-real-generator: the few-real rows' own generator, trained on the chosen patients alone
    (their extraction and maps, then a diffusion model per chamber and its samples)."""
    few = folders.few_real(fraction)
    stages.run(f"extract_{few.tag}", PYTHON + [
        "data_preparation.extract_camus", "--camus-dir", str(folders.camus),
        "--out-dir", str(few.extract), "--size", str(c.image_size),
        *option_arguments("views", c.views), *few_real_patients_option(c, folders.camus, fraction)],
        kind="cpu")
    stages.run(f"labels_{few.tag}", PYTHON + [
        "data_preparation.prepare_labels", "--extract-dir", str(few.extract),
        "--out-dir", str(few.labels), "--num-augment", str(c.num_augment),
        "--seed", str(c.seed), *option_arguments("views", c.views)], kind="cpu")
    for chamber in chambers(c):
        diffusion_stages(stages, c, few, chamber)


def few_real_patients_option(c: PipelineConfig, camus: Path, fraction: float) -> list[str]:
    """``--patients`` of a few-real extraction: the patients prepare_segmentation_data keeps for
    ``fraction`` (chosen among the extracted training and validation patients), and every test one."""
    if not c.camus_dir and not camus.exists():  # embedded data not generated yet (a dry run)
        return ["--patients", f"<{fraction:g} of the training and validation patients of {camus}>"]
    split_of = open_camus(camus).split_of
    extracted = ([f"patient{int(n):04d}" for n in select_patients(camus, c.train_patients)]
                 if c.train_patients else sorted(split_of))
    chosen = [p for p in extracted if split_of[p] == "testing"]
    for split in ("training", "validation"):
        chosen += chosen_patients([p for p in extracted if split_of[p] == split], fraction, c.seed)
    return option_arguments("patients", [str(int(p.removeprefix("patient"))) for p in sorted(chosen)])


def diffusion_stages(stages: StageRunner, c: PipelineConfig, folders: "Folders", chamber: str) -> None:
    """One chamber's diffusion model: training, then sampling its views' augmented maps (3)."""
    sdm, steps = folders.sdm / chamber, str(c.sdm_steps)
    stages.run(f"sdm_train_{chamber}{folders.suffix}", launcher_command(c) + [
        DIFFUSION_TRAINING.program, "--data-dir", str(folders.labels), "--out-dir", str(sdm),
        *option_arguments("views", [f"{chamber}_{phase}" for phase in c.sdm_train_phases]),
        "--image-size", str(c.image_size), "--max-steps", steps, "--lr-anneal-steps", steps,
        "--save-interval", str(max(1, c.sdm_steps // 5)),
        "--log-interval", str(max(1, c.sdm_steps // 50)), "--seed", str(c.seed),
        *FORMULATION.arguments(c), *DIFFUSION_TRAINING.arguments(c),
        *(["--autoencoder", str(folders.autoencoder / "autoencoder.pt")] if c.latent else [])],
        kind="gpus")
    stages.run(f"sample_{chamber}{folders.suffix}", launcher_command(c) + [
        SAMPLER.program, "--checkpoint", str(sdm / checkpoint_name(c.sdm_steps)),
        "--maps-dir", str(folders.labels), "--out-dir", str(folders.samples),
        *option_arguments("views", [view for view in c.views if view.startswith(chamber)]),
        *SAMPLER.arguments(c), *SAMPLING.arguments(c), "--seed", str(c.seed)], kind="gpus")


def segmentation_datasets(c: PipelineConfig) -> list[SegmentationRow]:
    """The segmentation data sets (rows.py): per view (optional), all synthetic, all real,
    real + synthetic and the few-real rows (optional)."""
    return segmentation_rows(c.views, c.seg_per_view, bool(c.real_plus_synthetic),
                             tuple(c.real_fractions or ()))


def samples_of(row: SegmentationRow, c: PipelineConfig, folders: Folders) -> Path:
    """The synthetic images of a row: the few-real generator's (--few-real-generator) or the main ones."""
    if row.fraction < 1 and c.few_real_generator:
        return folders.few_real(row.fraction).samples
    return folders.samples


def segmentation_stages(stages: StageRunner, c: PipelineConfig, folders: Folders,
                        datasets: list[SegmentationRow]) -> None:
    """Every segmentation data set (4), then a network trained on each and tested on real frames (5)."""
    for row in datasets:
        stages.run(f"segmentation_data_{row.name}", PYTHON + [
            "data_preparation.prepare_segmentation_data", "--source", row.source,
            "--extract-dir", str(folders.extract), "--out-dir", str(folders.seg_data),
            "--dataset-name", row.name, *option_arguments("views", row.views),
            *(["--patient-fraction", str(row.fraction), "--seed", str(c.seed)]
              if row.fraction != 1 else []),
            *(["--samples-dir", str(samples_of(row, c, folders))] if "synthetic" in row.source else [])],
            kind="cpu")
    for row in datasets:
        name, views = row.name, row.views
        run_dir = folders.work / "segmentation" / name
        stages.run(f"segmentation_train_{name}", PYTHON + [
            SEGMENTATION_TRAINING.program, "--data-dir", str(folders.seg_data / name),
            "--out-dir", str(run_dir), *SEGMENTATION_TRAINING.arguments(c),
            "--seed", str(c.seed), "--resume"])  # --resume: continue last.pt, or start afresh
        stages.run(f"segmentation_test_{name}", PYTHON + [
            "echo_segmentation.test", "--checkpoint", str(run_dir / BEST_FILE),
            "--data-dir", str(folders.extract), *option_arguments("views", views),
            "--out-dir", str(folders.results / name), "--seed", str(c.seed)])


def evaluation_stage(stages: StageRunner, c: PipelineConfig, folders: Folders) -> None:
    """The synthetic set judged against the real frames, with the real-trained segmenter."""
    stages.run("evaluate_synthetic", PYTHON + [
        EVALUATION.program, "--samples-dir", str(folders.samples),
        "--extract-dir", str(folders.extract), "--out-dir", str(folders.evaluation),
        *option_arguments("views", c.views),
        "--segmenter", str(folders.work / "segmentation" / "real_all_views" / BEST_FILE),
        *EVALUATION.arguments(c), "--seed", str(c.seed)])

