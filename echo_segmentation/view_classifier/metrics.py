"""Classification metrics: accuracy, balanced accuracy (mean recall over the classes present),
the confusion matrix, and their 95 % intervals by resampling patients (as
echo_segmentation.statistics does for Dice: the views of one heart are not independent)."""
from __future__ import annotations

import numpy as np

from ..statistics import bootstrap_interval


def confusion_matrix(truth: np.ndarray, prediction: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (K, K): rows the true class, columns the predicted one."""
    index = np.asarray(truth) * num_classes + np.asarray(prediction)
    return np.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_recall(matrix: np.ndarray) -> np.ndarray:
    """Recall of each class (NaN for a class with no image)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(matrix) / matrix.sum(axis=1)


def balanced_accuracy(truth: np.ndarray, prediction: np.ndarray, num_classes: int) -> float:
    """Mean recall over the classes that have images."""
    return float(np.nanmean(per_class_recall(confusion_matrix(truth, prediction, num_classes))))


def balanced_accuracy_interval(truth: np.ndarray, prediction: np.ndarray, patients: list[str],
                               num_classes: int, resamples: int, rng: np.random.Generator
                               ) -> tuple[float, float]:
    """95 % interval of the balanced accuracy when resampling patients with replacement."""
    names, patient = np.unique(np.asarray(patients), return_inverse=True)
    truth, correct = np.asarray(truth), np.asarray(truth) == np.asarray(prediction)
    cell = patient * num_classes + truth  # per patient and true class: images, correct ones
    shape = (len(names), num_classes)
    counts = np.bincount(cell, minlength=shape[0] * shape[1]).reshape(shape)
    hits = np.bincount(cell, weights=correct, minlength=shape[0] * shape[1]).reshape(shape)
    draws = rng.integers(0, len(names), size=(resamples, len(names)))
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = hits[draws].sum(axis=1) / counts[draws].sum(axis=1)  # (resamples, K)
    low, high = np.percentile(np.nanmean(recall, axis=1), [2.5, 97.5])
    return float(low), float(high)


def classification_summary(rows: list[dict], classes: list[str], resamples: int = 1000,
                           seed: int = 0) -> dict:
    """Accuracy and balanced accuracy with patient-bootstrap 95 % intervals (None without
    resamples), the confusion matrix and the recall per class, of rows with "patient", "truth"
    and "prediction" (class names)."""
    truth = np.array([classes.index(r["truth"]) for r in rows])
    prediction = np.array([classes.index(r["prediction"]) for r in rows])
    patients = [r["patient"] for r in rows]
    matrix = confusion_matrix(truth, prediction, len(classes))
    nan = (None, None)
    rng = np.random.default_rng(seed)
    accuracy_ci = (bootstrap_interval((truth == prediction).astype(float), patients, resamples,
                                      rng) if resamples else nan)
    balanced_ci = (balanced_accuracy_interval(truth, prediction, patients, len(classes),
                                              resamples, rng) if resamples else nan)
    return {
        "classes": list(classes), "num_images": len(rows), "num_patients": len(set(patients)),
        "accuracy": {"value": float((truth == prediction).mean()),
                     "ci_low": accuracy_ci[0], "ci_high": accuracy_ci[1]},
        "balanced_accuracy": {"value": balanced_accuracy(truth, prediction, len(classes)),
                              "ci_low": balanced_ci[0], "ci_high": balanced_ci[1]},
        "confusion_matrix": matrix.tolist(),
        "per_class_recall": {name: (None if np.isnan(r) else float(r))
                             for name, r in zip(classes, per_class_recall(matrix))},
    }
