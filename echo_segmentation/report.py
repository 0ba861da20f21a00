"""report.md of a test run: tables of the summary, with the published numbers beside ours; and the
run's one-line headline."""
from __future__ import annotations

import math

from .metrics import METRIC_NAMES, STRUCTURE_NAMES, STRUCTURES, metric_column
from .published import PUBLISHED_DICE


def cell(stat: dict, scale: float = 1.0, ci: bool = True) -> str:
    """'mean ± std [low, high]' (scaled, e.g. by 100 for Dice in %)."""
    if stat["n"] == 0 or math.isnan(stat["mean"]):
        return "n/a"
    text = f"{stat['mean'] * scale:.1f} ± {stat['std'] * scale:.1f}"
    if ci:
        text += f" [{stat['ci_low'] * scale:.1f}, {stat['ci_high'] * scale:.1f}]"
    return text


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def dice_rows(name: str, metrics: dict) -> list[str]:
    return [name] + [cell(metrics[metric_column("dice", s)], 100) for s in STRUCTURES]


def published_rows() -> list[list[str]]:
    return [[name] + [f"{v:.1f}" for v in values] for name, values in PUBLISHED_DICE.items()]


def headline(summary: dict) -> str:
    """'N images: Dice (%) a / b / c (LV endo / LV epi / LA)', the means over all images."""
    overall = summary["groups"]["all"]
    return (f"{overall['num_images']} images: Dice (%) "
            + " / ".join(f"{100 * overall['metrics'][metric_column('dice', s)]['mean']:.1f}"
                         for s in STRUCTURES)
            + f" ({' / '.join(STRUCTURE_NAMES[s] for s in STRUCTURES)})")


def render_report(summary: dict) -> str:
    groups, units = summary["groups"], summary["units"]
    structures = [STRUCTURE_NAMES[s] for s in STRUCTURES]
    train = summary["training"]
    lines = [
        f"# Segmentation test: {summary['name']}", "",
        f"- checkpoint: `{summary['checkpoint']}` (preset `{train['preset']}`, epoch "
        f"{train['checkpoint_epoch']} of a run of {train['epochs_trained']} epochs, "
        f"{train['elapsed_minutes']} min; mean validation Dice {train['best_validation_dice']:.4f}; "
        f"trained on `{train['data_dir']}`)",
        *([f"- **training {train['stopped_early']}**: not comparable with complete runs"]
          if train.get("stopped_early") else []),
        f"- test data: `{summary['data_dir']}`, split `{summary['split']}`: "
        f"{groups['all']['num_images']} images of {groups['all']['num_patients']} patients",
        f"- distances in {units}; 95 % confidence intervals from {summary['bootstrap_resamples']} "
        f"bootstrap resamples of patients (seed {summary['seed']})",
        "", "## Dice (%), mean ± std [95 % CI]", "",
    ]
    rows = [dice_rows("this run", groups["all"]["metrics"])] + published_rows()
    lines += table(["", *structures], rows)
    lines += ["", "Published rows: Dice of the paper (Stojanovski et al. 2023, Table 1), 50 official CAMUS test "
              "patients; `this run` uses the test split given above.", "",
              "## Dice (%) per view and phase", ""]
    rows = [dice_rows(f"{name} ({g['num_images']})", g["metrics"])
            for name, g in groups.items()]
    lines += table(["group (images)", *structures], rows)
    for metric in ("hd95", "hd", "masd"):
        lines += ["", f"## {METRIC_NAMES[metric]} ({units}), mean ± std [95 % CI]", ""]
        rows = [[f"{name} ({g['num_images']})"]
                + [cell(g["metrics"][metric_column(metric, s)]) for s in STRUCTURES]
                for name, g in groups.items()]
        lines += table(["group (images)", *structures], rows)
    missed = summary.get("missed", {})
    if any(missed.values()):
        lines += ["", "Structures missing from the prediction (Dice 0, distances left out): "
                  + ", ".join(f"{STRUCTURE_NAMES[s]} {n}" for s, n in missed.items() if n)]
    lines += ["", "## Figures", "", "![best, median and worst cases](cases.png)", "",
              "![Dice per structure](dice_boxplot.png)", ""]
    return "\n".join(lines)
