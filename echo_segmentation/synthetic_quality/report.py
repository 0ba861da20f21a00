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
    rows = [[name, number(r["fd"]), f"{number(r['kid'], 4)} ± {number(r['kid_std'], 4)}",
             str(r.get("kid_subset_size") or "–")]
            for name, r in (("synthetic vs real test", realism["synthetic_vs_test"]),
                            ("real training vs real test (floor)", realism["training_vs_test"]))]
    return ["## Realism", "", REALISM_NOTE.format(layer=realism["layer"]),
            f"KID: unbiased MMD² with the kernel (x·y / {realism['feature_dimensions']} + 1)³, mean ± "
            f"std over {realism['kid_subsets']} random subsets of each set (unbiased: a set against "
            "itself gives slightly less than 0).", "",
            *table(["compared", "FD", "KID", "KID subset size"], rows), ""]


def memorisation_lines(memorisation: dict, figures_dir: str) -> list[str]:
    rows = []
    for key, title, closer in (("features", "feature distance", "lower"),
                               ("ssim", f"SSIM at {memorisation['ssim_size']} px", "higher")):
        m = memorisation[key]
        rows.append([f"{title} ({closer} = closer)", number(m["median_synthetic"]),
                     number(m["median_test"]), number(m["threshold"]),
                     f"{100 * m['fraction']:.1f} % ({m['count']} of {m['num_synthetic']})"])
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
        ["realism: FD to real test", number(realism["synthetic_vs_test"]["fd"]),
         number(realism["training_vs_test"]["fd"]) + " (real training)"],
        ["realism: KID to real test", number(realism["synthetic_vs_test"]["kid"], 4),
         number(realism["training_vs_test"]["kid"], 4) + " (real training)"],
        ["memorisation: flagged by features / SSIM (%)",
         f"{100 * memo['features']['fraction']:.1f} / {100 * memo['ssim']['fraction']:.1f}", "–"],
        ["diversity: 1 − SSIM, same map / different frames",
         f"{number(within['one_minus_ssim']) if within else 'not sampled'} / "
         f"{number(diversity['synthetic_between_maps']['one_minus_ssim'])}",
         f"– / {number(diversity['real_between_images']['one_minus_ssim'])}"],
    ]
    return [heading, "", *table(["measure", "synthetic set", "real reference"], rows), "",
            f"Features: {realism['layer']} (a domain-specific distance, not Inception FID).", ""]
