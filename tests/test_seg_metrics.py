"""Segmentation metrics and statistics against values computed by hand on small synthetic masks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from echo_segmentation.metrics import image_metrics
from echo_segmentation.statistics import bootstrap_interval, summarise

STRUCTS = ("lv_endo", "lv_epi", "la")


def heart(size: int = 64) -> np.ndarray:
    """A label map with a cavity (1) inside a myocardium (2) and an atrium (3) below."""
    labels = np.zeros((size, size), np.uint8)
    labels[10:40, 20:44] = 2
    labels[14:36, 24:40] = 1
    labels[42:56, 24:40] = 3
    return labels


def test_perfect_prediction_gives_dice_one_and_zero_distances():
    labels = heart()
    row = image_metrics(labels, labels)
    for s in STRUCTS:
        assert row[f"dice_{s}"] == 1.0
        assert row[f"hd95_{s}"] == 0.0 and row[f"hd_{s}"] == 0.0 and row[f"masd_{s}"] == 0.0


@pytest.mark.parametrize("shift", [1, 3, 7])
def test_shifted_lines_give_the_shift_as_every_distance(shift):
    # one-pixel lines: every edge pixel lies exactly `shift` rows from the other line
    truth = np.zeros((64, 64), np.uint8)
    truth[10, 5:50] = 1
    truth[30, 5:50] = 2
    truth[45, 5:50] = 3
    prediction = np.roll(truth, shift, axis=0)
    row = image_metrics(prediction, truth)
    for s in STRUCTS:
        assert row[f"hd_{s}"] == pytest.approx(shift)
        assert row[f"hd95_{s}"] == pytest.approx(shift)
        assert row[f"masd_{s}"] == pytest.approx(shift)
        assert row[f"dice_{s}"] == 0.0
    # anisotropic spacing (row_mm, col_mm): a shift along rows is measured in row millimetres
    row = image_metrics(prediction, truth, spacing=(0.5, 2.0))
    assert row["hd_la"] == pytest.approx(0.5 * shift)
    assert row["masd_lv_endo"] == pytest.approx(0.5 * shift)


def test_shifted_square_gives_known_dice_and_hausdorff():
    n, k = 20, 4
    truth = np.zeros((64, 64), np.uint8)
    truth[10:10 + n, 10:10 + n] = 1
    prediction = np.roll(truth, k, axis=1)
    row = image_metrics(prediction, truth)
    assert row["dice_lv_endo"] == pytest.approx((n - k) / n)
    assert row["hd_lv_endo"] == pytest.approx(k)
    assert 0 < row["masd_lv_endo"] < k
    assert 0 < row["hd95_lv_endo"] <= k


def test_epicardium_is_cavity_and_myocardium_together():
    truth = heart()
    prediction = truth.copy()
    prediction[truth == 1] = 2  # cavity predicted as myocardium: the epicardium is unchanged
    row = image_metrics(prediction, truth)
    assert row["dice_lv_epi"] == 1.0 and row["hd_lv_epi"] == 0.0
    assert row["dice_lv_endo"] == 0.0
    assert math.isnan(row["hd_lv_endo"]) and math.isnan(row["masd_lv_endo"])
    assert row["dice_la"] == 1.0


def test_bootstrap_resamples_patients_not_images():
    # patient A: three images of value 1; patient B: one image of value 0 (image mean 0.75).
    # Resampling two patients gives means 1 (AA), 0.75 (AB) or 0 (BB, probability 1/4).
    values = np.array([1.0, 1.0, 1.0, 0.0])
    low, high = bootstrap_interval(values, ["A", "A", "A", "B"], 1000,
                                   np.random.default_rng(0))
    assert (low, high) == (0.0, 1.0)
    # one patient, constant values: the interval collapses onto the value
    low, high = bootstrap_interval(np.full(4, 0.8), ["A"] * 4, 200, np.random.default_rng(0))
    assert low == pytest.approx(0.8) and high == pytest.approx(0.8)


def test_summary_groups_and_nan_distances():
    truth = heart()
    rows = []
    for p, (view, phase) in enumerate([("2CH", "ED"), ("2CH", "ES"), ("4CH", "ED"), ("4CH", "ES")]):
        prediction = truth.copy() if p else np.where(truth == 3, 0, truth).astype(np.uint8)
        rows.append({"stem": f"patient000{p}_{view}_{phase}_testing", "patient": f"patient000{p}",
                     "view": view, "phase": phase, **image_metrics(prediction, truth)})
    summary = summarise(rows, resamples=100, seed=0)
    assert set(summary) == {"all", "2CH", "4CH", "ED", "ES", "2CH_ED", "2CH_ES", "4CH_ED", "4CH_ES"}
    la = summary["all"]["metrics"]["dice_la"]
    assert la["mean"] == pytest.approx(0.75) and la["n"] == 4
    assert summary["all"]["metrics"]["hd_la"]["n"] == 3  # the missed atrium has no distance
    assert summary["2CH"]["num_images"] == 2 and summary["2CH"]["num_patients"] == 2
    assert summary["4CH"]["metrics"]["dice_la"]["mean"] == 1.0
