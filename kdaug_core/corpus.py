"""Reading a labelled text corpus: JSONL, CSV/TSV, Parquet, or a directory saved by `datasets`.

Reading is split in pure steps so that a pipeline can shard it:
  plan_read_units(path)   -> the work units (a file, a byte range of a large text file, a Parquet row group,
                             an Arrow file of a saved dataset)
  find_range_starts(file) -> where each byte range of a text file split in ranges starts: its first
                             record's offset and line number (one scan of the file)
  read_unit(unit, start)  -> RawRecord per record, with a stable position ("reviews.jsonl:17")
and validation is a third, per record:
  validate_record(raw, columns, labels) -> SourceExample, or BadRecord with the reason.
A bad record never stops a job: it is rejected with its position and reason, and the job goes on.
"""

from __future__ import annotations

from kdaug.core.errors import KdaugError

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import fsspec

from kdaug.core.seeding import content_id

FORMATS = ("jsonl", "csv", "tsv", "parquet", "hf_dataset")
_EXTENSIONS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv",
               ".parquet": "parquet", ".pq": "parquet"}
# Text corpora may be compressed (reviews.jsonl.gz); such a file is read whole, as it cannot be entered
# at a byte offset.
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
# Undecodable bytes survive decoding as lone surrogates (errors="surrogateescape"): we find them there.
_SURROGATE = re.compile("[\udc80-\udcff]")
MAX_RAW_CHARS = 4000
# A JSONL/CSV/TSV file larger than this is read as byte ranges of this size, so that one big file still
# spreads over workers. The recipe fixes it (input_range_bytes), never the worker count: ranges decide chunks.
RANGE_BYTES = 64 * 2**20
_BOM = b"\xef\xbb\xbf"


class CorpusError(KdaugError, ValueError):
    """The corpus as a whole cannot be read as asked (missing path, unknown format, missing column)."""


class BadRecord(KdaugError, ValueError):
    """One record is unusable; the message is the reason written to the dead letter."""


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


@dataclass
class LabelSpace:
    """The teacher's classes, and how corpus labels (ints, int strings or names) map onto them."""

    id2label: dict[int, str]
    label_map: dict[str, str] = field(default_factory=dict)  # corpus value -> teacher index or name

    def __post_init__(self):
        self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
        self._by_name = {v: k for k, v in self.id2label.items()}
        self._by_folded = {v.casefold(): k for k, v in self.id2label.items()}

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    def names(self) -> list[str]:
        return [self.id2label[i] for i in range(self.num_labels)]

    def resolve(self, value: Any) -> int | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if self.label_map:
            key = _label_key(value)
            if key not in self.label_map:
                raise BadRecord(f"label {value!r} is not in --label-map ({', '.join(self.label_map)})")
            value = self.label_map[key]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise BadRecord(f"label has type {type(value).__name__}; expected an int or a label name")
        if isinstance(value, float):
            if not value.is_integer():
                raise BadRecord(f"label {value!r} is not an integer")
            value = int(value)
        if isinstance(value, str):
            s = value.strip()
            if re.fullmatch(r"[+-]?\d+", s):
                value = int(s)
            elif s in self._by_name:
                return self._by_name[s]
            elif s.casefold() in self._by_folded:
                return self._by_folded[s.casefold()]
            else:
                raise BadRecord(f"unknown label name {s!r}; the teacher's labels are {self.names()}")
        if not 0 <= value < self.num_labels:
            raise BadRecord(f"label {value} is out of range for a teacher with {self.num_labels} classes")
        return value


def _label_key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def parse_label_map(spec: str | dict | None) -> dict[str, str]:
    """'-1=negative,1=positive' (or a dict from a recipe) -> {'-1': 'negative', '1': 'positive'}."""
    if not spec:
        return {}
    if isinstance(spec, dict):
        return {_label_key(k): str(v) for k, v in spec.items()}
    out = {}
    for item in spec.split(","):
        if "=" not in item:
            raise CorpusError(f"--label-map item {item!r} is not of the form CORPUS_VALUE=TEACHER_LABEL")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


# ---------------------------------------------------------------------------------------------- planning

def detect_format(path: str) -> str:
    fs, p = fsspec.core.url_to_fs(path)
    if fs.isdir(p):
        if fs.exists(f"{p}/state.json") or fs.exists(f"{p}/dataset_dict.json"):
            return "hf_dataset"
        formats = {_format_of(f) for f in fs.find(p)} - {None}
        if len(formats) == 1:
            return formats.pop()
        raise CorpusError(f"cannot tell the format of directory {path!r} (found {sorted(formats) or 'no'} "
                          f"corpus files); pass --input-format one of {FORMATS}")
    if fmt := _format_of(p):
        return fmt
    raise CorpusError(f"cannot tell the format of {path!r} from its extension; pass --input-format "
                      f"one of {FORMATS}")


def _compression(path: str) -> str | None:
    return _COMPRESSIONS.get(os.path.splitext(path)[1].lower())


def _format_of(path: str) -> str | None:
    """The format a file name says (a compression suffix looked through), or None."""
    stem, ext = os.path.splitext(path.lower())
    if ext not in _COMPRESSIONS:
        return _EXTENSIONS.get(ext)
    fmt = _EXTENSIONS.get(os.path.splitext(stem)[1])
    return fmt if fmt != "parquet" else None  # Parquet compresses inside the file


def plan_read_units(path: str, fmt: str | None = None, split: str = "train", csv_header: bool = True,
                    range_bytes: int | None = None) -> list[ReadUnit]:
    """Lists the work units of a corpus: a file, or one Parquet row group, or one Arrow file; with
    `range_bytes`, a JSONL/CSV/TSV file larger than that is listed as consecutive byte ranges."""
    fs, root = fsspec.core.url_to_fs(path)
    if not fs.exists(root):
        raise CorpusError(f"input {path!r} does not exist")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise CorpusError(f"unknown input format {fmt!r}; expected one of {FORMATS}")
    if fmt == "hf_dataset":
        return _plan_hf_dataset(fs, root, split)
    if fs.isdir(root):
        files = sorted(f for f in fs.find(root) if _format_of(f) == fmt)
        base = root
    else:
        files, base = [root], os.path.dirname(root)
    if not files:
        raise CorpusError(f"no {fmt} files under {path!r}")
    units = []
    for f in files:
        rel = os.path.relpath(f, base)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            with fs.open(f, "rb") as fh:
                groups = pq.ParquetFile(fh).metadata.num_row_groups
            units += [ReadUnit(_url(fs, f), fmt, rel, part=g) for g in range(max(groups, 1))]
        elif range_bytes and not _compression(f) and (size := fs.size(f)) > range_bytes:
            units += [ReadUnit(_url(fs, f), fmt, rel, csv_header=csv_header, start=a, end=min(a + range_bytes, size))
                      for a in range(0, size, range_bytes)]
        else:
            units.append(ReadUnit(_url(fs, f), fmt, rel, csv_header=csv_header))
    return units


def _url(fs, path: str) -> str:
    """A path workers can open: plain for local files, with its protocol (gs://...) otherwise."""
    local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    return path if local else fs.unstrip_protocol(path)


def _plan_hf_dataset(fs, root: str, split: str) -> list[ReadUnit]:
    if fs.exists(f"{root}/dataset_dict.json"):
        with fs.open(f"{root}/dataset_dict.json") as f:
            splits = json.load(f)["splits"]
        if split not in splits:
            raise CorpusError(f"the saved DatasetDict at {root!r} has splits {splits}, not {split!r}; "
                              f"pass --input-split")
        root, prefix = f"{root}/{split}", f"{split}/"
    else:
        prefix = ""
    with fs.open(f"{root}/state.json") as f:
        state = json.load(f)
    return [ReadUnit(_url(fs, f"{root}/{d['filename']}"), "hf_dataset", prefix + d["filename"])
            for d in state["_data_files"]]


# ----------------------------------------------------------------------------------------------- reading

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
        for offset, line, record in _records(f, first.fmt, FILE_START):
            while len(starts) < len(ranges) and (record is None or offset >= ranges[len(starts)].start):
                starts.append(RangeStart(offset, line, header if 0 <= header_at < offset else None))
            if len(starts) == len(ranges):
                break
            if first.fmt != "jsonl" and first.csv_header and header is None and isinstance(record, list) \
                    and not _blank_row(record):
                header, header_at = tuple(h.strip() for h in record), offset
    return starts


def _records(f, fmt: str, start: RangeStart) -> Iterator[tuple[int, int, Any]]:
    return _jsonl_lines(f, start) if fmt == "jsonl" else _csv_rows(f, fmt, start)


def _jsonl_lines(f, start: RangeStart) -> Iterator[tuple[int, int, bytes | None]]:
    """(byte offset, line number, line) from `start` on; then (end offset, next line, None)."""
    f.seek(start.offset)
    offset, line_no = start.offset, start.line
    for line in f:
        yield offset, line_no, line
        offset, line_no = offset + len(line), line_no + 1
    yield offset, line_no, None


def _csv_rows(f, fmt: str, start: RangeStart) -> Iterator[tuple[int, int, list[str] | csv.Error | None]]:
    """(byte offset, first line number, fields or the error that stopped them) of every row, blank ones
    too, from `start` on; then (end offset, next line, None). Streamed, never read whole. Undecodable
    bytes survive as lone surrogates (surrogateescape), so one bad row is rejected and the rest still
    read, and each line encodes back to exactly its bytes, which gives every row its offset."""
    f.seek(start.offset)
    offset = start.offset
    if offset == 0 and f.read(3) == _BOM:
        offset = 3
    f.seek(offset)
    consumed = offset

    def lines():
        nonlocal consumed
        text = io.TextIOWrapper(f, encoding="utf-8", errors="surrogateescape", newline="")
        try:
            for text_line in text:
                consumed += len(text_line.encode("utf-8", "surrogateescape"))
                yield text_line
        finally:  # the caller opened the file and closes it, maybe before this generator is finalized
            if not f.closed:
                text.detach()

    # The reader pulls a row's lines and no more, so `consumed` is where the next row starts.
    reader = csv.reader(lines(), delimiter="\t" if fmt == "tsv" else ",")
    line_no = start.line
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:  # e.g. a field past csv's size limit: the reader goes on at the next line
            row = err
        yield offset, line_no, row
        offset, line_no = consumed, start.line + reader.line_num
    yield offset, line_no, None


def _blank_row(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def _clip(s: str) -> str:
    return s if len(s) <= MAX_RAW_CHARS else s[:MAX_RAW_CHARS] + "...[cut]"


def _open_text_file(unit: ReadUnit):
    return fsspec.open(unit.path, "rb", compression=_compression(unit.path))


def _records_of(unit: ReadUnit, f, start: RangeStart) -> Iterator[tuple[int, int, Any]]:
    """(offset, line number, record) of the records a unit owns: from `start` to the end of its byte
    range, or of the file."""
    for offset, line, record in _records(f, unit.fmt, start):
        if record is None or (unit.end is not None and offset >= unit.end):
            return
        yield offset, line, record


def _read_jsonl(unit: ReadUnit, start: RangeStart) -> Iterator[RawRecord]:
    with _open_text_file(unit) as f:
        for offset, lineno, line in _records_of(unit, f, start):
            pos = f"{unit.rel}:{lineno}"
            if offset == 0 and line.startswith(_BOM):
                line = line[3:]
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as err:
                yield RawRecord(pos, None, _clip(line.decode("utf-8", "backslashreplace")),
                                f"undecodable bytes (not UTF-8) at byte {err.start} of the line")
                continue
            if not text.strip():
                continue  # blank lines are layout, not records
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                yield RawRecord(pos, None, _clip(text.rstrip("\n")), f"malformed JSON: {err.msg} at column {err.colno}")
                continue
            if not isinstance(obj, dict):
                yield RawRecord(pos, None, _clip(text.rstrip("\n")),
                                f"a JSONL record must be an object, got {type(obj).__name__}")
                continue
            yield RawRecord(pos, obj, _clip(text.rstrip("\n")))


def _read_csv(unit: ReadUnit, start: RangeStart) -> Iterator[RawRecord]:
    header = list(start.header) if start.header is not None else None
    with _open_text_file(unit) as f:
        for offset, line, row in _records_of(unit, f, start):
            pos = f"{unit.rel}:{line}"
            if isinstance(row, csv.Error):
                yield RawRecord(pos, None, "", f"unreadable CSV row: {row}")
                continue
            if _blank_row(row):
                continue
            if unit.csv_header and header is None:
                header = [h.strip() for h in row]
                continue
            raw = _clip(",".join(row).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
            if any(_SURROGATE.search(cell) for cell in row):
                yield RawRecord(pos, None, raw, "undecodable bytes (not UTF-8)")
                continue
            if header is not None and len(row) != len(header):
                yield RawRecord(pos, None, raw, f"expected {len(header)} fields, got {len(row)}")
                continue
            names = header if header is not None else [str(i) for i in range(len(row))]
            yield RawRecord(pos, dict(zip(names, row)), raw)


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


def check_columns(units: list[ReadUnit], columns: ColumnSpec) -> None:
    """Fails fast when a column named by a flag is not in the corpus."""
    present = peek_columns(units)
    if not present:
        raise CorpusError("the corpus has no readable records")
    flags = {"text": "--text-column", "text_pair": "--text-pair-column", "label": "--label-column",
             "id": "--id-column"}
    for key, flag in flags.items():
        col = getattr(columns, key)
        if col and col not in present:
            raise CorpusError(f"column {col!r} ({flag}) is not in the corpus; its columns are {sorted(present)}")


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
        f"teacher's labels {labels.id2label}: {errors[0]}. Pass --label-map CORPUS_VALUE=TEACHER_LABEL,... "
        f"or a teacher whose config has the right id2label.")


# -------------------------------------------------------------------------------------------- validation

def _text_field(fields: dict, column: str, what: str) -> str:
    if column not in fields:
        raise BadRecord(f"missing {what} column {column!r}")
    value = fields[column]
    if value is None:
        raise BadRecord(f"{what} is missing (null)")
    if not isinstance(value, str):
        raise BadRecord(f"{what} has type {type(value).__name__}; expected a string")
    if _SURROGATE.search(value):
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
