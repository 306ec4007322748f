"""Checks before any work: that the columns named by flags exist and that the corpus's labels map onto
the teacher's, from a sample of records at the start of each file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fsspec

from kdaug.core.corpus.labels import LabelSpace
from kdaug.core.corpus.read import read_unit
from kdaug.core.corpus.records import BadRecord, ColumnSpec, CorpusError, RawRecord, ReadUnit
from kdaug.core.flags import option


def peek_columns(units: list[ReadUnit], max_records: int = 50) -> set[str]:
    """The column names of the first parsable records, for checking flags before any work."""
    if units and units[0].fmt == "parquet":
        import pyarrow.parquet as pq

        with fsspec.open(units[0].path, "rb") as fh:
            return set(pq.ParquetFile(fh).schema_arrow.names)
    cols: set[str] = set()
    seen = 0
    for rec in _sample_records(units):
        if rec.fields is not None:
            cols |= set(rec.fields)
            seen += 1
        if seen >= max_records:
            return cols
    return cols


def peek_labels(units: list[ReadUnit], column: str, max_records: int = 1000) -> list[Any]:
    values = []
    for rec in _sample_records(units):
        if rec.fields is not None and rec.fields.get(column) not in (None, ""):
            values.append(rec.fields[column])
        if len(values) >= max_records:
            return values
    return values


def _sample_records(units: list[ReadUnit]) -> Iterator[RawRecord]:
    """Records from the start of each unit that starts a file, for the checks before any work: a later
    byte range would need a scan of its file to find its first record."""
    for unit in units:
        if unit.start == 0:
            yield from read_unit(unit)


def check_columns(units: list[ReadUnit], columns: ColumnSpec, what: str = "the corpus", prefix: str = "") -> None:
    """Fails fast when a column named by a setting is not in the corpus (`what`, e.g. "--eval 'dev.csv'";
    `prefix`: the settings' prefix, e.g. "eval_" for eval_text_column)."""
    present = peek_columns(units)
    if not present:
        raise CorpusError(f"{what} has no readable records")
    for key in ("text", "text_pair", "label", "id"):
        col = getattr(columns, key)
        if col and col not in present:
            raise CorpusError(
                f"column {col!r} ({option(prefix + key + '_column')}) is not in {what}; its columns are "
                f"{sorted(present)}"
            )


def check_labels(units: list[ReadUnit], column: str, labels: LabelSpace) -> None:
    """Fails fast when the corpus labels do not map onto the teacher's classes at all.

    Single unknown labels are bad records (dead-lettered); a corpus none of whose sampled labels maps
    is a mismatch between corpus and teacher, and no job should start on it.
    """
    sample = peek_labels(units, column)
    if not sample:
        return
    errors = []
    for value in sample:
        try:
            labels.resolve(value)
            return
        except BadRecord as err:
            errors.append(str(err))
    examples = sorted({repr(v) for v in sample})[:6]
    raise CorpusError(
        f"none of the corpus labels in column {column!r} (e.g. {', '.join(examples)}) maps onto the "
        f"teacher's labels {labels.id2label}: {errors[0]}. Pass {option('label_map')} CORPUS_VALUE=TEACHER_LABEL,... "
        f"or a teacher whose config has the right id2label."
    )
