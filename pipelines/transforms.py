"""The DoFns of the materialize pipeline. Each wraps a pure function of kdaug_core; the side outputs
carry dead letters (bad records with their reasons) and counters (for the manifest)."""

from __future__ import annotations

import io
import json
import logging
import os

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import TaggedOutput

from kdaug.core.augment import AugmentSpec, build_augmenters
from kdaug.core.corpus import (
    BadRecord,
    ColumnSpec,
    LabelSpace,
    RangeStart,
    ReadUnit,
    find_range_starts,
    read_unit,
    validate_record,
)
from kdaug.core.counts import RunCounts
from kdaug.core.rows import copy_row, original_row, position_key
from kdaug.core.schema import SOFT_LABEL_COLUMNS, SoftLabels, soft_label_arrays
from kdaug.core.threads import set_torch_threads
from kdaug.pipelines.worker import keep_long_lived_out_of_gc

DEAD = "dead_letter"
COUNTS = "counts"  # partial RunCounts, summed into one for the manifest
log = logging.getLogger("kdaug")


def dead_letter(stage: str, reason: str, position: str = "", record_id: str | None = None, raw: str = "") -> dict:
    return {"stage": stage, "position": position, "id": record_id, "reason": reason, "record": raw}


def chunk_key(unit_index: int, chunk_index: int) -> str:
    return f"{unit_index:05d}-{chunk_index:05d}"


def range_starts_of_file(indexed_ranges: list[tuple[int, ReadUnit]]) -> list[tuple[int, RangeStart]]:
    """[(unit index, byte range)] of one file -> [(unit index, its RangeStart)]: one scan of the file."""
    indices = [i for i, _ in indexed_ranges]
    return list(zip(indices, find_range_starts([unit for _, unit in indexed_ranges])))


class ReadChunksFn(beam.DoFn):
    """(unit index, unit) -> (chunk key, raw records): consecutive runs of `chunk_size` records. Chunks
    are fixed by the data, so they (and the batches cut from them) are the same on every runner.
    `starts` maps the index of each byte range to its RangeStart (a side input)."""

    def __init__(self, chunk_size: int):
        self.chunk_size = chunk_size

    def process(self, indexed_unit: tuple[int, ReadUnit], starts):
        unit_index, unit = indexed_unit
        n, chunk = 0, []
        for rec in read_unit(unit, starts.get(unit_index)):
            n += 1
            chunk.append(rec)
            if len(chunk) == self.chunk_size:
                yield chunk_key(unit_index, (n - 1) // self.chunk_size), chunk
                chunk = []
        if chunk or n == 0:  # an empty unit still gets its (empty) chunk, so the file set is complete
            yield chunk_key(unit_index, (max(n, 1) - 1) // self.chunk_size), chunk
        yield TaggedOutput(COUNTS, RunCounts.read(n))


class ReadIdsFn(beam.DoFn):
    """unit -> (id, position) of every valid record: the input of the duplicate-id check."""

    def __init__(self, columns: ColumnSpec):
        self.columns = columns

    def process(self, indexed_unit: tuple[int, ReadUnit], starts):
        unit_index, unit = indexed_unit
        for rec in read_unit(unit, starts.get(unit_index)):
            try:
                ex = validate_record(rec, self.columns, None)
            except BadRecord:
                continue
            yield ex.id, ex.position


def first_of_duplicated_id(item):
    """(id, [positions]) -> (id, first position), for ids that occur more than once."""
    example_id, positions = item
    positions = sorted(positions, key=position_key)
    if len(positions) > 1:
        yield example_id, positions[0]


class ValidateChunkFn(beam.DoFn):
    """(key, raw records) -> (key, source examples); bad records and later duplicates of an id go to
    the dead letters. `duplicates` maps each repeated id to its first position (a side input)."""

    def __init__(self, columns: ColumnSpec, labels: LabelSpace | None):
        self.columns, self.labels = columns, labels

    def process(self, item, duplicates):
        key, records = item
        sources = []
        for rec in records:
            try:
                ex = validate_record(rec, self.columns, self.labels)
            except BadRecord as err:
                yield TaggedOutput(DEAD, dead_letter("read", str(err), rec.position, None, rec.raw))
                continue
            first = duplicates.get(ex.id)
            if first is not None and first != ex.position:
                yield TaggedOutput(
                    DEAD,
                    dead_letter(
                        "read",
                        f"duplicate id {ex.id!r} (first seen at {first})",
                        ex.position,
                        ex.id,
                        json.dumps({"text": ex.text, "text_pair": ex.text_pair}),
                    ),
                )
                continue
            sources.append(ex)
        yield key, sources


class AugmentChunkFn(beam.DoFn):
    """(key, sources) -> (key, rows): each source's original row followed by its copies. Augmenters
    see batches cut from the chunk in (length, id) order, a composition fixed by the data."""

    def __init__(
        self,
        specs: list[AugmentSpec],
        seed: int,
        batch_size: int,
        torch_threads: int | None = None,
        processes_per_machine: int = 1,
    ):
        self.specs, self.seed, self.batch_size = specs, seed, batch_size
        self.torch_threads, self.processes_per_machine = torch_threads, processes_per_machine

    def setup(self):
        set_torch_threads(self.processes_per_machine, self.torch_threads)  # kNN, masked LM and AugPro use torch
        self.augmenters = build_augmenters(self.specs)
        for aug in self.augmenters:
            aug.setup()
        keep_long_lived_out_of_gc()

    def process(self, item):
        key, sources = item
        copies: dict[str, list[dict]] = {s.id: [] for s in sources}
        counts: dict[str, list[int]] = {}  # spec key -> [requested, written], summed over the chunk
        ordered = sorted(sources, key=lambda s: (len(s.text) + len(s.text_pair or ""), s.id))
        for start in range(0, len(ordered), self.batch_size):
            batch = ordered[start : start + self.batch_size]
            for aug in self.augmenters:
                for out in self._augment(aug, batch, counts):
                    if isinstance(out, TaggedOutput):
                        yield out
                    else:
                        copies[out["source_id"]].append(out)
        for spec_key, (requested, written) in counts.items():
            yield TaggedOutput(COUNTS, RunCounts.augmented(spec_key, requested, written))
        rows = []
        for src in sources:
            rows.append(original_row(src))
            rows += sorted(copies[src.id], key=lambda r: r["id"])
        yield key, rows

    def _augment(self, aug, batch, counts: dict[str, list[int]]):
        """Yields dead letters (tagged) and copy rows; adds to the chunk's `counts`."""
        try:
            results = aug.augment_batch(batch, self.seed)
        except Exception as err:  # isolate the example that breaks the augmenter; keep the rest
            log.warning("augmenter %s failed on a batch (%s); retrying one by one", aug.spec_key, err)
            results = []
            for src in batch:
                try:
                    results += aug.augment_batch([src], self.seed)
                except Exception as one_err:
                    results.append(None)
                    yield TaggedOutput(
                        DEAD,
                        dead_letter(
                            f"copy:augment:{aug.spec_key}",
                            f"{type(one_err).__name__}: {one_err}",
                            src.position,
                            src.id,
                            src.text,
                        ),
                    )
        for src, res in zip(batch, results):
            if res is None:
                continue
            tally = counts.setdefault(aug.spec_key, [0, 0])
            tally[0] += res.requested
            tally[1] += len(res.copies)
            for copy in res.copies:
                yield copy_row(src, copy, aug)


def failed_rows_to_dead_letters(item):
    """(key, LabelledRows) -> the dead letters of the rows the teacher could not label."""
    _, labelled = item
    for row, reason in labelled.failed:
        yield _label_dead_letter(row, reason)


def failed_inference_to_dead_letters(item):
    """RunInference's failure output ([chunk], exception) -> a dead letter per row of the chunk."""
    batch, exc = item
    for _, rows in batch:
        for row in rows:
            yield _label_dead_letter(row, f"teacher inference failed: {type(exc).__name__}: {exc}")


def _label_dead_letter(row: dict, reason: str) -> dict:
    stage = "label" if row["aug_method"] == "original" else "copy:label"
    return dead_letter(stage, reason, "", row["id"], row["text"])


def _write_atomically(path: str, data: bytes) -> None:
    """Write then rename, so a retried bundle never leaves a half-written file under the final name."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with FileSystems.create(tmp) as f:
        f.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def data_file_name(split: str, key: str) -> str:
    return f"{split}-{key}.parquet"


def rows_to_table(rows: list[dict], schema, soft_labels: SoftLabels):
    """Row dicts (teacher_logits as float32 arrays) -> an Arrow table of `schema`, soft labels stored as asked."""
    import numpy as np
    import pyarrow as pa

    columns = {
        f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema if f.name not in SOFT_LABEL_COLUMNS
    }
    num_labels = len(json.loads(schema.metadata[b"kdaug.label_names"]))
    logits = np.stack([r["teacher_logits"] for r in rows]) if rows else np.zeros((0, num_labels), np.float32)
    columns.update(zip(SOFT_LABEL_COLUMNS, soft_label_arrays(logits, soft_labels)))
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


class WriteChunkFn(beam.DoFn):
    """(key, labelled rows) -> one Parquet file per chunk, rows in corpus order (each original followed
    by its copies), plus counters: rows and changed ratio per method, bytes, soft-label bytes."""

    def __init__(self, data_dir: str, split: str, schema, soft_labels: SoftLabels):
        self.data_dir, self.split, self.schema, self.soft_labels = data_dir, split, schema, soft_labels

    def process(self, item):
        import pyarrow.parquet as pq

        key, labelled = item
        rows = labelled.rows
        buf = io.BytesIO()
        pq.write_table(rows_to_table(rows, self.schema, self.soft_labels), buf, compression="zstd")
        data = buf.getvalue()
        name = data_file_name(self.split, key)
        _write_atomically(FileSystems.join(self.data_dir, name), data)
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        soft_cols = [i for i, n in enumerate(self.schema.names) if n in SOFT_LABEL_COLUMNS]
        soft_bytes = sum(
            meta.row_group(g).column(c).total_compressed_size for g in range(meta.num_row_groups) for c in soft_cols
        )
        yield RunCounts.written(name, rows, len(data), soft_bytes)


class WriteDeadLettersFn(beam.DoFn):
    """All dead letters of a split -> one JSONL file, sorted, with a count per stage and reason kind."""

    def __init__(self, dead_dir: str, split: str):
        self.dead_dir, self.split = dead_dir, split

    def process(self, item):
        _, letters = item
        letters = sorted(letters, key=lambda d: (d["stage"], position_key(d["position"]), d["id"] or "", d["reason"]))
        data = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in letters).encode("utf-8")
        name = f"{self.split}-00000-of-00001.jsonl"
        _write_atomically(FileSystems.join(self.dead_dir, name), data)
        yield RunCounts.dead_lettered(name, [d["stage"] for d in letters])
