"""Scoring a student on a held-out labelled corpus: which columns it is read with, reading it (bad
records said, unknown labels refused), accuracy and macro-F1."""

from __future__ import annotations

import logging

import torch

from kdaug.core.corpus import (
    BadRecord,
    ColumnSpec,
    LabelSpace,
    check_columns,
    plan_read_units,
    read_unit,
    validate_record,
)
from kdaug.core.flags import given, option
from kdaug.core.metrics import classification_scores
from kdaug.trainers.config import TrainConfig, TrainConfigError
from kdaug.trainers.students import Student

log = logging.getLogger("kdaug")


def eval_columns(cfg: TrainConfig, split) -> ColumnSpec:
    """The columns --eval and --test are read with: the training data's (the corpus columns a dataset was
    materialized from, or a plain corpus's own), each replaced by its eval_* setting where one is given.
    A student trained on single texts and scored on pairs (or the reverse) would report a figure of
    something else, so that mismatch is refused."""
    data = split.source_columns
    columns = ColumnSpec(
        cfg.eval_text_column or data.text,
        cfg.eval_text_pair_column or data.text_pair,
        cfg.eval_label_column or data.label or "label",
    )
    if columns.text_pair and not data.text_pair:
        raise TrainConfigError(
            f"{given('eval_text_pair_column', columns.text_pair)} reads {option('eval')} as sentence pairs, but "
            f"{cfg.data!r} holds single texts (no text pair column): a student is scored on what it was "
            f"trained on; drop {option('eval_text_pair_column')}"
        )
    return columns


# A held-out set: its texts, their pairs (None where it has none) and gold label ids.
EvalSet = tuple[list[str], list[str | None], list[int]]


def load_eval(
    path: str, columns: ColumnSpec, label_names: list[str], which: str = "eval", prefix: str = "eval_"
) -> EvalSet:
    """A held-out set (`which` names its setting: eval or test; `prefix`, its column settings': eval_ for
    --eval-text-column), read with `columns` (eval_columns()).
    Its columns are checked first (a missing one fails naming the file's columns and the setting to
    change); labels the training data does not know fail the run before any training (scoring on the
    rest would report accuracy on part of the set); other unusable records are left out, and said."""
    where = given(which, path)
    units = plan_read_units(path)
    check_columns(units, columns, where, prefix=prefix)
    labels = LabelSpace(dict(enumerate(label_names)))
    texts, pairs, gold = [], [], []
    unknown: dict[str, list[str]] = {}  # label value -> positions
    skipped: list[str] = []
    for unit in units:
        for rec in read_unit(unit):
            try:
                ex = validate_record(rec, columns, None)
            except BadRecord as err:
                skipped.append(f"{rec.position}: {err}")
                continue
            raw_label = (rec.fields or {}).get(columns.label)
            try:
                label = labels.resolve(raw_label)
            except BadRecord:
                unknown.setdefault(repr(raw_label), []).append(rec.position)
                continue
            if label is not None:
                texts.append(ex.text)
                pairs.append(ex.text_pair)
                gold.append(label)
    if unknown:
        examples = "; ".join(f"{value} ({len(at)} records, e.g. {at[0]})" for value, at in unknown.items())
        raise TrainConfigError(
            f"{where} has labels the training data does not know: {examples}. The data's labels are "
            f"{label_names}; map or remove those records"
        )
    if skipped:
        log.warning(
            "%s: %d unusable records left out (%s%s)",
            where,
            len(skipped),
            skipped[0],
            ", ..." if len(skipped) > 1 else "",
        )
    if not gold:
        raise TrainConfigError(
            f"{where} has no labelled records in column {columns.label!r} ({option(prefix + 'label_column')})"
        )
    return texts, pairs, gold


def evaluate(student: Student, texts, pairs, gold, batch_size: int = 256, predictions: bool = False) -> dict:
    """Accuracy and macro-F1 on a labelled set (with `predictions`, also each example's predicted class,
    for paired comparisons between students)."""
    student.eval()
    preds = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            logits = student(student.encode(texts[i : i + batch_size], pairs[i : i + batch_size]))
            preds += logits.argmax(-1).tolist()
    student.train()
    scores = classification_scores(gold, preds)
    return {**scores, "predictions": preds} if predictions else scores
