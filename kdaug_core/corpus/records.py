"""What reading a corpus deals in: the columns asked for, units of work, records as read and as
validated, and the two errors (a corpus that cannot be read at all; one unusable record)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kdaug.core.errors import KdaugError

FORMATS = ("jsonl", "csv", "tsv", "parquet", "hf_dataset")
# Undecodable bytes survive decoding as lone surrogates (errors="surrogateescape"): we find them there.
UNDECODABLE = re.compile("[\udc80-\udcff]")
# Any other lone surrogate came from an escape in the data (JSON "\\ud83d", a cut emoji): not Unicode text.
SURROGATE = re.compile("[\ud800-\udfff]")
MAX_RAW_CHARS = 4000
# A JSONL/CSV/TSV file larger than this is read as byte ranges of this size, so that one big file still
# spreads over workers. The recipe fixes it (input_range_bytes), never the worker count: ranges decide chunks.
RANGE_BYTES = 64 * 2**20
BOM = b"\xef\xbb\xbf"


class CorpusError(KdaugError, ValueError):
    """The corpus as a whole cannot be read as asked (missing path, unknown format, missing column)."""


class BadRecord(KdaugError, ValueError):
    """One record is unusable; the message is the reason written to the dead letter, `record_id` the
    record's own id when it has a readable one (so a user can find it)."""

    def __init__(self, reason: str, record_id: str | None = None):
        super().__init__(reason)
        self.record_id = record_id


@dataclass(frozen=True)
class ColumnSpec:
    text: str = "text"
    text_pair: str | None = None
    label: str | None = "label"
    id: str | None = None

    def required(self) -> list[str]:
        return [c for c in (self.text, self.text_pair, self.label, self.id) if c]


@dataclass(frozen=True)
class ReadUnit:
    path: str
    fmt: str
    rel: str  # the file's name relative to the input root: part of every position, so ids are stable
    part: int = 0  # Parquet row group; 0 elsewhere
    csv_header: bool = True
    start: int = 0  # a byte range [start, end) of a large text file: the records whose first byte is in it
    end: int | None = None  # None: the whole file


@dataclass(frozen=True)
class RangeStart:
    """Where reading a byte range begins. Line numbers (so positions and ids) and CSV quoting depend on
    everything before a range, so one scan of the file finds these (find_range_starts)."""

    offset: int  # the first record that starts at or after the range's start (the file's end if none)
    line: int  # its line number
    header: tuple[str, ...] | None = None  # the file's CSV header, when it lies before `offset`


FILE_START = RangeStart(0, 1)


@dataclass(frozen=True)
class RawRecord:
    position: str
    fields: dict | None  # None when the record could not even be parsed
    raw: str  # the record as read (for the dead letter), cut to MAX_RAW_CHARS
    error: str | None = None


@dataclass(frozen=True)
class SourceExample:
    id: str
    text: str
    text_pair: str | None
    label: int | None
    position: str
