"""Quantities of a model's logits (those kdaug stores per row, and the class probabilities), computed stably
in float64."""

from __future__ import annotations

import numpy as np


def _log_softmax64(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def probabilities_of_logits(logits: np.ndarray) -> np.ndarray:
    """softmax(logits), row-wise, as float32."""
    return np.exp(_log_softmax64(logits)).astype(np.float32)


def entropy_of_logits(logits: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of softmax(logits), row-wise."""
    logp = _log_softmax64(logits)
    return (-(np.exp(logp) * logp).sum(axis=-1)).astype(np.float32)


def kl_of_logits(p_logits: np.ndarray, q_logits: np.ndarray) -> np.ndarray:
    """KL(softmax(p) || softmax(q)) in nats, row-wise: for a copy, p is the teacher on the copy and q the
    teacher on its source."""
    logp, logq = _log_softmax64(p_logits), _log_softmax64(q_logits)
    return np.maximum((np.exp(logp) * (logp - logq)).sum(axis=-1), 0.0).astype(np.float32)
