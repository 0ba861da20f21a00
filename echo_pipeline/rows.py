"""The segmentation rows of the pipeline: the data set each network trains on, named as
data_preparation.prepare_segmentation_data names it by default.

    <VIEW>                               the synthetic images of one view (--seg-per-view)
    all_views                            every synthetic image (the paper's headline)
    real_all_views                       every real training frame (the baseline)
    real_synthetic_all_views             both (--real-plus-synthetic)
    real_patients10_all_views            the real frames of 10 % of the patients (--real-fractions 0.1)
    real_synthetic_patients10_all_views  those and the synthetic images made from their maps

Every network is tested on the same real test frames of its views, trained for the same epochs.
"""
from __future__ import annotations

from dataclasses import dataclass

from echo_from_noise.contract import segmentation_dataset_name


@dataclass(frozen=True)
class SegmentationRow:
    name: str
    views: tuple[str, ...]
    source: str  # synthetic, real or real+synthetic (prepare_segmentation_data --source)
    fraction: float = 1.0  # of the patients of each split (--patient-fraction)

    @property
    def label(self) -> str:
        text = {"synthetic": "All synthetic frames", "real": "All real frames",
                "real+synthetic": "All real + all synthetic frames"}[self.source]
        if self.name in self.views:
            return f"SDM {self.name}"
        if self.fraction < 1:
            share = f"{percent(self.fraction)} % of the patients"
            text = (f"Real frames of {share}" if self.source == "real"
                    else f"Real + synthetic frames of {share}")
        return text


def percent(fraction: float) -> int:
    return round(100 * fraction)


def row(source: str, views, fraction: float = 1.0, per_view: bool = False) -> SegmentationRow:
    views = tuple(views)
    name = views[0] if per_view else "all_views"  # all_views even when one view is selected
    return SegmentationRow(segmentation_dataset_name(source, name, fraction), views, source, fraction)


def segmentation_rows(views, per_view: bool, real_plus_synthetic: bool,
                      fractions: tuple[float, ...]) -> list[SegmentationRow]:
    rows = [row("synthetic", [view], per_view=True) for view in views] if per_view else []
    rows += [row("synthetic", views), row("real", views)]
    if real_plus_synthetic:
        rows.append(row("real+synthetic", views))
    for fraction in fractions:
        rows += [row("real", views, fraction), row("real+synthetic", views, fraction)]
    return rows
