"""Planning a read: the corpus's format, and its units of work (a file, a byte range of a large text
file, a Parquet row group, an Arrow file of a saved `datasets` directory)."""

from __future__ import annotations

import json
import os

import fsspec

from kdaug.core.corpus.records import FORMATS, CorpusError, ReadUnit
from kdaug.core.flags import option

_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Text corpora may be compressed (reviews.jsonl.gz); such a file is read whole, as it cannot be entered
# at a byte offset.
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}


def detect_format(path: str) -> str:
    fs, p = fsspec.core.url_to_fs(path)
    if fs.isdir(p):
        if fs.exists(f"{p}/state.json") or fs.exists(f"{p}/dataset_dict.json"):
            return "hf_dataset"
        formats = {fmt for f in fs.find(p) if (fmt := _format_of(f))}
        if len(formats) == 1:
            return formats.pop()
        raise CorpusError(
            f"cannot tell the format of directory {path!r} (found {sorted(formats) or 'no'} "
            f"corpus files); pass {option('input_format')} one of {FORMATS}"
        )
    if fmt := _format_of(p):
        return fmt
    raise CorpusError(
        f"cannot tell the format of {path!r} from its extension; pass {option('input_format')} one of {FORMATS}"
    )


def compression_of(path: str) -> str | None:
    return _COMPRESSIONS.get(os.path.splitext(path)[1].lower())


def _format_of(path: str) -> str | None:
    """The format a file name says (a compression suffix looked through), or None."""
    stem, ext = os.path.splitext(path.lower())
    if ext not in _COMPRESSIONS:
        return _EXTENSIONS.get(ext)
    fmt = _EXTENSIONS.get(os.path.splitext(stem)[1])
    return fmt if fmt != "parquet" else None  # Parquet compresses inside the file


def plan_read_units(
    path: str, fmt: str | None = None, split: str = "train", csv_header: bool = True, range_bytes: int | None = None
) -> list[ReadUnit]:
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
        elif range_bytes and not compression_of(f) and (size := fs.size(f)) > range_bytes:
            units += [
                ReadUnit(_url(fs, f), fmt, rel, csv_header=csv_header, start=a, end=min(a + range_bytes, size))
                for a in range(0, size, range_bytes)
            ]
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
            raise CorpusError(
                f"the saved DatasetDict at {root!r} has splits {splits}, not {split!r}; pass {option('input_split')}"
            )
        root, prefix = f"{root}/{split}", f"{split}/"
    else:
        prefix = ""
    with fs.open(f"{root}/state.json") as f:
        state = json.load(f)
    return [
        ReadUnit(_url(fs, f"{root}/{d['filename']}"), "hf_dataset", prefix + d["filename"])
        for d in state["_data_files"]
    ]
