"""The DoFns of the materialize pipeline. Each wraps a pure function of kdaug_core; the side outputs
carry dead letters (bad records with their reasons) and counters (for the manifest)."""

from __future__ import annotations

import io
import json
import logging
import math
import os

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import TaggedOutput

from kdaug_core.augment import AugmentSpec, build_augmenters
from kdaug_core.corpus import BadRecord, ColumnSpec, LabelSpace, ReadUnit, read_unit, validate_record
from kdaug_core.rows import copy_row, position_key
from kdaug_core.seeding import shard_of

DEAD = "dead_letter"
COUNTS = "counts"
# The names of the files written travel with the counters (one side input for the final step): a
# separate tagged output reached the final step empty on the BundleBasedDirectRunner.
DATA_FILE = "data_file/"
DEAD_LETTER_FILE = "dead_letter_file/"
log = logging.getLogger("kdaug")


def dead_letter(stage: str, reason: str, position: str = "", record_id: str | None = None, raw: str = "") -> dict:
    return {"stage": stage, "position": position, "id": record_id, "reason": reason, "record": raw}


class ReadUnitFn(beam.DoFn):
    """A work unit (file, row group) -> its raw records."""

    def process(self, unit: ReadUnit):
        n = 0
        for rec in read_unit(unit):
            n += 1
            yield rec
        yield TaggedOutput(COUNTS, ("records_read", n))


class ValidateFn(beam.DoFn):
    def __init__(self, columns: ColumnSpec, labels: LabelSpace | None):
        self.columns, self.labels = columns, labels

    def process(self, rec):
        try:
            yield validate_record(rec, self.columns, self.labels)
        except BadRecord as err:
            yield TaggedOutput(DEAD, dead_letter("read", str(err), rec.position, None, rec.raw))


def keep_first_of_id(item):
    """(id, [examples]) -> the first by corpus position; the others are dead-lettered as duplicates."""
    example_id, examples = item
    examples = sorted(examples, key=lambda e: position_key(e.position))
    yield examples[0]
    for dup in examples[1:]:
        yield TaggedOutput(DEAD, dead_letter(
            "read", f"duplicate id {example_id!r} (first seen at {examples[0].position})",
            dup.position, example_id, json.dumps({"text": dup.text, "text_pair": dup.text_pair})))


class AugmentFn(beam.DoFn):
    """A batch of source examples -> the copies of every augment spec, plus requested/written counts."""

    def __init__(self, specs: list[AugmentSpec], seed: int):
        self.specs, self.seed = specs, seed

    def setup(self):
        self.augmenters = build_augmenters(self.specs)
        for aug in self.augmenters:
            aug.setup()

    def process(self, batch):
        for aug in self.augmenters:
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
                        yield TaggedOutput(DEAD, dead_letter(f"copy:augment:{aug.spec_key}",
                                                             f"{type(one_err).__name__}: {one_err}",
                                                             src.position, src.id, src.text))
            for src, res in zip(batch, results):
                if res is None:
                    continue
                yield TaggedOutput(COUNTS, (f"copies_requested/{aug.spec_key}", res.requested))
                yield TaggedOutput(COUNTS, (f"copies_written/{aug.spec_key}", len(res.copies)))
                for copy in res.copies:
                    yield copy_row(src, copy, aug)


def _length_and_id(element) -> tuple[int, str]:
    """Rows are dicts, sources are SourceExamples; both batch by text length and id."""
    if isinstance(element, dict):
        return len(element["text"]) + len(element.get("text_pair") or ""), element["id"]
    return len(element.text) + len(element.text_pair or ""), element.id


def batch_group_key(element, num_groups: int) -> tuple[int, int]:
    """Elements of similar length (in ~1.4x steps of characters) and the same id-hash group batch together."""
    length, element_id = _length_and_id(element)
    return (int(2 * math.log2(max(length, 1))), shard_of(element_id, num_groups))


def deterministic_batches(item, batch_size: int):
    """(group key, elements) -> batches sorted by (length, id). Beam's adaptive BatchElements makes
    batches by timing, and batched models (the teacher, a masked LM) can differ in the last float bit
    between two batch compositions; a composition fixed by the data gives the same results on any
    runner and worker count."""
    _, elements = item
    elements = sorted(elements, key=_length_and_id)
    for i in range(0, len(elements), batch_size):
        yield elements[i:i + batch_size]


class DeterministicBatches(beam.PTransform):
    """Groups a PCollection into batches whose composition depends only on the data."""

    def __init__(self, batch_size: int, num_groups: int):
        super().__init__()
        self.batch_size, self.num_groups = batch_size, num_groups

    def expand(self, pcoll):
        return (pcoll
                | "KeyByLengthAndId" >> beam.Map(lambda e, g=self.num_groups: (batch_group_key(e, g), e))
                | "Group" >> beam.GroupByKey()
                | "Cut" >> beam.FlatMap(deterministic_batches, self.batch_size))


def failed_inference_to_dead_letters(item):
    batch, exc = item
    rows = [r for element in batch for r in (element if isinstance(element, list) else [element])]
    for row in rows:
        stage = "label" if row["aug_method"] == "original" else "copy:label"
        yield dead_letter(stage, f"teacher inference failed: {type(exc).__name__}: {exc}",
                          "", row["id"], row["text"])


def _write_atomically(path: str, data: bytes) -> None:
    """Write then rename, so a retried bundle never leaves a half-written file under the final name."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with FileSystems.create(tmp) as f:
        f.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def shard_file_name(split: str, shard: int, num_shards: int) -> str:
    return f"{split}-{shard:05d}-of-{num_shards:05d}.parquet"


class WriteShardFn(beam.DoFn):
    """(shard, rows) -> one Parquet file, rows sorted by id so the bytes do not depend on the runner."""

    def __init__(self, data_dir: str, split: str, num_shards: int, schema):
        self.data_dir, self.split, self.num_shards, self.schema = data_dir, split, num_shards, schema

    def process(self, item):
        import pyarrow as pa
        import pyarrow.parquet as pq

        shard, rows = item
        rows = sorted(rows, key=lambda r: r["id"])
        table = pa.Table.from_pylist(rows, schema=self.schema)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        name = shard_file_name(self.split, shard, self.num_shards)
        _write_atomically(FileSystems.join(self.data_dir, name), buf.getvalue())
        yield (f"{DATA_FILE}{name}", 1)
        per_method: dict[str, list[float]] = {}
        for r in rows:
            per_method.setdefault(r["aug_method"], []).append(r["changed_ratio"])
        for method, ratios in per_method.items():
            yield (f"rows/{method}", len(ratios))
            yield (f"changed_ratio_sum/{method}", float(sum(ratios)))
        yield ("truncated", sum(bool(r["truncated"]) for r in rows))


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
        yield (f"{DEAD_LETTER_FILE}{name}", 1)
        counts: dict[str, int] = {}
        for d in letters:
            counts[d["stage"]] = counts.get(d["stage"], 0) + 1
        for stage, n in counts.items():
            yield (f"dead_letter/{stage}", n)
