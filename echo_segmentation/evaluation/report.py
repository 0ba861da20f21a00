"""report.md of an evaluation (evaluation.json as tables), and the short quality section the
pipeline adds to its own report."""
from __future__ import annotations

from ..metrics import STRUCTURE_NAMES
from ..report import cell, table

ADHERENCE_COLUMNS = (*STRUCTURE_NAMES, "mean")
REALISM_NOTE = ("Distances in the feature space of {layer}. This is a domain-specific distance, not "
                "Inception FID: compare values only between sets measured with the same segmenter.")


def number(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def interval(stat: dict, scale: float = 100.0, digits: int = 1) -> str:
    """'value [low, high]' of a {value, ci_low, ci_high} entry (accuracies, in %)."""
    if stat.get("value") is None:
        return "n/a"
    low, high = stat.get("ci_low"), stat.get("ci_high")
    text = f"{stat['value'] * scale:.{digits}f}"
    return text + (f" [{low * scale:.{digits}f}, {high * scale:.{digits}f}]" if low is not None else "")


def kid_interval(comparison: dict) -> str:
    """'KID [95 % interval]' of one realism comparison."""
    return (f"{number(comparison['kid'], 4)} [{number(comparison['kid_ci_low'], 4)}, "
            f"{number(comparison['kid_ci_high'], 4)}]")


def fd_spread(comparison: dict) -> str:
    """'FD ± std (min–max)' over the draws of one realism comparison."""
    return (f"{number(comparison['fd'], 1)} ± {number(comparison['fd_std'], 1)} "
            f"({number(comparison['fd_min'], 1)}–{number(comparison['fd_max'], 1)})")


def dice_cell(group: dict, column: str) -> str:
    stat = group["dice"][column]
    return cell({k: (float("nan") if v is None else v) for k, v in stat.items()}, 100)


def adherence_lines(adherence: dict) -> list[str]:
    rows = []
    for images, title in (("synthetic", "synthetic vs its map"), ("real_test", "real test vs annotation")):
        for group, values in adherence[images].items():
            rows.append([title, group, f"{values['n']} ({values['patients']})",
                         *(dice_cell(values, c) for c in ADHERENCE_COLUMNS)])
    header = ["images", "view", "images (patients)",
              *(STRUCTURE_NAMES.get(c, c) for c in ADHERENCE_COLUMNS)]
    return ["## Mask adherence", "",
            "Dice (%) between the real-trained segmenter's prediction and the label map the image "
            "was generated from (synthetic) or its expert annotation (real test frames): "
            "mean ± std [95 % bootstrap CI over patients].", "", *table(header, rows), ""]


def realism_lines(realism: dict) -> list[str]:
    rows = [[name, kid_interval(r), number(r["kid_std"], 4), fd_spread(r), str(r["n"])]
            for name, r in (("synthetic vs real test (half B)", realism["synthetic_vs_test"]),
                            ("floor: real test half A vs half B", realism["floor"]))]
    return ["## Realism", "", REALISM_NOTE.format(layer=realism["layer"]),
            f"Every comparison at N = {realism['images_per_set']} images per set (FD's bias depends "
            f"on N), over {realism['draws']} random draws: each draw splits the real test patients "
            "into halves A and B and subsamples each set to N. The floor is "
            f"{realism['floor_frames']} ({realism['floor_unseen']}).",
            f"KID: unbiased MMD² with the kernel (x·y / {realism['feature_dimensions']} + 1)³, mean "
            "over the draws [95 % patient-bootstrap interval, pooled over the draws] and its std "
            "over the draws; FD: mean ± std (min–max) over the draws.", "",
            *table(["compared", "KID [95 % interval]", "KID std (draws)", "FD", "N"], rows), ""]


def memorisation_lines(memorisation: dict, figures_dir: str) -> list[str]:
    rows = []
    for key, title, closer in (("features", "feature distance", "lower"),
                               ("ssim", f"SSIM at {memorisation['ssim_size']} px", "higher")):
        m = memorisation[key]
        rows.append([f"{title} ({closer} = closer)", number(m["median_synthetic"]),
                     number(m["median_test"]), number(m["threshold"]),
                     f"{100 * m['fraction']:.1f} % ({m['count']} of {m['num_synthetic']})"])
    control = memorisation["control"]
    control_rows = [[f"{title} ({closer} = closer)", number(m["median_seen"]),
                     number(m["median_control"]), number(m["p_value"], 4),
                     "n/a" if m["flagged_fraction"] is None else
                     f"{100 * m['flagged_fraction']:.1f} % ({m['flagged']} of {m['num_seen']})"]
                    for key, title, closer in (("features", "feature distance", "lower"),
                                               ("ssim", f"SSIM at {memorisation['ssim_size']} px",
                                                "higher"))
                    for m in (control[key],)]
    own = memorisation["own_frame"]
    own_line = ([f"The nearest training frame is the very frame the image's map was drawn from for "
                 f"{100 * own['by_features']:.1f} % (features) and {100 * own['by_ssim']:.1f} % "
                 f"(SSIM) of the {own['images']} images of training maps; chance: "
                 f"{100 * own['chance']:.1f} %.", ""] if own["images"] else [])
    return ["## Memorisation", "",
            "Each synthetic image against its nearest real training image of the same view, beside "
            "each real test image against its nearest real training image. Flagged: synthetic "
            "images closer to a training image than any real test image is.", "",
            *table(["measure", "synthetic: median nearest", "real test: median nearest",
                    "closest real test", "synthetic flagged"], rows), "", *own_line,
            "### Against the control: images of held-out maps", "",
            "Each synthetic image against the real frame its map was drawn from: images of training "
            "maps (frames the generator saw) beside images of validation or test maps (frames it "
            f"never saw; {control['features']['num_control']} images). The map pulls both alike; "
            "only the first can be copies.", "",
            *table(["measure", "training maps: median to own frame",
                    "held-out maps: median to own frame", "one-sided p",
                    "training-map images beyond every held-out one"], control_rows), "",
            f"**Decision: {control['decision']}** (rule: {control['rule']}).", "",
            f"![closest pairs]({figures_dir}/memorisation_closest.png)", "",
            f"![nearest distances]({figures_dir}/nearest_features.png) "
            f"![nearest SSIM]({figures_dir}/nearest_ssim.png)", ""]


def diversity_lines(diversity: dict) -> list[str]:
    within = diversity["synthetic_within_map"]
    rows = [["synthetic, same map, other seed",
             *(number(within[k]) if within else "not sampled" for k in ("feature_distance", "one_minus_ssim")),
             str(diversity["maps_with_several_images"])],
            ["synthetic, different maps of a view", number(diversity["synthetic_between_maps"]["feature_distance"]),
             number(diversity["synthetic_between_maps"]["one_minus_ssim"]), "–"],
            ["real, different frames of a view", number(diversity["real_between_images"]["feature_distance"]),
             number(diversity["real_between_images"]["one_minus_ssim"]), "–"]]
    lines = ["## Diversity", "", "Mean pairwise distance between images (feature distance and 1 − SSIM).", "",
             *table(["pairs", "feature distance", "1 − SSIM", "maps"], rows), ""]
    if not within:
        lines += ["No map has more than one image: sample with `semantic_diffusion_model.sample "
                  "--samples-per-map 2` (or more) to measure the diversity per map.", ""]
    return lines


def views_lines(views: dict, figures_dir: str) -> list[str]:
    lines = ["## View classification", ""]
    if "skipped" in views:
        return lines + [f"Not run: {views['skipped']}.", ""]
    classes = " / ".join(views["real"]["classes"])
    rows = [[f"{name} images", interval(v["accuracy"]), interval(v["balanced_accuracy"]),
             f"{v['num_images']} ({v['num_patients']})"] for name, v in
            (("synthetic", views["synthetic"]), ("real training", views["real"]))]
    return lines + [f"Classes {classes}; tested on the real test frames; % [95 % bootstrap CI over "
                    "patients].", "",
                    *table(["classifier trained on", "accuracy", "balanced accuracy",
                            "test images (patients)"], rows), "",
                    f"![confusion, synthetic]({figures_dir}/views_confusion_synthetic.png) "
                    f"![confusion, real]({figures_dir}/views_confusion_real.png)", ""]


def render_report(result: dict, figures_dir: str = "figures") -> str:
    counts = result["counts"]
    lines = ["# Quality of a synthetic set", "",
             f"- synthetic: `{result['samples_dir']}`: {counts['synthetic']} images of "
             f"{counts['maps']} maps ({', '.join(result['views'])})",
             f"- real: `{result['extract_dir']}`: {counts['real_training']} training and "
             f"{counts['real_testing']} test frames",
             f"- real-trained segmenter: `{result['segmenter']}`", "",
             *quality_lines(result, figures_dir, heading="## Summary"),
             *adherence_lines(result["mask_adherence"]),
             f"![worst adherence]({figures_dir}/adherence_worst.png)", "",
             *realism_lines(result["realism"]),
             *memorisation_lines(result["memorisation"], figures_dir),
             *diversity_lines(result["diversity"]),
             *views_lines(result["view_classification"], figures_dir)]
    return "\n".join(lines)


def quality_lines(result: dict, figures_dir: str, heading: str = "## Quality of the synthetic set"
                  ) -> list[str]:
    """One table: each question's headline number for the synthetic set and the real reference."""
    adherence, realism = result["mask_adherence"], result["realism"]
    memo, diversity, views = result["memorisation"], result["diversity"], result["view_classification"]
    within = diversity["synthetic_within_map"]
    view_row = (["view classification, balanced accuracy (%)", "not run", "not run"]
                if "skipped" in views else
                ["view classification, balanced accuracy (%)",
                 interval(views["synthetic"]["balanced_accuracy"]),
                 interval(views["real"]["balanced_accuracy"])])
    rows = [
        view_row,
        ["mask adherence, mean Dice (%)", dice_cell(adherence["synthetic"]["all"], "mean"),
         dice_cell(adherence["real_test"]["all"], "mean") + " (test vs annotation)"],
        [f"realism: KID [95 % interval] to real test, N = {realism['images_per_set']}",
         kid_interval(realism["synthetic_vs_test"]),
         kid_interval(realism["floor"]) + " (unseen real test half)"],
        [f"realism: FD ± std (min–max) over {realism['draws']} draws, N = "
         f"{realism['images_per_set']}", fd_spread(realism["synthetic_vs_test"]),
         fd_spread(realism["floor"]) + " (unseen real test half)"],
        ["memorisation: flagged by features / SSIM (%)",
         f"{100 * memo['features']['fraction']:.1f} / {100 * memo['ssim']['fraction']:.1f}", "–"],
        ["memorisation against held-out maps", memo["control"]["decision"], "–"],
        ["diversity: 1 − SSIM, same map / different frames",
         f"{number(within['one_minus_ssim']) if within else 'not sampled'} / "
         f"{number(diversity['synthetic_between_maps']['one_minus_ssim'])}",
         f"– / {number(diversity['real_between_images']['one_minus_ssim'])}"],
    ]
    return [heading, "", *table(["measure", "synthetic set", "real reference"], rows), "",
            f"Features: {realism['layer']} (a domain-specific distance, not Inception FID).", ""]
