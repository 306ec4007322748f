import numpy as np
import pytest

from kdaug.core.logits import probabilities_of_logits
from kdaug.core.metrics import classification_scores, confusion_matrix, expected_calibration_error


def test_scores_and_confusion_matrix_count_each_gold_and_predicted_pair():
    gold, predicted = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    scores = classification_scores(gold, predicted)
    assert scores["accuracy"] == pytest.approx(3 / 5)
    # F1 per class: 0: tp1 fp1 fn1 -> 0.5; 1: tp2 fp1 fn0 -> 0.8; 2: tp0 -> 0
    assert scores["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert confusion_matrix(gold, predicted, 3) == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_ece_is_zero_when_confidence_matches_accuracy_and_the_gap_otherwise():
    # four predictions at confidence 0.75, three right: calibrated
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, [0, 0, 0, 1]) == pytest.approx(0.0)
    # all at confidence 0.9, half right: |0.5 - 0.9|
    probs = np.array([[0.9, 0.1]] * 4)
    assert expected_calibration_error(probs, [0, 1, 0, 1]) == pytest.approx(0.4)
    # two bins, weighted by their shares: (2/4)*|1-0.95| + (2/4)*|0-0.6|
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.6, 0.4], [0.6, 0.4]])
    assert expected_calibration_error(probs, [0, 0, 1, 1]) == pytest.approx(0.5 * 0.05 + 0.5 * 0.6)


def test_probabilities_of_logits_are_a_stable_softmax():
    p = probabilities_of_logits(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]], rtol=1e-6)
