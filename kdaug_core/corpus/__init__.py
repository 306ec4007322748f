"""Reading a labelled text corpus: JSONL, CSV/TSV, Parquet, or a directory saved by `datasets`.

Reading is split in pure steps, a module each, so that a pipeline can shard it:
  plan_read_units(path)   -> the work units (a file, a byte range of a large text file, a Parquet row group,
                             an Arrow file of a saved dataset)
  find_range_starts(file) -> where each byte range of a text file split in ranges starts: its first
                             record's offset and line number (one scan of the file)
  read_unit(unit, start)  -> RawRecord per record, with a stable position ("reviews.jsonl:17")
and validation is a third, per record:
  validate_record(raw, columns, labels) -> SourceExample, or BadRecord with the reason.
A bad record never stops a job: it is rejected with its position and reason, and the job goes on.
"""

from kdaug.core.corpus.labels import LabelSpace, parse_label_map
from kdaug.core.corpus.plan import detect_format, plan_read_units
from kdaug.core.corpus.preflight import check_columns, check_labels, peek_columns, peek_labels
from kdaug.core.corpus.read import find_range_starts, read_unit
from kdaug.core.corpus.records import (
    FILE_START,
    FORMATS,
    MAX_RAW_CHARS,
    RANGE_BYTES,
    BadRecord,
    ColumnSpec,
    CorpusError,
    RangeStart,
    RawRecord,
    ReadUnit,
    SourceExample,
)
from kdaug.core.corpus.validate import validate_record

__all__ = [
    "FILE_START",
    "FORMATS",
    "MAX_RAW_CHARS",
    "RANGE_BYTES",
    "BadRecord",
    "ColumnSpec",
    "CorpusError",
    "LabelSpace",
    "RangeStart",
    "RawRecord",
    "ReadUnit",
    "SourceExample",
    "check_columns",
    "check_labels",
    "detect_format",
    "find_range_starts",
    "parse_label_map",
    "peek_columns",
    "peek_labels",
    "plan_read_units",
    "read_unit",
    "validate_record",
]
