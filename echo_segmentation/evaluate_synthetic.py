"""Judge a synthetic data set: does it follow its label maps, look real, copy its training images,
vary with the seed, and teach a view classifier? (docs/evaluation.md)

Reads a step-3 samples root (SAMPLES/<VIEW>/samples/<name>.png with labels/<name>.png, the map
each image was generated from) and a step-1 extraction root (EXTRACT: the real training frames a
generator may have copied, and the real test frames), and writes to --out-dir:

    evaluation.json   every number below          report.md   the same as tables
    synthetic_images.csv   per synthetic image: its map's adherence Dice, its nearest training
                      frames (by features and by SSIM), their distances, memorised or not
    figures/          adherence_worst.png, memorisation_closest.png, nearest_features.png,
                      nearest_ssim.png, views_confusion_<synthetic|real>.png
    networks/         the networks this program trained (ordinary checkpoints)
    config.json       the exact configuration

1. Mask adherence: a segmenter trained on real images (--segmenter, else trained here on the real
   training frames) segments every synthetic image; Dice between its prediction and the map the
   image was generated from, per structure and view. Reference: the same segmenter on the real test
   frames against their expert annotation.
2. Realism: kernel distance (KID, with its 95 % interval: the headline) and Frechet distance (FD)
   between the features of synthetic and real test images, in the feature space of that
   real-trained segmenter (its bottleneck): a domain-specific distance, not Inception FID. Every
   comparison at one number of images N, over several random draws (mean and spread). Floor: one
   half of the real test patients (never seen by the feature network) against the other half.
3. Memorisation: each synthetic image's nearest real training image of its view, by features and
   by SSIM; the fraction of synthetic images closer to a training image than any real test image
   is to its own nearest training image. The control: images of training maps against images of
   held-out maps, each to the frame its map was drawn from, and a stated decision rule
   (evaluation.memorisation_control).
4. Diversity: mean pairwise distance between the images of one map sampled with different seeds
   (semantic_diffusion_model.sample --samples-per-map K), beside the distance between images of
   different maps and between different real images.
5. View classification (the follow-up paper's second task): a classifier trained on the synthetic
   images and one trained on the real training frames, both tested on the real test frames.

Networks train by epochs, never time, and resume: killed, the same command continues.

    python -m echo_segmentation.evaluate_synthetic --samples-dir SAMPLES --extract-dir EXTRACT \\
        --out-dir evaluation --segmenter runs/real/best.pt
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path

from echo_from_noise.cli import (prefixed_options, prefixed_values, program, require_at_least,
                                 required, save_config)
from echo_from_noise.contract import DATASET_CONFIG_FILE, VIEWS
from echo_from_noise.device import pick_device
from echo_from_noise.errors import UserError
from echo_from_noise.files import atomic_path, check_writable, read_json

from .config import TrainConfig as SegmentationConfig
from .config import resolve_preset
from .data import list_pairs
from .evaluation.features import FeatureNetwork
from .evaluation.floor import check_unseen, learnt_patients
from .evaluation.inputs import read_real, read_synthetic
from .evaluation.measures import Evaluation, headline
from .evaluation.realism import largest_common_size
from .evaluation.report import render_report
from .evaluation.ssim import WINDOW
from .run_folder import BEST_FILE
from .segmentation_trainer import SegmentationTrainer
from .statistics import nan_to_none
from .view_classifier.config import ViewTrainConfig, check_batches, check_config
from .view_classifier.data import list_view_images
from .view_classifier.evaluation import evaluate_views
from .view_classifier.figures import confusion_figure
from .view_classifier.trainer import ViewClassifierTrainer

SEGMENTER_OPTIONS = ("preset", "image_size", "epochs")
VIEW_OPTIONS = ("classes", "network", "image_size", "batch_size", "epochs")


@dataclass
class EvaluateOwnConfig:
    samples_dir: str = required("the synthetic set: a step-3 samples root (<VIEW>/samples/ and "
                                "<VIEW>/labels/)")
    extract_dir: str = required("the real data: a step-1 extraction root (<VIEW>/images/<split>/), "
                                "whose training frames are the reference for memorisation and whose "
                                "testing frames are the real reference of every measure")
    out_dir: str = required("output folder")
    views: tuple[str, ...] = field(default=VIEWS, metadata={
        "help": "views to evaluate (those the samples root has)", "choices": VIEWS})
    segmenter: str = field(default="", metadata={
        "help": "a segmentation checkpoint trained on REAL images (best.pt of "
                "echo_segmentation.train): it segments the synthetic images and gives the feature "
                "space; default: train one on the real training frames of --extract-dir into "
                "OUT/networks/segmenter (options --seg-*)"})
    view_classification: bool = field(default=True, metadata={
        "help": "train and test the view classifiers (options --view-*); needs images of both "
                "chambers"})
    ssim_size: int = field(default=64, metadata={
        "help": "images are compared by SSIM at this size (pixels; at least the 11 px SSIM window)"})
    realism_images: int = field(default=0, metadata={
        "help": "images per set in every FD / KID comparison (0: the most every draw allows, the "
                "smallest of the synthetic set and the two halves of the real test patients)"})
    draws: int = field(default=10, metadata={
        "help": "random draws of the equal-size FD / KID comparisons (each splits the test "
                "patients anew and subsamples every set); the spread over them is reported"})
    figure_cases: int = field(default=8, metadata={
        "help": "cases shown in the worst-adherence and closest-pair figures"})
    bootstrap: int = field(default=1000, metadata={
        "help": "bootstrap resamples of patients for the 95 %% confidence intervals (KID's are "
                "split over the draws)"})
    seed: int = field(default=0, metadata={"help": "seed of every network and resampling"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda' or 'cuda:N'"})


EvaluateConfig = make_dataclass(
    "EvaluateConfig",
    [*prefixed_options(SegmentationConfig, "seg_", SEGMENTER_OPTIONS, "echo_segmentation.train"),
     *prefixed_options(ViewTrainConfig, "view_", VIEW_OPTIONS,
                       "echo_segmentation.train_view_classifier")],
    bases=(EvaluateOwnConfig,), namespace={"__module__": __name__})


def check_trained_on_real(segmenter: FeatureNetwork) -> None:
    """Refuse a segmenter whose training data set says it was made of synthetic images (its
    step-4 dataset_config.json): adherence and features must come from real images."""
    made = Path(segmenter.config.data_dir) / DATASET_CONFIG_FILE
    if made.is_file() and read_json(made).get("source") == "synthetic":
        raise UserError(f"{segmenter.checkpoint_path}: trained on synthetic images "
                        f"({segmenter.config.data_dir}); --segmenter needs a network trained on "
                        "real frames (e.g. the real_all_views data set)")


def realism_size(config, num_synthetic: int, testing) -> int:
    """The N of every FD / KID comparison (below 2 when the sets are too small: FD and KID are then
    left undefined), checked against --realism-images."""
    if len(set(testing.patients)) < 2:  # the floor splits the test patients in two
        return 0
    largest = largest_common_size(num_synthetic, testing.patients, config.draws, config.seed)
    if config.realism_images > largest:
        raise UserError(f"--realism-images {config.realism_images}: more than the {largest} images "
                        f"every draw has ({num_synthetic} synthetic, halves of the "
                        f"{len(testing)} test frames of {len(set(testing.patients))} patients)")
    return config.realism_images or largest


def segmenter_config(config, networks: Path) -> SegmentationConfig | None:
    """The training of the real segmenter when --segmenter is not given (checked), else None."""
    if config.segmenter:
        return None
    train_config = resolve_preset(SegmentationConfig(
        data_dir=config.extract_dir, out_dir=str(networks / "segmenter"), resume=True,
        seed=config.seed, device=config.device, **prefixed_values(config, "seg_", SEGMENTER_OPTIONS)))
    for split in ("training", "validation"):
        list_pairs(train_config.data_dir, split)
    return train_config


def view_configs(config, networks: Path, chambers: set[str]) -> dict[str, ViewTrainConfig] | str:
    """The two view classifiers' trainings (their data checked), or why there are none."""
    if not config.view_classification:
        return "--no-view-classification"
    if len(chambers) < 2:
        return f"the synthetic set has one chamber only ({' '.join(sorted(chambers))})"
    configs = {}
    for name, data_dir in (("synthetic", config.samples_dir), ("real", config.extract_dir)):
        configs[name] = ViewTrainConfig(data_dir=data_dir, out_dir=str(networks / f"views_{name}"),
                                        resume=True, seed=config.seed, device=config.device,
                                        **prefixed_values(config, "view_", VIEW_OPTIONS))
        check_config(configs[name])
        training = list_view_images(data_dir, "training", configs[name].classes)
        check_batches(configs[name], len(training))
        list_view_images(data_dir, "validation", configs[name].classes)
    list_view_images(config.extract_dir, "testing", configs["real"].classes)
    return configs


def view_classifiers(configs: dict[str, ViewTrainConfig] | str, config, figures: Path,
                     device) -> dict:
    """Train (or continue) the classifiers on synthetic and on real images, test both on the real
    test frames (accuracies and confusion matrices; the per-image rows are left out)."""
    if isinstance(configs, str):
        return {"skipped": configs}
    results = {}
    for name, view_config in configs.items():
        ViewClassifierTrainer(view_config).run()
        summary = evaluate_views(Path(view_config.out_dir) / BEST_FILE, config.extract_dir,
                                 "testing", device, config.bootstrap, config.seed)
        summary.pop("rows")
        confusion_figure(summary["confusion_matrix"], summary["classes"],
                         figures / f"views_confusion_{name}.png",
                         f"view classifier trained on {name} images, real test frames")
        results[name] = summary
    return results


def check_options(config) -> None:
    require_at_least(config, ssim_size=WINDOW, realism_images=0, draws=1, figure_cases=0,
                     bootstrap=0)


def run(config) -> None:
    check_options(config)
    device = pick_device(config.device)
    # every input is read and checked before anything is written
    synthetic = read_synthetic(config.samples_dir, config.views)
    views = sorted(set(synthetic.views))
    training, testing = (read_real(config.extract_dir, s, views) for s in ("training", "testing"))
    validation = read_real(config.extract_dir, "validation", views, optional=True)
    realism_images = realism_size(config, len(synthetic), testing)
    networks, figures = Path(config.out_dir) / "networks", Path(config.out_dir) / "figures"
    segmenter_training = segmenter_config(config, networks)
    if config.segmenter:
        given = FeatureNetwork.load(config.segmenter, device)
        check_trained_on_real(given)
        floor_check = check_unseen(testing.patients, learnt_patients(given.config.data_dir),
                                   config.segmenter)
    else:
        floor_check = check_unseen(testing.patients, learnt_patients(config.extract_dir),
                                   "the segmenter trained here")
    classifiers = view_configs(config, networks, {v.split("_")[0] for v in views})
    out = check_writable(config.out_dir)
    save_config(config, out / "config.json")
    figures.mkdir(exist_ok=True)

    if segmenter_training:
        SegmentationTrainer(segmenter_training).run()
    segmenter = FeatureNetwork.load(
        config.segmenter or Path(segmenter_training.out_dir) / BEST_FILE, device)
    measures = Evaluation(synthetic, training, validation, testing, segmenter, config, figures,
                           floor_check, realism_images)
    result = {
        "samples_dir": str(config.samples_dir), "extract_dir": str(config.extract_dir),
        "views": views, "segmenter": str(segmenter.checkpoint_path),
        "feature_layer": segmenter.layer_description,
        "counts": measures.counts(),
        "mask_adherence": measures.mask_adherence(),
        "realism": measures.realism(),
        "memorisation": measures.memorisation(),
        "diversity": measures.diversity(),
        "view_classification": view_classifiers(classifiers, config, figures, device),
    }
    measures.write_rows(out / "synthetic_images.csv")
    result = nan_to_none(result)  # undefined values (too few images) -> null, "n/a"
    with atomic_path(out / "evaluation.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(render_report(result, figures_dir="figures"))
    print(headline(result) + f"; report: {out / 'report.md'}")


CONFIG = EvaluateConfig  # (what the pipeline checks its options with)
main = program(CONFIG, run, __doc__)


if __name__ == "__main__":
    main()
