import math

import numpy as np
import pytest

from kdaug.core.labelling import add_kl_to_source, label_rows
from kdaug.core.logits import kl_of_logits
from kdaug.core.teacher import TeacherSettings


def test_kl_of_logits_matches_a_hand_computation():
    copy, source = np.array([[2.0, -1.0, 0.5]], np.float32), np.array([[0.1, 0.3, -2.0]], np.float32)
    p = [math.exp(v) / sum(math.exp(w) for w in copy[0]) for v in copy[0]]
    q = [math.exp(v) / sum(math.exp(w) for w in source[0]) for v in source[0]]
    by_hand = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    assert kl_of_logits(copy, source)[0] == pytest.approx(by_hand, rel=1e-6)
    assert kl_of_logits(copy, copy)[0] == 0.0
    assert kl_of_logits(copy, copy + 7.0)[0] == pytest.approx(0.0, abs=1e-7)  # shift-invariant, like softmax


def test_add_kl_to_source_only_for_copies_with_their_source_present():
    rows = [
        {"id": "a", "source_id": "a", "teacher_logits": np.array([1.0, 0.0], np.float32)},
        {"id": "a/s.0", "source_id": "a", "teacher_logits": np.array([0.0, 1.0], np.float32)},
        {"id": "b/s.0", "source_id": "b", "teacher_logits": np.array([0.0, 1.0], np.float32)},
    ]
    add_kl_to_source(rows)
    assert rows[0]["teacher_kl_to_source"] is None and rows[2]["teacher_kl_to_source"] is None
    assert rows[1]["teacher_kl_to_source"] == pytest.approx(
        float(kl_of_logits(rows[1]["teacher_logits"][None], rows[0]["teacher_logits"][None])[0])
    )
    assert rows[1]["teacher_kl_to_source"] > 0.4


def test_a_row_the_teacher_cannot_label_costs_only_itself(tiny_teacher, monkeypatch):
    teacher = TeacherSettings(str(tiny_teacher), device="cpu").load()
    real = teacher.label

    def label(texts, pairs=None, on_batch=None):
        if any("boom" in t for t in texts):
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(texts, pairs, on_batch)

    monkeypatch.setattr(teacher, "label", label)
    rows = [
        {"id": str(i), "source_id": str(i), "text": t, "text_pair": None}
        for i, t in enumerate(["good film", "boom", "bad film", "fine", "dull", "great"])
    ]
    labelled = []
    out = label_rows(teacher, rows, labelled.append)
    assert [r["id"] for r in out.rows] == ["0", "2", "3", "4", "5"]
    assert sum(labelled) == 5  # progress counts the rows labelled, forward pass by forward pass
    assert [(r["id"], "out of memory" in reason) for r, reason in out.failed] == [("1", True)]
    assert all(r["teacher_logits"].shape == (2,) for r in out.rows)
