"""Downstream Dice versus sampling cost (NFE) and training cost: the follow-up paper's central
claim, measured.

For each checkpoint, each sampler that fits it (--samplers) and each NFE budget (--nfe), this
samples every augmented label map of --labels-dir, builds a synthetic segmentation data set
(step 4), trains the segmentation harness on it for exactly --seg-epochs epochs, and tests it on
the real test split of --extract-dir. All rows share the maps, the seeds and the training schedule,
so they differ only in the generator. Give several checkpoints of one run (e.g. steps 150 and 600
of a run with --lr-schedule constant) to put Dice on the generator's training-compute axis. A run
is named <folder>_s<step>_<sampler>_nfe<NFE> after its checkpoint. Outputs (OUT):

    nfe_study.csv      one row per run: checkpoint, formulation, sampler, steps, NFE, training
                       steps and GFLOP of the generator, GFLOP and seconds per image, the
                       percentage of saturated (0 or 255) pixels inside the sector, Dice (%)
                       LV endo / LV epi / LA / mean with 95 % patient-bootstrap CIs
    nfe_study.md       the same as a Markdown table, with the commands' settings
    nfe_study.png      Dice versus NFE (log axis), one line per checkpoint and sampler
    nfe_study_cost.png mean Dice versus sampling GFLOP per image and versus training GFLOP
    samples/<run>/  seg_data/<run>/  segmentation/<run>/  results/<run>/   each run's stages
    study_config.json  the configuration;  .stages/   finished stages (re-running resumes)

GFLOP are counted by torch.utils.flop_counter (semantic_diffusion_model.flops): training = forward
and backward of every image the checkpoint saw; per image = NFE network evaluations plus the
decode of a latent model. A budget is met by the most steps whose NFE, as the sampler spends it on
that checkpoint, does not exceed it (Heun: 2 steps - 1 at most, less its Euler steps); the table
shows the NFE actually spent. --real-baseline adds a row trained on the real training frames
(NFE 0). Example (docs/sampling.md has the full study):

    python scripts/study_nfe.py --checkpoints runs/ddpm/checkpoint_0000400.pt \\
        runs/edm/checkpoint_0000400.pt --samplers ddpm heun euler edm:heun,s_churn=40 \\
        --nfe 5 10 20 35 --labels-dir runs/study/2_labels --extract-dir runs/study/1_extract \\
        --out-dir runs/nfe
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python scripts/study_nfe.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from echo_from_noise.cli import option_arguments, parse_config, run_program, save_config
from echo_from_noise.contract import VIEWS
from echo_from_noise.errors import UserError
from echo_from_noise.files import atomic_path, check_writable, list_pngs, read_json, read_png, write_csv
from echo_segmentation.config import PRESETS as SEG_PRESETS
from semantic_diffusion_model.autoencoder.checkpoint import load_autoencoder
from semantic_diffusion_model.config import ModelConfig
from semantic_diffusion_model.formulations import FORMULATIONS, formulation_of
from semantic_diffusion_model.flops import decoder_gflop, forward_gflop, training_gflop_per_image
from semantic_diffusion_model.samplers import SAMPLER_OPTIONS, Process, Sampler, SamplerConfig
from semantic_diffusion_model.samplers.registry import SAMPLER_NAMES, SAMPLERS
from semantic_diffusion_model.training.checkpoint import configs_of, load_checkpoint
from scripts.pipeline_report import COLUMNS, dice_rows
from scripts.run_pipeline import PYTHON, StageRunner
from echo_segmentation.statistics import describe

HEADER = ("LV endo", "LV epi", "LA", "mean")


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


# option name -> its type (the samplers' own options and --clip-denoised)
SETTABLE = {f.name: f.type for f in dataclasses.fields(SamplerConfig)
            if f.name in (*SAMPLER_OPTIONS, "clip_denoised")}


@dataclass(frozen=True)
class SamplerSpec:
    """One entry of --samplers: [FORMULATION:]SAMPLER[,option=value...], e.g. edm:heun,s_churn=40
    (the options are the sampling program's, with underscores)."""
    formulation: str
    sampler: str
    options: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> "SamplerSpec":
        head, *settings = text.split(",")
        formulation, _, sampler = head.rpartition(":")
        if sampler not in SAMPLERS or formulation not in ("", *FORMULATIONS):
            raise UserError(f"--samplers {text}: expected [FORMULATION:]SAMPLER[,option=value...] "
                            f"with samplers {', '.join(SAMPLER_NAMES)} and formulations "
                            f"{', '.join(FORMULATIONS)}")
        options = []
        for setting in settings:
            key, _, value = setting.partition("=")
            if key not in SETTABLE or not value:
                raise UserError(f"--samplers {text}: {setting!r} is not option=value with an option "
                                f"of the sampling program ({', '.join(SETTABLE)})")
            options.append((key, value))
        return cls(formulation, sampler, tuple(options))

    @property
    def tag(self) -> str:
        """The sampler's name in run names: heun, heun-s_churn40, ..."""
        return self.sampler + "".join(f"-{k}{v}" for k, v in self.options)

    def config(self) -> SamplerConfig:
        return SamplerConfig(sampler=self.sampler, **{k: option_value(k, v) for k, v in self.options},
                             explicit=tuple(k for k, _ in self.options))

    def arguments(self) -> list[str]:
        """The options as arguments of semantic_diffusion_model.sample."""
        out = []
        for key, value in self.options:
            flag = key.replace("_", "-")
            if SETTABLE[key] is bool:
                out.append(f"--{flag}" if option_value(key, value) else f"--no-{flag}")
            else:
                out += [f"--{flag}", value]
        return out


def option_value(key: str, text: str):
    """The value of a sampler option given as text."""
    kind = SETTABLE[key]
    if kind is bool:
        return text.lower() in ("1", "true", "yes")
    try:
        return kind(text)
    except ValueError:
        raise UserError(f"--samplers: {key}={text} is not a {kind.__name__}") from None


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
        "echo_segmentation.test", "--checkpoint", str(seg_dir / "best.pt"),
        "--data-dir", c.extract_dir, *views, "--out-dir", str(out / "results" / name),
        "--seed", str(c.seed)])


def seconds_per_image(samples: Path, views: tuple[str, ...]) -> float | None:
    """Mean sampling seconds per image over the views (from each view's summary.json)."""
    values = []
    for view in views:
        path = samples / view / "summary.json"
        if path.is_file():
            value = read_json(path).get("seconds_per_image")
            if value:
                values.append(value)
    return sum(values) / len(values) if values else None


def saturated_percent(samples: Path, views: tuple[str, ...]) -> float | None:
    """Percentage of the pixels inside the scan sector (map != 0) that are 0 or 255 in the
    synthetic images: the few-step artefact of a solver (the real 64 px frames of the study: 1.0 %)."""
    saturated = inside = 0
    for view in views:
        for image_path in list_pngs(samples / view / "samples") if (samples / view / "samples").is_dir() else []:
            image = read_png(image_path)
            sector = read_png(samples / view / "labels" / image_path.name) != 0
            saturated += int(((image == 0) | (image == 255))[sector].sum())
            inside += int(sector.sum())
    return 100.0 * saturated / inside if inside else None


def result_row(run: dict, out: Path, views: tuple[str, ...]) -> dict:
    """The CSV row of a finished run."""
    stats = describe(dice_rows(out / "results" / run["name"] / "metrics.csv"), 1000, 0, COLUMNS)
    seconds = seconds_per_image(out / "samples" / run["name"], views) if run["checkpoint"] else None
    row = {k: run[k] for k in ("name", "label", "checkpoint", "formulation", "sampler", "steps", "nfe")}
    row["seconds_per_image"] = round(seconds, 4) if seconds else ""
    real = not run["checkpoint"]
    saturated = None if real else saturated_percent(out / "samples" / run["name"], views)
    row["saturated_percent"] = "" if saturated is None else round(saturated, 2)
    row["train_steps"] = "" if real else run["train_steps"]
    row["train_gflop"] = "" if real else round(run["train_gflop"], 1)
    row["gflop_per_image"] = "" if real else round(run["nfe"] * run["gflop_per_nfe"] + run["decode_gflop"], 2)
    for column, header in zip(COLUMNS, HEADER):
        key = header.replace(" ", "_").lower()
        s = stats[column]
        row |= {f"dice_{key}": round(s["mean"], 2), f"dice_{key}_ci_low": round(s["ci_low"], 2),
                f"dice_{key}_ci_high": round(s["ci_high"], 2)}
    return row


def write_markdown(rows: list[dict], c: StudyConfig, path: Path) -> None:
    lines = ["# Dice versus NFE", "",
             f"Segmentation harness `{c.seg_preset}`, {c.seg_epochs} epochs for every row, views "
             f"{' '.join(c.views)}, seed {c.seed}; Dice (%) on the real test split, mean "
             "[95 % patient-bootstrap CI].", "",
             "| run | formulation | sampler | train steps | train GFLOP | NFE | GFLOP / image | "
             "s / image | saturated % | " + " | ".join(HEADER) + " |",
             "|---|---|---|---|---|---|---|---|---|" + "---|" * len(HEADER)]
    for r in rows:
        cells = []
        for header in HEADER:
            key = f"dice_{header.replace(' ', '_').lower()}"
            cells.append(f"{r[key]:.1f} [{r[key + '_ci_low']:.1f}, {r[key + '_ci_high']:.1f}]")
        train = f"{float(r['train_gflop']):,.0f}".replace(",", " ") if r["train_gflop"] != "" else "–"
        lines.append(f"| {r['name']} | {r['formulation']} | {r['sampler'] or '–'} | "
                     f"{r['train_steps'] or '–'} | {train} | {r['nfe'] or '–'} | "
                     f"{r['gflop_per_image'] or '–'} | {r['seconds_per_image'] or '–'} | "
                     f"{'–' if r['saturated_percent'] == '' else r['saturated_percent']} | "
                     + " | ".join(cells) + " |")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def write_figure(rows: list[dict], path: Path) -> None:
    """Mean Dice (and each structure) versus NFE, one line per checkpoint and sampler."""
    import matplotlib  # only the figure needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from echo_segmentation.figures import save_figure  # imports matplotlib too

    style = line_styles(rows)
    legend_rows = -(-len({(r["label"], r["sampler"]) for r in rows}) // 4)
    fig, axes = plt.subplots(1, len(HEADER), figsize=(4 * len(HEADER), 3.4 + 0.2 * legend_rows),
                             sharex=True)
    lines = list(dict.fromkeys((r["label"], r["sampler"]) for r in rows if r["nfe"]))
    budgets = []  # tick labels, leaving out one within 15 % of the previous (9 and 10 would overlap)
    for nfe in sorted({r["nfe"] for r in rows if r["nfe"]}):
        if not budgets or nfe > 1.15 * budgets[-1]:
            budgets.append(nfe)
    for ax, header in zip(axes, HEADER):
        key = f"dice_{header.replace(' ', '_').lower()}"
        for label, sampler in lines:
            points = sorted((r["nfe"], r[key], r[key + "_ci_low"], r[key + "_ci_high"])
                            for r in rows if (r["label"], r["sampler"]) == (label, sampler))
            nfe, mean, low, high = map(list, zip(*points))
            ax.errorbar(nfe, mean, yerr=[[m - lo for m, lo in zip(mean, low)],
                                         [hi - m for m, hi in zip(mean, high)]],
                        capsize=3, label=f"{label} + {sampler}", **style(label, sampler))
        for r in rows:
            if not r["nfe"]:
                ax.axhline(r[key], color="grey", linestyle="--", label="real training frames")
        ax.set_xscale("log")
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel("NFE per image")
        ax.set_title(f"Dice {header} (%)")
        ax.grid(alpha=0.3)
    legend_below(fig, axes[0])
    save_figure(fig, path)


NFE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def line_styles(rows: list[dict]):
    """style(label, sampler) -> errorbar keywords: one colour per model (formulation and space,
    in the order the rows list them), one marker per sampler, a solid line for a model's longest
    training and a dashed one for shorter ones, so that 16 lines stay tellable apart and both
    figures draw each line alike."""
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
               "tab:pink", "tab:olive", "tab:cyan", "tab:grey")
    markers = ("o", "s", "^", "D", "v", "P", "X", "*")
    generated = [r for r in rows if r["nfe"]]
    models = list(dict.fromkeys(family(r["label"]) for r in generated))
    samplers = list(dict.fromkeys(r["sampler"] for r in generated))
    longest = {m: max((training_steps(r["label"]) or 0 for r in generated
                       if family(r["label"]) == m), default=0) for m in models}

    def style(label: str, sampler: str) -> dict:
        model, steps = family(label), training_steps(label)
        return dict(color=colours[models.index(model) % len(colours)],
                    marker=markers[samplers.index(sampler) % len(markers)],
                    linestyle="--" if steps is not None and steps < longest[model] else "-")
    return style


def legend_below(fig, ax) -> None:
    """One legend for the whole figure, under the axes, so that it hides no point."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="lower center", fontsize=7, frameon=False,
               ncol=min(4, len(unique)))
    rows_of_legend = -(-len(unique) // 4)
    fig.tight_layout(rect=(0, 0.045 * rows_of_legend + 0.02, 1, 1))


def family(label: str) -> str:
    """A checkpoint label without its training length (edm_s150 -> edm)."""
    head, _, tail = label.rpartition("_s")
    return head if head and tail.isdigit() else label


def training_steps(label: str) -> int | None:
    """A checkpoint label's training length (edm_s150 -> 150), None without one."""
    head, _, tail = label.rpartition("_s")
    return int(tail) if head and tail.isdigit() else None


def write_cost_figure(rows: list[dict], path: Path) -> None:
    """Mean Dice against the cost axes: sampling GFLOP per image (one line per checkpoint and
    sampler) and generator training GFLOP (one line per model, sampler and NFE across the
    training lengths)."""
    import matplotlib  # only the figure needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from echo_segmentation.figures import save_figure  # imports matplotlib too

    generated = [r for r in rows if r["nfe"]]
    style = line_styles(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key, ax in (((lambda r: (r["label"], r["sampler"])), left),
                    ((lambda r: (family(r["label"]), r["sampler"], r["nfe"])), right)):
        for line in dict.fromkeys(map(key, generated)):
            x_of = (lambda r: r["gflop_per_image"]) if ax is left else (lambda r: r["train_gflop"])
            points = sorted((x_of(r), r["dice_mean"], r["dice_mean_ci_low"], r["dice_mean_ci_high"])
                            for r in generated if key(r) == line)
            if ax is right and len(points) < 2:
                continue  # one training length: no line to draw
            x, mean, low, high = map(list, zip(*points))
            looks = style(line[0], line[1])  # right: a model without its length, drawn solid
            if ax is right:  # one line per model, sampler and NFE: the marker tells the NFE
                label = f"{line[0]} + {line[1]}, NFE {line[2]}"
                looks["marker"] = NFE_MARKERS[sorted({r["nfe"] for r in generated}).index(line[2])
                                              % len(NFE_MARKERS)]
            else:
                label = f"{line[0]} + {line[1]}"
            ax.errorbar(x, mean, yerr=[[m - lo for m, lo in zip(mean, low)],
                                       [hi - m for m, hi in zip(mean, high)]],
                        capsize=3, label=label, **looks)
    for r in rows:
        if not r["nfe"]:
            for ax in (left, right):
                ax.axhline(r["dice_mean"], color="grey", linestyle="--", label="real training frames")
    left.set_xlabel("sampling GFLOP per image")
    right.set_xlabel("generator training GFLOP (forward and backward of every image)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a log axis overlap
        ax.set_ylabel("mean Dice (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    lengths = []  # one tick per training length (models of one length differ by < 1 % in GFLOP)
    for g in sorted({float(r["train_gflop"]) for r in generated if r["train_gflop"] != ""}):
        if not lengths or g > 1.15 * lengths[-1]:
            lengths.append(g)
    right.set_xticks(lengths, [f"{g / 1000:.1f} TFLOP" for g in lengths])
    right.minorticks_off()
    fig.tight_layout()
    save_figure(fig, path)


def study(c: StudyConfig) -> None:
    if not c.nfe or min(c.nfe) < 1:
        raise UserError("--nfe needs budgets >= 1")
    for text in c.samplers:
        SamplerSpec.parse(text)
    if c.seg_epochs < 1:
        raise UserError(f"--seg-epochs must be >= 1, got {c.seg_epochs}")
    for folder in (c.labels_dir, c.extract_dir):
        if not Path(folder).is_dir():
            raise UserError(f"{folder}: no such folder")
    runs = runs_of(c)
    out = Path(c.out_dir).resolve()
    if c.report_only:
        missing = [r["name"] for r in runs if not (out / "results" / r["name"] / "metrics.csv").is_file()]
        if missing:
            print(f"not finished yet, left out: {' '.join(missing)}")
        runs = [r for r in runs if r["name"] not in missing]
        if not runs:
            raise UserError(f"{out}: no finished runs yet")
    else:
        if not c.dry_run:
            check_writable(out)
            save_config(c, out / "study_config.json")
        stages = StageRunner(out, c.dry_run)
        for run in runs:
            run_stages(stages, c, run, out)
        if c.dry_run:
            print("dry run: nothing was run or written")
            return
    rows = [result_row(run, out, c.views) for run in runs]
    write_csv(out / "nfe_study.csv", list(rows[0]), rows)
    write_markdown(rows, c, out / "nfe_study.md")
    write_figure(rows, out / "nfe_study.png")
    write_cost_figure(rows, out / "nfe_study_cost.png")
    print(f"study: {out / 'nfe_study.csv'}, {out / 'nfe_study.md'}, {out / 'nfe_study.png'}, "
          f"{out / 'nfe_study_cost.png'}")


def main(argv: list[str] | None = None) -> None:
    run_program(lambda: study(parse_config(StudyConfig, argv, __doc__)))


if __name__ == "__main__":
    main()
