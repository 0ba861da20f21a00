"""The NFE study's configuration: one dataclass, from which its command-line options derive."""
from __future__ import annotations

from dataclasses import dataclass, field

from echo_from_noise.contract import VIEWS
from echo_segmentation.config import PRESETS as SEG_PRESETS
from semantic_diffusion_model.samplers.registry import SAMPLER_NAMES


@dataclass
class StudyConfig:
    checkpoints: tuple[str, ...] = field(default=(), metadata={"help": "diffusion checkpoints (semantic_diffusion_model.train), each sampling every view of --views; a run is named after the checkpoint's folder", "required": True})
    labels_dir: str = field(default="", metadata={"help": "step-2 folder (prepare_labels) whose augmented maps are sampled", "required": True})
    extract_dir: str = field(default="", metadata={"help": "step-1 folder (extract_camus): the real test split (and training frames of --real-baseline)", "required": True})
    out_dir: str = field(default="", metadata={"help": "folder of every output (see above)", "required": True})
    nfe: tuple[int, ...] = field(default=(5, 10, 20, 35, 50, 100), metadata={"help": "NFE budgets per image"})
    samplers: tuple[str, ...] = field(default=("ddpm", "heun"), metadata={"help": f"samplers to try ({', '.join(SAMPLER_NAMES)}): each checkpoint uses those that fit its formulation; FORMULATION:SAMPLER (e.g. edm:heun) restricts a sampler to checkpoints of that formulation; ,option=value... adds options of the sampling program (e.g. edm:heun,s_churn=40 or heun,heun_euler_below=0,heun_max_ratio=0), named in the run as heun-s_churn40"})
    views: tuple[str, ...] = field(default=VIEWS, metadata={"help": "views sampled, trained on (together) and tested", "choices": VIEWS})
    real_baseline: bool = field(default=True, metadata={"help": "add a row trained on the real training frames"})
    seg_preset: str = field(default="default", metadata={"help": "segmentation harness (echo_segmentation.train --preset)", "choices": tuple(SEG_PRESETS)})
    seg_epochs: int = field(default=40, metadata={"help": "segmentation training epochs, the same for every row"})
    seg_image_size: int = field(default=0, metadata={"help": "segmentation image size (0 = the harness's)"})
    sample_batch_size: int = field(default=32, metadata={"help": "maps sampled together"})
    seed: int = field(default=0, metadata={"help": "seed of sampling, training and testing"})
    dry_run: bool = field(default=False, metadata={"help": "print each stage's command and stop"})
    report_only: bool = field(default=False, metadata={"help": "run nothing: write the table and figure of the runs finished so far (e.g. while the study still runs)"})
