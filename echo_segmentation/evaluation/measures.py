"""The measures of one synthetic set against the real frames, each question one method returning its
part of evaluation.json (and drawing its figures).

Features are computed once per set. FD, KID and the diversity distances use them standardised with
the mean and std of the real training frames' features (evaluation.standardisation), so that
every feature channel weighs alike; the nearest-neighbour search and the distance to an image's
source frame standardise by the training frames of the view.
"""
from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path

import numpy as np

from echo_from_noise.contract import frame_of_augmented
from echo_from_noise.files import write_csv

from ..metrics import STRUCTURES, dice_scores
from ..statistics import describe
from . import diversity, figures, memorisation, memorisation_control
from .adherence import adherence_dice
from .features import FeatureNetwork
from .inputs import ImageSet
from .realism import realism_at_equal_n, undefined_summary
from .report import kid_interval, number
from .ssim import image_stack, paired_ssim
from .standardisation import Standardisation

MEAN = "mean"


def dice_summary(dice: np.ndarray, images: ImageSet, resamples: int, seed: int) -> dict:
    """Mean ± std [patient-bootstrap CI] of Dice per structure and their mean, overall and per
    view."""
    rows = [{"patient": p, **dict(zip(STRUCTURES, d)), MEAN: float(d.mean())}
            for p, d in zip(images.patients, dice)]
    groups = {"all": np.arange(len(rows))} | {v: images.of_view(v) for v in sorted(set(images.views))}
    return {name: {"n": len(index), "patients": len({rows[i]["patient"] for i in index}),
                   "dice": describe([rows[i] for i in index], resamples, seed, (*STRUCTURES, MEAN))}
            for name, index in groups.items()}


class Evaluation:
    def __init__(self, synthetic: ImageSet, training: ImageSet, validation: ImageSet,
                 testing: ImageSet, segmenter: FeatureNetwork, config, figures_dir: Path,
                 floor_check: str = "", realism_images: int = 0):
        self.synthetic, self.training, self.testing = synthetic, training, testing
        self.validation, self.floor_check = validation, floor_check
        self.realism_images = realism_images  # N of every FD / KID comparison (< 2: undefined)
        self.segmenter, self.config, self.figures = segmenter, config, figures_dir
        # one row per synthetic image (synthetic_images.csv), filled in by the measures
        self.columns: dict[str, list] = {"name": synthetic.names, "view": synthetic.views,
                                         "map": synthetic.maps}

    def write_rows(self, path: Path) -> None:
        """The per-image columns gathered so far, as CSV (written atomically)."""
        rows = [dict(zip(self.columns, values)) for values in zip(*self.columns.values())]
        write_csv(path, list(self.columns), rows, digits=6)

    # --- features, standardised by the real training frames -------------------------------------
    @cached_property
    def features(self) -> dict[str, np.ndarray]:
        """Raw features of each set."""
        return {name: self.segmenter.features(s.images) for name, s in
                (("synthetic", self.synthetic), ("training", self.training),
                 ("validation", self.validation), ("testing", self.testing))}

    @cached_property
    def scale(self) -> Standardisation:
        return Standardisation.of(self.features["training"])

    def counts(self) -> dict:
        s = self.synthetic
        return {"synthetic": len(s), "maps": len(set(zip(s.views, s.maps))),
                "real_training": len(self.training), "real_validation": len(self.validation),
                "real_testing": len(self.testing),
                "synthetic_per_view": {v: int(len(s.of_view(v))) for v in sorted(set(s.views))}}

    # --- 1. mask adherence -------------------------------------------------------------------
    def mask_adherence(self) -> dict:
        c = self.config
        predicted = self.segmenter.segment(self.synthetic.images)
        dice = adherence_dice(predicted, self.synthetic.labels)
        real = dice_scores(np.stack(self.segmenter.segment(self.testing.images)),
                           np.stack(self.testing.labels)).numpy()
        for column, values in zip(STRUCTURES, dice.T):
            self.columns[f"adherence_dice_{column}"] = values.tolist()
        worst = np.argsort(dice.mean(axis=1), kind="stable")[:c.figure_cases]
        figures.worst_adherence_figure(
            [(self.synthetic.names[i], self.synthetic.images[i], self.synthetic.labels[i],
              predicted[i], float(dice[i].mean())) for i in worst],
            self.figures / "adherence_worst.png")
        return {"synthetic": dice_summary(dice, self.synthetic, c.bootstrap, c.seed),
                "real_test": dice_summary(real, self.testing, c.bootstrap, c.seed),
                "worst": [{"name": self.synthetic.names[i], "view": self.synthetic.views[i],
                           "dice_mean": float(dice[i].mean())} for i in worst]}

    # --- 2. realism ------------------------------------------------------------------------------
    def realism(self) -> dict:
        """FD and KID of the synthetic set and of the floor at one N (evaluation.realism)."""
        f, c, t, n = ({k: self.scale(v) for k, v in self.features.items()}, self.config,
                      self.testing, self.realism_images)
        if n >= 2:
            measured = realism_at_equal_n(f["synthetic"], f["testing"], self.synthetic.patients,
                                          t.patients, n, c.draws, c.bootstrap, c.seed)
        else:  # fewer than 2 test patients or 2 frames in a half: no covariance, no kernel mean
            measured = {name: undefined_summary(n, c.draws) for name in ("synthetic_vs_test", "floor")}
        return {"layer": self.segmenter.layer_description,
                "feature_dimensions": int(f["testing"].shape[1]),
                "images_per_set": n, "draws": c.draws,
                "floor_frames": "a random half of the real test patients (new each draw) against "
                                "the other half, the same half the synthetic set is compared with",
                "floor_unseen": self.floor_check, **measured}

    # --- 3. memorisation -------------------------------------------------------------------------
    def nearest(self, queries: ImageSet, features: np.ndarray) -> dict[str, np.ndarray]:
        """Each query's nearest real training frame of its view, by features and by SSIM."""
        n = len(queries)
        result = {k: np.zeros(n, dtype=int if k.endswith("index") else float)
                  for k in ("feature_index", "feature_distance", "ssim_index", "ssim")}
        for view in sorted(set(queries.views)):
            q, r = queries.of_view(view), self.training.of_view(view)
            index, distance = memorisation.nearest_by_features(features[q], self.features["training"][r])
            result["feature_index"][q], result["feature_distance"][q] = r[index], distance
            index, ssim = memorisation.nearest_by_ssim([queries.images[i] for i in q],
                                                       [self.training.images[i] for i in r],
                                                       self.config.ssim_size)
            result["ssim_index"][q], result["ssim"][q] = r[index], ssim
        return result

    def own_frame(self, nearest: dict[str, np.ndarray]) -> dict:
        """How often a synthetic image's nearest training frame is the frame its map was drawn
        from (the copy a mask-conditioned model would make), against chance: one frame among the
        view's training frames."""
        s, t = self.synthetic, self.training
        frames = [frame_of_augmented(m) for m in s.maps]
        mine = np.array([i for i, f in enumerate(frames) if f in set(t.names)], dtype=int)
        if not len(mine):
            return {"images": 0, "by_features": None, "by_ssim": None, "chance": None}
        hits = {key: float(np.mean([t.names[nearest[index][i]] == frames[i] for i in mine]))
                for key, index in (("by_features", "feature_index"), ("by_ssim", "ssim_index"))}
        chance = float(np.mean([1 / len(t.of_view(s.views[i])) for i in mine]))
        return {"images": int(len(mine)), **hits, "chance": chance}

    def source_distances(self) -> dict[str, np.ndarray]:
        """Per synthetic image whose map's frame is a real frame at hand: the set holding that
        frame ("training" or a held-out split), its distance to the image (features standardised
        by the view's training frames) and their SSIM; other images are left out."""
        s, c = self.synthetic, self.config
        where = {name: (split, i) for split in ("training", "validation", "testing")
                 for i, name in enumerate(getattr(self, split).names)}
        frames = [where.get(frame_of_augmented(m)) for m in s.maps]
        mine = np.array([i for i, f in enumerate(frames) if f is not None], dtype=int)
        split = np.array([frames[i][0] for i in mine], dtype=object)
        distance, ssim = np.zeros(len(mine)), np.zeros(len(mine))
        for view in sorted({s.views[i] for i in mine}):
            k = np.array([j for j, i in enumerate(mine) if s.views[i] == view], dtype=int)
            scale = Standardisation.of(self.features["training"][self.training.of_view(view)])
            own = np.stack([self.features[frames[mine[j]][0]][frames[mine[j]][1]] for j in k])
            distance[k] = np.linalg.norm(scale(self.features["synthetic"][mine[k]]) - scale(own),
                                         axis=1)
            sources = [getattr(self, frames[mine[j]][0]).images[frames[mine[j]][1]] for j in k]
            ssim[k] = paired_ssim(image_stack([s.images[i] for i in mine[k]], c.ssim_size),
                                  image_stack(sources, c.ssim_size)).double().numpy()
        return {"index": mine, "split": split, "feature_distance": distance, "ssim": ssim}

    def memorisation_control(self) -> dict:
        """Images of training maps against images of held-out maps, each to its own source frame
        (evaluation.memorisation_control)."""
        d = self.source_distances()
        seen = d["split"] == "training"
        result = {key: memorisation_control.compare(d[key][seen], d[key][~seen], closer)
                  for key, closer in (("feature_distance", "smaller"), ("ssim", "larger"))}
        return {"features": result["feature_distance"], "ssim": result["ssim"],
                "decision": memorisation_control.decide(result["feature_distance"], result["ssim"]),
                "rule": memorisation_control.MEMORISED_RULE}

    def memorisation(self) -> dict:
        s, t, c = self.synthetic, self.training, self.config
        synthetic = self.nearest(s, self.features["synthetic"])
        testing = self.nearest(self.testing, self.features["testing"])
        by_features = memorisation.memorised_fraction(synthetic["feature_distance"],
                                                      testing["feature_distance"], closer="smaller")
        by_ssim = memorisation.memorised_fraction(synthetic["ssim"], testing["ssim"], closer="larger")
        flagged_by_features = synthetic["feature_distance"] < by_features["threshold"]
        self.columns |= {
            "nearest_training_by_features": [t.names[i] for i in synthetic["feature_index"]],
            "feature_distance": synthetic["feature_distance"].tolist(),
            "memorised_by_features": flagged_by_features.astype(int).tolist(),
            "nearest_training_by_ssim": [t.names[i] for i in synthetic["ssim_index"]],
            "ssim": synthetic["ssim"].tolist(),
            "memorised_by_ssim": (synthetic["ssim"] > by_ssim["threshold"]).astype(int).tolist()}
        closest = np.argsort(-synthetic["ssim"], kind="stable")[:c.figure_cases]
        figures.closest_pairs_figure(
            [(s.names[i], s.images[i], t.names[synthetic["ssim_index"][i]],
              t.images[synthetic["ssim_index"][i]], float(synthetic["ssim"][i]), "SSIM")
             for i in closest], self.figures / "memorisation_closest.png")
        figures.nearest_distance_histogram(synthetic["feature_distance"], testing["feature_distance"],
                                           by_features["threshold"],
                                           self.figures / "nearest_features.png",
                                           "distance to the nearest real training frame (features)")
        figures.nearest_distance_histogram(synthetic["ssim"], testing["ssim"], by_ssim["threshold"],
                                           self.figures / "nearest_ssim.png",
                                           f"SSIM with the most similar real training frame "
                                           f"({c.ssim_size} px)")
        return {"ssim_size": c.ssim_size, "features": by_features, "ssim": by_ssim,
                "own_frame": self.own_frame(synthetic),
                "control": self.memorisation_control(),
                "closest": [{"synthetic": s.names[i], "training": t.names[synthetic["ssim_index"][i]],
                             "ssim": float(synthetic["ssim"][i]),
                             "feature_distance": float(synthetic["feature_distance"][i])}
                            for i in closest]}

    # --- 4. diversity ----------------------------------------------------------------------------
    def between(self, images: ImageSet, features: np.ndarray) -> dict:
        """Mean distance between random pairs of images of one view and different patients."""
        c = self.config
        try:
            return {"feature_distance": diversity.between_image_distance(
                        features, self.scale, c.seed, views=images.views, patients=images.patients),
                    "one_minus_ssim": diversity.between_image_ssim(
                        images.images, c.ssim_size, c.seed, views=images.views,
                        patients=images.patients)}
        except ValueError:  # no two images of one view from different patients
            return {"feature_distance": math.nan, "one_minus_ssim": math.nan}

    def diversity(self) -> dict:
        s, c = self.synthetic, self.config
        groups = diversity.seed_groups(s.names, s.views)
        within = None
        if groups:
            within = {"feature_distance": diversity.within_map_distance(
                          self.features["synthetic"], groups, self.scale),
                      "one_minus_ssim": diversity.within_map_ssim(s.images, groups, c.ssim_size)}
        first = np.array([i for i, (n, m) in enumerate(zip(s.names, s.maps)) if n == m], dtype=int)
        return {"maps_with_several_images": len(groups),
                "images_per_map": round(len(s) / max(1, len(set(zip(s.views, s.maps)))), 3),
                "synthetic_within_map": within,
                "synthetic_between_maps": self.between(s.subset(first),
                                                       self.features["synthetic"][first]),
                "real_between_images": self.between(self.testing, self.features["testing"])}


def headline(result: dict) -> str:
    """One line for the terminal."""
    adherence = result["mask_adherence"]["synthetic"]["all"]["dice"][MEAN]["mean"]
    realism, memo = result["realism"], result["memorisation"]
    synthetic, floor = realism["synthetic_vs_test"], realism["floor"]
    return (f"{result['counts']['synthetic']} synthetic images: mask adherence {100 * adherence:.1f} "
            f"% Dice, at N = {realism['images_per_set']}: KID {kid_interval(synthetic)} (real floor "
            f"{kid_interval(floor)}), FD {number(synthetic['fd'], 1)} (floor "
            f"{number(floor['fd'], 1)}); memorisation: {memo['control']['decision']}")
