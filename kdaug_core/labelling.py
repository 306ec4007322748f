"""Labelling rows with the teacher: its columns on every row, the copies' shift from their source, and
failures isolated to the rows that cause them. Pure functions over a loaded Teacher and row dicts; the
pipeline's model handler calls them once per chunk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kdaug.core.logits import kl_of_logits
from kdaug.core.teacher import Teacher


@dataclass
class LabelledRows:
    rows: list[dict]  # input order, teacher columns added (teacher_logits as float32 arrays)
    failed: list[tuple[dict, str]] = field(default_factory=list)  # (row, reason)


def label_rows(teacher: Teacher, rows: list[dict], on_batch: Callable[[int], None] | None = None) -> LabelledRows:
    """Adds teacher_logits, teacher_pred, teacher_entropy, truncated to each row. Rows the teacher cannot
    label are split off by bisection (an out-of-memory batch, a text that breaks the tokenizer), so one
    bad row costs itself and never its chunk. on_batch(n): after each forward pass (progress)."""
    done: dict[int, dict] = {}
    failed: list[tuple[dict, str]] = []
    pending = [list(range(len(rows)))]
    while pending:
        idx = pending.pop()
        try:
            _label_group(teacher, [rows[i] for i in idx], [done.setdefault(i, dict(rows[i])) for i in idx], on_batch)
        except Exception as err:  # noqa: BLE001 - isolate, then report with the reason
            for i in idx:
                done.pop(i, None)
            if len(idx) == 1:
                failed.append((rows[idx[0]], f"teacher inference failed: {type(err).__name__}: {err}"))
            else:
                pending += [idx[: len(idx) // 2], idx[len(idx) // 2 :]]
    return LabelledRows([done[i] for i in sorted(done)], failed)


def _label_group(
    teacher: Teacher, rows: list[dict], out: list[dict], on_batch: Callable[[int], None] | None = None
) -> None:
    # A chunk may mix single texts and pairs only across corpora; label each kind on its own.
    for has_pair in (False, True):
        idx = [i for i, r in enumerate(rows) if (r.get("text_pair") is not None) == has_pair]
        if not idx:
            continue
        labels = teacher.label(
            [rows[i]["text"] for i in idx], [rows[i]["text_pair"] for i in idx] if has_pair else None, on_batch=on_batch
        )
        pred, entropy = labels.pred, labels.entropy
        for j, i in enumerate(idx):
            out[i].update(
                teacher_logits=labels.logits[j],
                teacher_pred=int(pred[j]),
                teacher_entropy=float(entropy[j]),
                truncated=bool(labels.truncated[j]),
            )


def add_kl_to_source(rows: list[dict]) -> None:
    """Sets teacher_kl_to_source on every row: KL(teacher(copy) || teacher(source)) for copies whose
    source is among `rows` (a chunk holds each source with all its copies), None otherwise."""
    sources = {r["id"]: r["teacher_logits"] for r in rows if r["id"] == r["source_id"]}
    copies = [r for r in rows if r["id"] != r["source_id"] and r["source_id"] in sources]
    for r in rows:
        r["teacher_kl_to_source"] = None
    if copies:
        kl = kl_of_logits(
            np.stack([r["teacher_logits"] for r in copies]), np.stack([sources[r["source_id"]] for r in copies])
        )
        for r, value in zip(copies, kl):
            r["teacher_kl_to_source"] = float(value)
