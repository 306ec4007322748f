"""Scores of a classifier on labelled data: accuracy, macro-F1, the confusion matrix and the expected
calibration error. Pure functions of class indices (and probabilities), shared by training's
evaluation and `kdaug evaluate`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def classification_scores(gold: Sequence[int], predicted: Sequence[int]) -> dict[str, float]:
    """Accuracy, and macro-F1 over the classes that occur in either (a class never seen nor predicted
    does not count)."""
    gold_a, pred_a = np.asarray(gold), np.asarray(predicted)
    f1s = []
    for c in sorted(set(gold_a.tolist()) | set(pred_a.tolist())):
        tp = np.sum((pred_a == c) & (gold_a == c))
        fp, fn = np.sum((pred_a == c) & (gold_a != c)), np.sum((pred_a != c) & (gold_a == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return {"accuracy": float(np.mean(gold_a == pred_a)), "macro_f1": float(np.mean(f1s))}


def confusion_matrix(gold: Sequence[int], predicted: Sequence[int], num_labels: int) -> list[list[int]]:
    """[gold class][predicted class] -> count."""
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (np.asarray(gold), np.asarray(predicted)), 1)
    return matrix.tolist()


def expected_calibration_error(probabilities: np.ndarray, gold: Sequence[int], bins: int = 15) -> float:
    """ECE (Guo et al., 2017): predictions grouped by confidence into `bins` equal-width bins; the mean,
    weighted by each bin's share, of |accuracy - mean confidence| in it."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(gold)
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # confidence 1.0 in the last bin
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)
