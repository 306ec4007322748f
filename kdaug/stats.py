"""Is A better than B? A paired bootstrap over test examples, for claims a results table makes.

Each model is given as its correctness on every test example for each of its seeds (seeds x examples).
Resampling the test examples (the same draw for both models, so they stay paired) and averaging over
seeds gives the distribution of the accuracy difference that another test set of the same size would
show: its 95% interval and how often A fails to beat B. Seeded: the same inputs give the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def correctness(predictions: Sequence[Sequence[int]], gold: Sequence[int]) -> np.ndarray:
    """seeds x examples booleans: whether each seed's prediction on each example is right."""
    return np.asarray(predictions) == np.asarray(gold)[None, :]


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = 10_000, seed: int = 0) -> dict:
    """Accuracy of A minus B (mean over seeds, in points), its 95% bootstrap interval over test examples,
    and p: the share of resamples where A is not better than B (one-sided)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"A and B were scored on different test sets ({a.shape[1]} vs {b.shape[1]} examples)")
    per_example = a.mean(axis=0) - b.mean(axis=0)  # the seeds' mean difference on each example
    rng = np.random.default_rng(seed)
    n = per_example.size
    diffs = np.empty(resamples)
    for start in range(0, resamples, 1000):  # in blocks: bounded memory for large test sets
        k = min(1000, resamples - start)
        diffs[start : start + k] = per_example[rng.integers(0, n, size=(k, n))].mean(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {
        "difference": 100 * float(per_example.mean()),
        "low": 100 * float(low),
        "high": 100 * float(high),
        "p": float(np.mean(diffs <= 0)),
        "examples": int(n),
        "seeds": (int(a.shape[0]), int(b.shape[0])),
    }


def describe(name_a: str, name_b: str, result: dict) -> str:
    """One line for a results table: the difference, its interval, p."""
    r = result
    p_value = "< 0.001" if r["p"] < 0.001 else f"= {r['p']:.3f}"  # from 10,000 resamples: not finer than that
    return (
        f"{name_a} vs {name_b}: {r['difference']:+.1f} points test accuracy (95% CI {r['low']:+.1f} to "
        f"{r['high']:+.1f}; p {p_value} that it is not better; paired bootstrap over {r['examples']} test "
        f"examples, {r['seeds'][0]} and {r['seeds'][1]} seeds)"
    )
