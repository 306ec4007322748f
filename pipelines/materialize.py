"""`kdaug materialize`: corpus -> validate -> augment -> teacher labels -> Parquet + card + manifest.

    read units ─> raw records ─> validate ─> dedupe ids ─┬─> originals ───────┐
                                   │            │         └─> augment ─> copies ┴─> RunInference(teacher)
                                   └─ dead ─────┴─────────────────── dead ──────────────┤
                                                                                       ├─> shard by id ─> Parquet
    dead letters ─> dead_letter/{split}-*.jsonl                                        │
    counters ─> manifest.json, README.md (after every file is written)  <──────────────┘

Everything that can fail before work (teacher, columns, labels, augment specs, assets) is checked in
`prepare()`, before the pipeline is built.
"""

from __future__ import annotations

import io
import json
import logging
import math
import shlex
import sys
import time
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from kdaug_core.augment import build_augmenters
from kdaug_core.card import dataset_card, merge_manifest, split_manifest
from kdaug_core.corpus import LabelSpace, ReadUnit, check_columns, check_labels, input_size_bytes, plan_read_units
from kdaug_core.recipe import Recipe
from kdaug_core.rows import original_row
from kdaug_core.schema import arrow_schema
from kdaug_core.seeding import shard_of
from kdaug_core.teacher import TeacherInfo, pick_device, resolve_teacher
from pipelines import transforms as T
from pipelines.model_handler import TeacherModelHandler

log = logging.getLogger("kdaug")
TARGET_SHARD_BYTES = 128 << 20
AUGMENT_BATCH = 64
BYTES_PER_BATCH_GROUP = 4096 * 200  # ~4k rows of ~200 bytes of JSON each


class MaterializeError(RuntimeError):
    """The job cannot start as asked; raised before any work, with one clear message."""


@dataclass
class Plan:
    recipe: Recipe
    teacher: TeacherInfo
    units: list[ReadUnit]
    labels: LabelSpace
    num_shards: int
    batch_groups: int  # id-hash groups per length bucket before batching, about 4k rows each
    command: str
    started: float = field(default_factory=time.time)


def prepare(recipe: Recipe, command: str = "") -> Plan:
    """Every check that can fail before any work: teacher, input, columns, labels, augmenters, assets."""
    teacher = resolve_teacher(recipe.teacher, recipe.trust_remote_code, recipe.max_length)
    pick_device(recipe.device)
    units = plan_read_units(recipe.input, recipe.input_format, recipe.input_split or recipe.split, recipe.csv_header)
    check_columns(units, recipe.columns)
    labels = LabelSpace(teacher.id2label, recipe.label_map)
    if recipe.label_column:
        check_labels(units, recipe.label_column, labels)
    for aug in build_augmenters(recipe.augment):
        aug.setup()  # loads WordNet etc. now, so a missing asset fails here and not on a worker
    rows_per_source = 1 + sum(a.params.get("copies", 0) for a in recipe.augment)
    est_bytes = input_size_bytes(units) * rows_per_source
    num_shards = recipe.num_shards or max(1, math.ceil(est_bytes * 2 / TARGET_SHARD_BYTES))
    batch_groups = max(1, math.ceil(est_bytes / BYTES_PER_BATCH_GROUP))
    return Plan(recipe, teacher, units, labels, num_shards, batch_groups, command)


def build(pipeline: beam.Pipeline, plan: Plan) -> None:
    r = plan.recipe
    out = r.output.rstrip("/")
    data_dir, dead_dir = FileSystems.join(out, "data"), FileSystems.join(out, "dead_letter")
    metadata = {"teacher": plan.teacher.spec, "teacher_sha256": plan.teacher.weights_sha256,
                "label_names": plan.labels.names(), "recipe": r.dataset_recipe(), "split": r.split}
    schema = arrow_schema(metadata)

    read = (pipeline
            | "Units" >> beam.Create(plan.units)
            | "SpreadUnits" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(T.ReadUnitFn()).with_outputs(T.COUNTS, main="records"))
    valid = read.records | "Validate" >> beam.ParDo(T.ValidateFn(r.columns, plan.labels)).with_outputs(T.DEAD, main="ok")
    unique = (valid.ok
              | "KeyById" >> beam.Map(lambda e: (e.id, e))
              | "GroupById" >> beam.GroupByKey()
              | "KeepFirstOfId" >> beam.FlatMap(T.keep_first_of_id).with_outputs(T.DEAD, main="ok"))

    originals = unique.ok | "Originals" >> beam.Map(original_row)
    branches = [originals]
    dead = [valid[T.DEAD], unique[T.DEAD]]
    counts = [read[T.COUNTS]]
    if r.augment:
        augmented = (unique.ok
                     | "BatchSources" >> T.DeterministicBatches(AUGMENT_BATCH, plan.batch_groups)
                     | "Augment" >> beam.ParDo(T.AugmentFn(r.augment, r.seed)).with_outputs(T.DEAD, T.COUNTS, main="rows"))
        branches.append(augmented.rows)
        dead.append(augmented[T.DEAD])
        counts.append(augmented[T.COUNTS])

    # Batches are formed from the data (length bucket, id hash), not by Beam's timing-adaptive
    # BatchElements, so every runner sees the same batches and writes the same logits.
    handler = TeacherModelHandler(r.teacher, device=r.device, max_length=plan.teacher.max_length,
                                  trust_remote_code=r.trust_remote_code, max_batch_size=r.inference_batch_size)
    labelled, failed = (branches | "AllRows" >> beam.Flatten()
                        | "BatchRows" >> T.DeterministicBatches(r.inference_batch_size, plan.batch_groups)
                        | "LabelWithTeacher" >> RunInference(handler.with_no_batching()).with_exception_handling())
    dead.append(failed.failed_inferences | "FailedInference" >> beam.FlatMap(T.failed_inference_to_dead_letters))

    written = (labelled
               | "KeyByShard" >> beam.Map(lambda row, n=plan.num_shards: (shard_of(row["id"], n), row))
               | "GroupByShard" >> beam.GroupByKey()
               | "WriteParquet" >> beam.ParDo(T.WriteShardFn(data_dir, r.split, plan.num_shards, schema)))
    dead_written = (dead | "AllDead" >> beam.Flatten()
                    | "KeyDead" >> beam.Map(lambda d: (0, d))
                    | "GroupDead" >> beam.GroupByKey()
                    | "WriteDeadLetters" >> beam.ParDo(T.WriteDeadLettersFn(dead_dir, r.split)))
    counts += [written, dead_written]

    totals = counts | "AllCounts" >> beam.Flatten() | "SumCounts" >> beam.CombinePerKey(sum)
    _ = (pipeline
         | "Once" >> beam.Create([None])
         | "Finalize" >> beam.Map(finalize, plan=plan, schema=schema, counts=beam.pvalue.AsDict(totals)))


def finalize(_, plan: Plan, schema, counts: dict) -> None:
    """Runs once, after every data and dead-letter file exists: empty shards get their (empty) file so
    the N in -of-N holds, stale files of an earlier run of this split go, then manifest and card."""
    import pyarrow.parquet as pq

    r = plan.recipe
    data_files = [k[len(T.DATA_FILE):] for k in counts if k.startswith(T.DATA_FILE)]
    dead_files = [k[len(T.DEAD_LETTER_FILE):] for k in counts if k.startswith(T.DEAD_LETTER_FILE)]
    out = r.output.rstrip("/")
    data_dir, dead_dir = FileSystems.join(out, "data"), FileSystems.join(out, "dead_letter")
    expected = [T.shard_file_name(r.split, i, plan.num_shards) for i in range(plan.num_shards)]
    for name in sorted(set(expected) - set(data_files)):
        path = FileSystems.join(data_dir, name)
        if FileSystems.exists(path) and _modified(path) >= plan.started:
            raise RuntimeError(f"{name} was written by this run but not counted; refusing to replace it")
        buf = io.BytesIO()
        pq.write_table(schema.empty_table(), buf, compression="zstd")
        T._write_atomically(FileSystems.join(data_dir, name), buf.getvalue())
    _remove_stale(data_dir, f"{r.split}-", set(expected))
    _remove_stale(dead_dir, f"{r.split}-", set(dead_files))

    manifest_path = FileSystems.join(out, "manifest.json")
    existing = None
    if FileSystems.exists(manifest_path):
        with FileSystems.open(manifest_path) as f:
            existing = json.loads(f.read().decode("utf-8"))
    teacher = {"spec": plan.teacher.spec, "weights_sha256": plan.teacher.weights_sha256,
               "label_names": plan.labels.names(), "max_length": plan.teacher.max_length}
    sizes = [m.size_in_bytes for res in FileSystems.match([FileSystems.join(data_dir, f"{r.split}-*")])
             for m in res.metadata_list]
    entry = split_manifest(counts, r.dataset_recipe(), teacher, plan.command, [f"data/{n}" for n in expected],
                           [f"dead_letter/{n}" for n in sorted(dead_files)], data_bytes=sum(sizes))
    manifest = merge_manifest(existing, r.split, entry)
    T._write_atomically(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    T._write_atomically(FileSystems.join(out, "README.md"), dataset_card(manifest).encode("utf-8"))


def _modified(path: str) -> float:
    return FileSystems.match([path])[0].metadata_list[0].last_updated_in_seconds


def _remove_stale(directory: str, prefix: str, keep: set[str]) -> None:
    pattern = FileSystems.join(directory, prefix + "*")
    stale = [m.path for res in FileSystems.match([pattern]) for m in res.metadata_list
             if m.path.rsplit("/", 1)[-1] not in keep]
    if stale:
        FileSystems.delete(stale)


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    options = PipelineOptions(beam_args)
    std = options.view_as(StandardOptions)
    if not std.runner:
        std.runner = "DirectRunner"
    return options


def run(recipe: Recipe, beam_args: list[str] | None = None, command: str | None = None,
        plan: Plan | None = None) -> dict:
    """Materializes one split and returns the manifest. Raises before any work on a bad setup."""
    command = command or " ".join(shlex.quote(a) for a in sys.argv)
    plan = plan or prepare(recipe, command)
    for d in ("data", "dead_letter"):
        path = FileSystems.join(recipe.output.rstrip("/"), d)
        if not FileSystems.exists(path):
            FileSystems.mkdirs(path)
    options = pipeline_options(beam_args or [])
    log.info("materializing %s -> %s (%d read units, %d shards)", recipe.input, recipe.output,
             len(plan.units), plan.num_shards)
    with beam.Pipeline(options=options) as p:
        build(p, plan)
    with FileSystems.open(FileSystems.join(recipe.output.rstrip("/"), "manifest.json")) as f:
        return json.loads(f.read().decode("utf-8"))
