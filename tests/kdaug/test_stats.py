import numpy as np
import pytest

from kdaug.stats import correctness, describe, paired_bootstrap


def test_a_model_always_right_against_one_always_wrong():
    a, b = np.ones((3, 200), bool), np.zeros((2, 200), bool)
    r = paired_bootstrap(a, b, resamples=500)
    assert (r["difference"], r["low"], r["high"], r["p"]) == (100.0, 100.0, 100.0, 0.0)
    assert r["seeds"] == (3, 2) and r["examples"] == 200


def test_the_same_model_is_not_better_than_itself_and_figures_are_seeded():
    rng = np.random.default_rng(0)
    a = rng.random((3, 500)) < 0.75
    r = paired_bootstrap(a, a)
    assert r["difference"] == 0.0 and r["p"] == 1.0
    b = a.copy()
    for seed in range(3):  # B is A with 25 of its right answers made wrong: exactly 5 points worse
        b[seed, rng.choice(np.flatnonzero(a[seed]), size=25, replace=False)] = False
    first, again = paired_bootstrap(a, b, seed=1), paired_bootstrap(a, b, seed=1)
    assert first == again
    assert first["difference"] == pytest.approx(5.0)
    assert 0 < first["low"] < first["difference"] < first["high"] and first["p"] < 0.01
    assert "points test accuracy (95% CI" in describe("A", "B", first)


def test_a_small_difference_on_few_examples_is_not_called_significant():
    rng = np.random.default_rng(3)
    a, b = rng.random((3, 60)) < 0.72, rng.random((3, 60)) < 0.70
    r = paired_bootstrap(a, b)
    assert r["low"] < 0 < r["high"] and r["p"] > 0.05


def test_correctness_and_mismatched_test_sets():
    assert correctness([[1, 0, 1], [0, 0, 1]], [1, 0, 0]).tolist() == [[True, True, False], [False, True, False]]
    with pytest.raises(ValueError, match="different test sets"):
        paired_bootstrap(np.ones((1, 5)), np.ones((1, 6)))
