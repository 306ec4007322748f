"""Reading a unit of work: its records, each with a stable position ("reviews.jsonl:17") and, where it
could not be parsed, the reason. Byte ranges of a text file start where find_range_starts() says."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import fsspec

from kdaug.core.corpus.plan import compression_of
from kdaug.core.corpus.records import (
    BOM,
    FILE_START,
    MAX_RAW_CHARS,
    UNDECODABLE,
    CorpusError,
    RangeStart,
    RawRecord,
    ReadUnit,
)

# A text field may be as long as a record can be (a 200,000-character review must read as JSONL does);
# the csv module's default cap is 131,072 characters. Capped at a C long on every platform.
csv.field_size_limit(2**31 - 1)


def read_unit(unit: ReadUnit, start: RangeStart | None = None) -> Iterator[RawRecord]:
    """The unit's records. A byte range after a file's first needs its RangeStart (find_range_starts)."""
    if start is None:
        if unit.start > 0:
            raise ValueError(f"{unit.rel} from byte {unit.start}: a byte range needs its start (find_range_starts)")
        start = FILE_START
    if unit.fmt == "jsonl":
        yield from _read_jsonl(unit, start)
    elif unit.fmt in ("csv", "tsv"):
        yield from _read_csv(unit, start)
    elif unit.fmt == "parquet":
        yield from _read_parquet(unit)
    elif unit.fmt == "hf_dataset":
        yield from _read_arrow_stream(unit)
    else:
        raise CorpusError(f"unknown format {unit.fmt!r}")


def find_range_starts(ranges: list[ReadUnit]) -> list[RangeStart]:
    """The RangeStart of each byte range of one file (all its ranges, in order), by one scan from the
    file's start that stops at the last range's first record. A record belongs to the range its first
    byte is in; CSV rows are followed through quoted newlines, so a range never starts inside a row."""
    starts: list[RangeStart] = []
    header, header_at = None, -1
    first = ranges[0]
    with _open_text_file(first) as f:
        for offset, line, record, _ in _records(f, first.fmt, FILE_START):
            while len(starts) < len(ranges) and (record is None or offset >= ranges[len(starts)].start):
                starts.append(RangeStart(offset, line, header if 0 <= header_at < offset else None))
            if len(starts) == len(ranges):
                break
            if (
                first.fmt != "jsonl"
                and first.csv_header
                and header is None
                and isinstance(record, list)
                and not _blank_row(record)
            ):
                header, header_at = tuple(h.strip() for h in record), offset
    return starts


def _records(f, fmt: str, start: RangeStart) -> Iterator[tuple[int, int, Any, str]]:
    """(byte offset, line number, record, the record's text exactly as in the file) from `start` on."""
    return _jsonl_lines(f, start) if fmt == "jsonl" else _csv_rows(f, fmt, start)


def _jsonl_lines(f, start: RangeStart) -> Iterator[tuple[int, int, bytes | None, str]]:
    """(byte offset, line number, line, "") from `start` on; then (end offset, next line, None, "")."""
    f.seek(start.offset)
    offset, line_no = start.offset, start.line
    for line in f:
        yield offset, line_no, line, ""
        offset, line_no = offset + len(line), line_no + 1
    yield offset, line_no, None, ""


def _csv_rows(f, fmt: str, start: RangeStart) -> Iterator[tuple[int, int, list[str] | csv.Error | None, str]]:
    """(byte offset, first line number, fields or the error that stopped them, the row's lines as in the
    file) of every row, blank ones too, from `start` on; then (end offset, next line, None, ""). Streamed,
    never read whole. Undecodable
    bytes survive as lone surrogates (surrogateescape), so one bad row is rejected and the rest still
    read, and each line encodes back to exactly its bytes, which gives every row its offset."""
    f.seek(start.offset)
    offset = start.offset
    if offset == 0 and f.read(3) == BOM:
        offset = 3
    f.seek(offset)
    consumed = offset
    row_lines: list[str] = []  # the lines the reader pulled for the row it is reading

    def lines():
        nonlocal consumed
        text = io.TextIOWrapper(f, encoding="utf-8", errors="surrogateescape", newline="")
        try:
            for text_line in text:
                consumed += len(text_line.encode("utf-8", "surrogateescape"))
                row_lines.append(text_line)
                yield text_line
        finally:  # the caller opened the file and closes it, maybe before this generator is finalized
            if not f.closed:
                text.detach()

    # The reader pulls a row's lines and no more, so `consumed` is where the next row starts.
    reader = csv.reader(lines(), delimiter="\t" if fmt == "tsv" else ",")
    line_no = start.line
    while True:
        row: list[str] | csv.Error
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:  # e.g. a field past csv's size limit: the reader goes on at the next line
            row = err
        raw = "".join(row_lines)
        row_lines.clear()
        yield offset, line_no, row, raw[:-2] if raw.endswith("\r\n") else raw.removesuffix("\n")
        offset, line_no = consumed, start.line + reader.line_num
    yield offset, line_no, None, ""


def _blank_row(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def _clip(s: str) -> str:
    return s if len(s) <= MAX_RAW_CHARS else s[:MAX_RAW_CHARS] + "...[cut]"


def _open_text_file(unit: ReadUnit):
    return fsspec.open(unit.path, "rb", compression=compression_of(unit.path))


def _records_of(unit: ReadUnit, f, start: RangeStart) -> Iterator[tuple[int, int, Any, str]]:
    """(offset, line number, record, its text) of the records a unit owns: from `start` to the end of its
    byte range, or of the file."""
    for offset, line, record, raw in _records(f, unit.fmt, start):
        if record is None or (unit.end is not None and offset >= unit.end):
            return
        yield offset, line, record, raw


def _read_jsonl(unit: ReadUnit, start: RangeStart) -> Iterator[RawRecord]:
    with _open_text_file(unit) as f:
        for offset, lineno, line, _ in _records_of(unit, f, start):
            pos = f"{unit.rel}:{lineno}"
            if offset == 0 and line.startswith(BOM):
                line = line[3:]
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as err:
                yield RawRecord(
                    pos,
                    None,
                    _clip(line.decode("utf-8", "backslashreplace")),
                    f"undecodable bytes (not UTF-8) at byte {err.start} of the line",
                )
                continue
            if not text.strip():
                continue  # blank lines are layout, not records
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                yield RawRecord(pos, None, _clip(text.rstrip("\n")), f"malformed JSON: {err.msg} at column {err.colno}")
                continue
            except RecursionError:
                yield RawRecord(pos, None, _clip(text.rstrip("\n")), "JSON nested too deeply to read")
                continue
            if not isinstance(obj, dict):
                yield RawRecord(
                    pos, None, _clip(text.rstrip("\n")), f"a JSONL record must be an object, got {type(obj).__name__}"
                )
                continue
            yield RawRecord(pos, obj, _clip(text.rstrip("\n")))


def _read_csv(unit: ReadUnit, start: RangeStart) -> Iterator[RawRecord]:
    header = list(start.header) if start.header is not None else None
    with _open_text_file(unit) as f:
        for _, line, row, text in _records_of(unit, f, start):
            pos = f"{unit.rel}:{line}"
            # The row as it stands in the file (quotes, delimiters, line breaks): a dead letter's record
            # parses back as the row it was.
            raw = _clip(text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
            if isinstance(row, csv.Error):
                yield RawRecord(pos, None, raw, f"unreadable CSV row: {row}")
                continue
            if _blank_row(row):
                continue
            if unit.csv_header and header is None:
                header = [h.strip() for h in row]
                continue
            if any(UNDECODABLE.search(cell) for cell in row):
                yield RawRecord(pos, None, raw, "undecodable bytes (not UTF-8)")
                continue
            if header is not None and len(row) != len(header):
                if any("\n" in cell for cell in row):
                    yield from _swallowed_lines(unit.rel, line, row)
                else:
                    yield RawRecord(pos, None, raw, f"expected {len(header)} fields, got {len(row)}")
                continue
            names = header if header is not None else [str(i) for i in range(len(row))]
            yield RawRecord(pos, dict(zip(names, row)), raw)


def _swallowed_lines(rel: str, line: int, row: list[str]) -> Iterator[RawRecord]:
    """A row that spans several lines and has the wrong number of fields: a quote opened on its first
    line and never closed where it should be, so the csv reader took the following lines as part of one
    field. Each of those lines is reported at its own position, so every row of the file is accounted for."""
    lines = ",".join(row).rstrip("\n").split("\n")
    last = line + len(lines) - 1
    for i, text in enumerate(lines):
        reason = (
            f'unbalanced quote: a field opened with " on line {line} is not closed, so lines {line}-{last} '
            f"were read as one row (this is line {line + i})"
        )
        yield RawRecord(
            f"{rel}:{line + i}",
            None,
            _clip(text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")),
            reason,
        )


def _read_parquet(unit: ReadUnit) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq

    with fsspec.open(unit.path, "rb") as fh:
        pf = pq.ParquetFile(fh)
        offset = sum(pf.metadata.row_group(g).num_rows for g in range(unit.part))
        if pf.metadata.num_row_groups == 0:
            return
        table = pf.read_row_group(unit.part)
    yield from _rows_of_table(table, unit.rel, offset)


def _read_arrow_stream(unit: ReadUnit) -> Iterator[RawRecord]:
    import pyarrow as pa

    with fsspec.open(unit.path, "rb") as fh:
        reader = pa.ipc.open_stream(fh)
        offset = 0
        for batch in reader:
            yield from _rows_of_table(pa.Table.from_batches([batch]), unit.rel, offset)
            offset += batch.num_rows


def _rows_of_table(table, rel: str, offset: int) -> Iterator[RawRecord]:
    for i, row in enumerate(table.to_pylist()):
        yield RawRecord(f"{rel}:{offset + i}", row, _clip(json.dumps(row, ensure_ascii=False, default=str)))
