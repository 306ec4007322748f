"""Validating one record: a SourceExample, or BadRecord with the reason (the record's dead letter) and,
where the record has a readable id, that id."""

from __future__ import annotations

from kdaug.core.corpus.labels import LabelSpace
from kdaug.core.corpus.records import SURROGATE, UNDECODABLE, BadRecord, ColumnSpec, RawRecord, SourceExample
from kdaug.core.seeding import content_id


def _text_field(fields: dict, column: str, what: str) -> str:
    if column not in fields:
        raise BadRecord(f"missing {what} column {column!r}")
    value = fields[column]
    if value is None:
        raise BadRecord(f"{what} is missing (null)")
    if not isinstance(value, str):
        raise BadRecord(f"{what} has type {type(value).__name__}; expected a string")
    _check_unicode(value, what)
    if not value.strip():
        raise BadRecord(f"{what} is empty")
    return value


def _check_unicode(value: str, what: str) -> None:
    if UNDECODABLE.search(value):
        raise BadRecord(f"{what} has undecodable bytes")
    if m := SURROGATE.search(value):
        raise BadRecord(
            f"{what} has a lone surrogate {m.group().encode('unicode_escape').decode()} at character "
            f"{m.start()} (an escape of half a character, e.g. a cut-off emoji): not valid Unicode"
        )


def _record_id(fields: dict, column: str) -> str:
    raw_id = fields.get(column)
    if raw_id is None or isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or not str(raw_id).strip():
        raise BadRecord(f"id in column {column!r} is missing or not a string/int: {raw_id!r}")
    example_id = str(raw_id).strip()
    _check_unicode(example_id, "id")
    return example_id


def validate_record(rec: RawRecord, columns: ColumnSpec, labels: LabelSpace | None) -> SourceExample:
    if rec.error:
        raise BadRecord(rec.error)
    fields = rec.fields or {}
    example_id, id_problem = None, None
    if columns.id:
        try:
            example_id = _record_id(fields, columns.id)
        except BadRecord as err:
            id_problem = err
    try:
        text = _text_field(fields, columns.text, "text")
        pair = _text_field(fields, columns.text_pair, "text_pair") if columns.text_pair else None
        label = None
        if columns.label:
            if columns.label not in fields:
                raise BadRecord(f"missing label column {columns.label!r}")
            label = labels.resolve(fields[columns.label]) if labels else None
    except BadRecord as err:
        raise BadRecord(str(err), example_id) from None
    if id_problem is not None:
        raise id_problem
    if example_id is None:
        example_id = content_id(rec.position, text, pair, fields.get(columns.label) if columns.label else None)
    return SourceExample(example_id, text, pair, label, rec.position)
