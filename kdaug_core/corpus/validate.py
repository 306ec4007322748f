"""Validating one record: a SourceExample, or BadRecord with the reason (the record's dead letter)."""

from __future__ import annotations

from kdaug.core.corpus.labels import LabelSpace
from kdaug.core.corpus.records import UNDECODABLE, BadRecord, ColumnSpec, RawRecord, SourceExample
from kdaug.core.seeding import content_id


def _text_field(fields: dict, column: str, what: str) -> str:
    if column not in fields:
        raise BadRecord(f"missing {what} column {column!r}")
    value = fields[column]
    if value is None:
        raise BadRecord(f"{what} is missing (null)")
    if not isinstance(value, str):
        raise BadRecord(f"{what} has type {type(value).__name__}; expected a string")
    if UNDECODABLE.search(value):
        raise BadRecord(f"{what} has undecodable bytes")
    if not value.strip():
        raise BadRecord(f"{what} is empty")
    return value


def validate_record(rec: RawRecord, columns: ColumnSpec, labels: LabelSpace | None) -> SourceExample:
    if rec.error:
        raise BadRecord(rec.error)
    fields = rec.fields or {}
    text = _text_field(fields, columns.text, "text")
    pair = _text_field(fields, columns.text_pair, "text_pair") if columns.text_pair else None
    label = None
    if columns.label:
        if columns.label not in fields:
            raise BadRecord(f"missing label column {columns.label!r}")
        label = labels.resolve(fields[columns.label]) if labels else None
    if columns.id:
        raw_id = fields.get(columns.id)
        if raw_id is None or isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or not str(raw_id).strip():
            raise BadRecord(f"id in column {columns.id!r} is missing or not a string/int: {raw_id!r}")
        example_id = str(raw_id).strip()
    else:
        example_id = content_id(rec.position, text, pair, fields.get(columns.label) if columns.label else None)
    return SourceExample(example_id, text, pair, label, rec.position)
