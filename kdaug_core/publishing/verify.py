"""`kdaug verify DIR`: re-reads a materialized dataset and checks it against its manifest.

Per complete split: every listed file exists with its size and sha256; no unlisted file sits in data/
or dead_letter/ under the split's name (a glob-based reader would take it in); every Parquet file has
the kdaug schema its metadata names and the split's labels; the row counts, in all and per method,
are the manifest's; the dead-letter file holds as many letters as the manifest counts; and the counts
reconcile (records read = written + dead-lettered). Splits not complete, and a card or croissant.json
missing, are problems too. One message per problem; none means the dataset is as it was written.
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter

import pyarrow.parquet as pq

from kdaug.core.dataset import CARD, COMPLETE, CROISSANT, DATA, DEAD_LETTER, DatasetDir
from kdaug.core.schema import SchemaMismatchError, check_schema


def verify(url: str) -> list[str]:
    """Every problem found in the dataset at `url` (a path or fsspec URL), one message each."""
    ds = DatasetDir(url)
    try:
        manifest = ds.read_manifest()
    except ValueError as err:
        return [f"manifest.json is not valid JSON: {err}"]
    if manifest is None:
        return [f"{url!r} has no manifest.json: not a kdaug dataset, or its first materialize run did not finish"]
    problems: list[str] = []
    splits = manifest.get("splits", {})
    if not splits:
        problems.append("the manifest lists no split")
    for split, entry in sorted(splits.items()):
        if entry.get("state", COMPLETE) != COMPLETE:
            problems.append(
                f"split {split!r} is incomplete (state {entry.get('state')!r}): its materialize run stopped "
                f"while committing; run the same command again: {entry.get('command', '')}"
            )
            continue
        problems += [f"split {split!r}: {p}" for p in verify_split(ds, split, entry)]
    if any(e.get("state", COMPLETE) == COMPLETE for e in splits.values()):
        for name in (CARD, CROISSANT):
            if not ds.fs.exists(ds.path(name)):
                problems.append(f"{name} is missing (materialize writes it beside manifest.json)")
    return problems


def verify_split(ds: DatasetDir, split: str, entry: dict) -> list[str]:
    problems: list[str] = []
    files = entry.get("files")
    if files is None:
        problems.append("the manifest records no checksums (an older kdaug wrote it; materialize it again)")
        files = [{"path": p} for p in entry["data_files"] + entry.get("dead_letter_files", [])]
    problems += unlisted_files(ds, split, {f["path"] for f in files})
    present = []
    for f in files:
        if not ds.fs.exists(ds.path(f["path"])):
            problems.append(f"{f['path']} is missing")
            continue
        present.append(f["path"])
        if "sha256" in f:
            problems += checksum_problems(ds, f)
    problems += row_problems(ds, split, entry, present)
    problems += dead_letter_problems(ds, entry, present)
    return problems + count_problems(entry)


def unlisted_files(ds: DatasetDir, split: str, listed: set[str]) -> list[str]:
    """Files under the split's name in data/ or dead_letter/ the manifest does not list."""
    problems = []
    for sub in (DATA, DEAD_LETTER):
        for found in sorted(ds.fs.glob(ds.path(sub, f"{split}-*"))):
            name = f"{sub}/{posixpath.basename(found)}"
            if name not in listed:
                problems.append(f"{name} is not in the manifest (a reader of {sub}/ would take it in)")
    return problems


def checksum_problems(ds: DatasetDir, f: dict) -> list[str]:
    actual = ds.file_entry(ds.path(f["path"]), f["path"])
    if actual["bytes"] != f["bytes"]:
        return [f"{f['path']} has {actual['bytes']} bytes, the manifest says {f['bytes']}"]
    if actual["sha256"] != f["sha256"]:
        return [
            f"{f['path']}: sha256 {actual['sha256'][:16]}... does not match the manifest's {f['sha256'][:16]}... "
            f"(the file changed after it was written)"
        ]
    return []


def row_problems(ds: DatasetDir, split: str, entry: dict, present: list[str]) -> list[str]:
    """Each data file's schema, split and labels; the rows, in all and per method, against the manifest's
    (counted only when every data file is there and readable)."""
    problems: list[str] = []
    labels = entry.get("teacher", {}).get("label_names")
    rows: Counter[str] = Counter()
    readable = True
    for name in entry["data_files"]:
        if name not in present:
            readable = False
            continue
        try:
            with ds.fs.open(ds.path(name), "rb") as fh:
                parquet = pq.ParquetFile(fh)
                meta = check_schema(parquet.schema_arrow, name)
                if labels is not None and meta.label_names != labels:
                    problems.append(f"{name}: label names {meta.label_names}, the manifest's teacher has {labels}")
                if meta.split != split:
                    problems.append(f"{name}: written for split {meta.split!r}")
                for batch in parquet.iter_batches(columns=["aug_method"]):
                    rows.update(batch.column(0).to_pylist())
        except SchemaMismatchError as err:
            problems.append(str(err))
            readable = False
        except Exception as err:  # a damaged file: Parquet's reader says why
            problems.append(f"{name} cannot be read as Parquet: {err}")
            readable = False
    if readable:
        expected = entry.get("rows_per_method", {})
        if dict(rows) != {m: n for m, n in expected.items() if n}:
            problems.append(f"rows per method {dict(sorted(rows.items()))}, the manifest says {expected}")
        if sum(rows.values()) != entry.get("rows_written"):
            problems.append(
                f"{sum(rows.values())} rows in the data files, the manifest says {entry.get('rows_written')}"
            )
    return problems


def dead_letter_problems(ds: DatasetDir, entry: dict, present: list[str]) -> list[str]:
    """The dead-letter files hold as many letters (JSON lines) as the manifest counts, records' and copies'."""
    dead_expected = sum(entry.get("dead_letter_reasons", {}).values()) + sum(
        entry.get("copy_dead_letter_reasons", {}).values()
    )
    dead_files = [n for n in entry.get("dead_letter_files", []) if n in present]
    if len(dead_files) != len(entry.get("dead_letter_files", [])):
        return []  # a missing file is already a problem
    problems, letters = [], 0
    for name in dead_files:
        with ds.fs.open(ds.path(name), "rb") as fh:
            for line in fh:
                if line.strip():
                    letters += 1
                    try:
                        json.loads(line)
                    except ValueError:
                        problems.append(f"{name}: a line is not JSON")
                        break
    if letters != dead_expected:
        problems.append(f"{letters} dead letters in {DEAD_LETTER}/, the manifest counts {dead_expected}")
    return problems


def count_problems(entry: dict) -> list[str]:
    """Records read = written + dead-lettered, and one original row per record written."""
    problems = []
    read, written, dead = (int(entry.get(k) or 0) for k in ("records_read", "records_written", "records_dead_lettered"))
    if read != written + dead:
        problems.append(f"counts do not reconcile: {read} records read != {written} written + {dead} dead-lettered")
    if entry.get("rows_per_method", {}).get("original", 0) != written:
        problems.append(
            f"{written} records written, but {entry.get('rows_per_method', {}).get('original', 0)} originals"
        )
    return problems
