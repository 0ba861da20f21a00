"""The study's figures: Dice versus NFE (nfe_study.png) and mean Dice versus sampling and training
GFLOP (nfe_study_cost.png), each line styled by its model, sampler and training length."""
from __future__ import annotations

from pathlib import Path

from ..report import HEADER


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
