"""`kdaug materialize`: corpus -> validate -> augment -> teacher labels -> Parquet + card + manifest.

    units ─> read + validate chunks ─> augment ─> [Reshuffle: accelerator workers] ─> label ─> Parquet
                ^          │              │                                          │  (a file per chunk)
                │          └─ dead ───────┴────────────────── dead ──────────────────┴─> dead_letter/
      side inputs: range starts, duplicate ids (only with --id-column)
    counters ─> manifest.json, README.md (after every file is written)

The unit of work is a chunk: `chunk_size` consecutive records of one input unit (a file, a byte range of
a large text file, a Parquet row group), with all their copies. Each chunk is read, augmented, labelled
and written by one fused chain of DoFns (tests/pipelines/test_materialize_graph.py checks the runner's
stages), so a job streams: no step holds the corpus's records, and a worker's memory does not grow with
it. Beam's local runner keeps everything that crosses a shuffle in its launcher's memory: here only the
units, the counts, the dead letters and, with --id-column, 16-byte digests of the ids. Chunks are fixed
by the data, so the batches cut from them, and the rows, are the same on every runner and worker count.

Right fitting (--teacher-accelerator): a Reshuffle after augmentation, and resource hints on the
labelling, put augmentation on CPU workers and the teacher on GPU workers.

Everything that can fail before work (teacher, columns, labels, augment specs, assets) is checked in
`prepare()`, before the pipeline is built.
"""

from __future__ import annotations

import argparse
import functools
import logging
import shlex
import sys
import time
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import (
    DebugOptions,
    DirectOptions,
    PipelineOptions,
    StandardOptions,
    TestOptions,
)

from kdaug.core.augment import build_augmenters
from kdaug.core.corpus import LabelSpace, ReadUnit, check_columns, check_labels, plan_read_units
from kdaug.core.counts import RunCounts
from kdaug.core.dataset import DATA, DEAD_LETTER, DatasetDir, job_fingerprint
from kdaug.core.errors import KdaugError
from kdaug.core.flags import flags_of, option, reject_unknown
from kdaug.core.models import pick_device
from kdaug.core.publishing.card import dataset_documents
from kdaug.core.publishing.manifest import merge_manifest, split_manifest
from kdaug.core.recipe import Recipe, RecipeError
from kdaug.core.schema import arrow_schema, load_spec
from kdaug.core.teacher import TeacherError, TeacherInfo, TeacherSettings, resolve_precision, resolve_teacher
from kdaug.pipelines import transforms as T
from kdaug.pipelines.model_handler import TeacherModelHandler

log = logging.getLogger("kdaug")
AUGMENT_BATCH = 64


class JobFailedError(KdaugError, RuntimeError):
    """The runner gave up on the job (a worker process lost, a bundle that failed past the runner's
    retries). Nothing is committed; what finished is staged for the same command to reuse."""


@dataclass(frozen=True)
class Scale:
    """How the job runs, never what it writes: worker placement and threads."""

    accelerator: str | None = None  # Beam resource hint for the labelling workers (right fitting)
    min_ram: str | None = None
    model_copies: int | None = None  # teacher copies per machine, shared by its processes (None: one per process)
    torch_threads: int | None = None  # per worker process (None: cores / processes on the machine)


@dataclass
class Plan:
    recipe: Recipe
    teacher: TeacherInfo
    units: list[ReadUnit]
    labels: LabelSpace
    command: str
    scale: Scale = Scale()
    started: float = field(default_factory=time.time)

    @functools.cached_property
    def on_workers(self) -> Recipe:
        """The recipe with its local paths absolute: what the workers open (see Recipe.with_absolute_paths).
        Everything the dataset records comes from `recipe`, as given."""
        return self.recipe.with_absolute_paths()

    @property
    def job(self) -> str:
        """The job's fingerprint: part of every staged chunk's, so a rerun reuses only its own work."""
        return job_fingerprint(
            self.recipe.dataset_recipe(), self.teacher.weights_sha256, self.labels.names(), load_spec()["version"]
        )


def prepare(recipe: Recipe, command: str = "", scale: Scale | None = None) -> Plan:
    """Every check that can fail before any work: teacher, input, columns, labels, augmenters, assets."""
    scale = scale or Scale()
    if scale.model_copies is not None and scale.model_copies < 1:
        raise RecipeError(f"{option('teacher_copies_per_machine')} must be at least 1")
    if scale.torch_threads is not None and scale.torch_threads < 1:
        raise RecipeError(f"{option('torch_threads')} must be at least 1")
    teacher = resolve_teacher(recipe.teacher, recipe.trust_remote_code, recipe.max_length)
    if not scale.accelerator:  # with right fitting the GPU is on other machines than this one
        resolve_precision(recipe.teacher_precision, pick_device(recipe.device, TeacherError))
    units = plan_read_units(
        recipe.input,
        recipe.input_format,
        recipe.input_split or recipe.split,
        recipe.csv_header,
        range_bytes=recipe.input_range_bytes,
    )
    check_columns(units, recipe.columns)
    labels = LabelSpace(teacher.id2label, recipe.label_map)
    if recipe.label_column:
        check_labels(units, recipe.label_column, labels)
    for aug in build_augmenters(recipe.augment):
        aug.check()  # a missing asset fails here, not on a worker
    if recipe.license is None:
        log.warning(
            "%s: no %s given: the dataset card and croissant.json say 'unknown'; name the source "
            "corpus's licence (a Hub licence id) before publishing",
            recipe.output,
            option("license"),
        )
    return Plan(recipe, teacher, units, labels, command, scale)


def processes_per_machine(options: PipelineOptions) -> int:
    """Worker processes sharing one machine's cores, for the torch thread split: the local runner's
    worker count in multi-processing mode; on Dataflow one per vCPU unless the job asked for one
    SDK process per VM (0 here means one per core, i.e. one torch thread each)."""
    std = options.view_as(StandardOptions)
    runner = (std.runner or "DirectRunner").lower()
    if "dataflow" in runner:
        if options.view_as(DebugOptions).lookup_experiment("no_use_multiple_sdk_containers"):
            return 1
        return 0
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode == "multi_processing":
        return max(1, direct.direct_num_workers or 1)
    return 1


def build(pipeline: beam.Pipeline, plan: Plan, processes: int = 1) -> None:
    """The graph of the module docstring's diagram, a named step per box."""
    r = plan.on_workers
    units = pipeline | "Units" >> beam.Create(list(enumerate(plan.units))) | "SpreadUnits" >> beam.Reshuffle()
    starts = beam.pvalue.AsDict(pipeline | "RangeStarts" >> RangeStarts(plan))
    duplicates = units | "FindDuplicateIds" >> FindDuplicateIds(r.columns if r.id_column else None, starts)
    valid = units | "ReadAndValidate" >> beam.ParDo(
        T.ReadAndValidateFn(r.chunk_size, r.columns, plan.labels, r.output, r.split, plan.job),
        starts=starts,
        duplicates=beam.pvalue.AsDict(duplicates),
    ).with_outputs(T.REUSED, T.UNITS, main="chunks")
    to_label = valid.chunks | "Augment" >> beam.ParDo(
        T.AugmentChunkFn(
            r.augment,
            r.seed,
            AUGMENT_BATCH,
            plan.scale.torch_threads,
            processes,
            r.word_window,
            recorded_specs=plan.recipe.augment,
        )
    )
    if plan.scale.accelerator:  # right fitting: a fusion break, then the labelling on accelerator workers
        to_label = to_label | "ToLabellingWorkers" >> beam.Reshuffle()
    labelled = to_label | "LabelAndWrite" >> label_and_write(plan, processes)
    reused = valid[T.REUSED]
    # (a composite takes several inputs as a tuple: a list would be taken as one input per item)
    dead = (labelled["dead"], reused | "ReusedDead" >> beam.FlatMap(T.reused_dead_letters))
    dead_written = dead | "WriteDeadLetters" >> WriteDeadLetters(r.output, r.split)
    counts = (
        labelled["written"],
        labelled["failed"],
        reused | "ReusedCounts" >> beam.Map(T.reused_counts),
        dead_written,
        valid[T.UNITS],
    )
    totals = counts | "SumCounts" >> SumCounts()
    _ = (
        pipeline
        | "Once" >> beam.Create([None])
        | "Finalize" >> beam.Map(finalize, plan=plan, counts=beam.pvalue.AsSingleton(totals))
    )


class RangeStarts(beam.PTransform):
    """PBegin -> (unit index, first record's line number and byte offset) of each byte range of a large
    text file, found by one scan per file (a range's ids come from line numbers)."""

    def __init__(self, plan: Plan):
        super().__init__()
        self.plan = plan

    def expand(self, pbegin):
        ranges_by_file: dict[str, list] = {}
        for i, unit in enumerate(self.plan.units):
            if unit.end is not None:
                ranges_by_file.setdefault(unit.path, []).append((i, unit))
        return (
            pbegin
            | "FilesInRanges" >> beam.Create(list(ranges_by_file.values()))
            | "FindRangeStarts" >> beam.FlatMap(T.range_starts_of_file)
        )


class FindDuplicateIds(beam.PTransform):
    """Units -> (id, first position) of every id the corpus's id column repeats (a later record with it is
    a dead letter); none without an id column (generated ids, from position and content, cannot repeat).
    Two passes (see kdaug.pipelines.transforms): 16-byte digests of all ids, then ids and positions of the
    digests that repeat; what the shuffle holds is ~16 bytes an id, not the id and its position."""

    def __init__(self, columns, starts):
        super().__init__()
        self.columns, self.starts = columns, starts

    def expand(self, units):
        if self.columns is None:
            return units.pipeline | "NoDuplicates" >> beam.Create([])
        repeated = (
            units
            | "ReadIdDigests" >> beam.ParDo(T.ReadIdDigestsFn(self.columns), starts=self.starts)
            | "GroupDigests" >> beam.GroupByKey()
            | "RepeatedDigests" >> beam.FlatMap(T.repeated_digests)
        )
        return (
            units
            | "ReadRepeatedIds"
            >> beam.ParDo(T.ReadRepeatedIdsFn(self.columns), starts=self.starts, repeated=beam.pvalue.AsList(repeated))
            | "GroupIds" >> beam.GroupByKey()
            | "DuplicatedIds" >> beam.FlatMap(T.first_of_duplicated_id)
        )


def label_and_write(plan: Plan, processes: int) -> beam.PTransform:
    """The teacher's labelling and the Parquet writing of each chunk, with the accelerator's resource
    hints where the job is right-fitted (on the composite, so writing stays on the labelling workers)."""
    r = plan.recipe
    settings = TeacherSettings(
        plan.on_workers.teacher,
        device=r.device,
        max_length=plan.teacher.max_length,
        trust_remote_code=r.trust_remote_code,
        max_batch_size=r.inference_batch_size,
        precision=r.teacher_precision,
    )
    handler = TeacherModelHandler(
        settings,
        torch_threads=plan.scale.torch_threads,
        processes_per_machine=processes,
        model_copies=plan.scale.model_copies,
    )
    metadata = {
        "teacher": plan.teacher.spec,
        "teacher_sha256": plan.teacher.weights_sha256,
        "label_names": plan.labels.names(),
        "recipe": r.dataset_recipe(),
        "split": r.split,
    }
    schema = arrow_schema(metadata, soft_labels=r.soft_label_format)
    writer = T.WriteChunkFn(plan.on_workers.output, r.split, schema, r.soft_label_format)
    step: beam.PTransform = LabelAndWrite(handler, writer)
    if plan.scale.accelerator:
        hints = {"accelerator": plan.scale.accelerator}
        step = step.with_resource_hints(**hints, **({"min_ram": plan.scale.min_ram} if plan.scale.min_ram else {}))
    return step


class WriteDeadLetters(beam.PTransform):
    """The dead letters of every step -> staged dead-letter files (one writer: a handful of records) and
    their counts."""

    def __init__(self, output: str, split: str):
        super().__init__()
        self.output, self.split = output, split

    def expand(self, dead):
        return (
            dead
            | "AllDead" >> beam.Flatten()
            | "KeyDead" >> beam.Map(lambda d: (0, d))
            | "GroupDead" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(T.WriteDeadLettersFn(self.output, self.split))
        )


class SumCounts(beam.PTransform):
    """Every step's RunCounts -> their total (what the manifest records)."""

    def expand(self, counts):
        return counts | "AllCounts" >> beam.Flatten() | "Sum" >> beam.CombineGlobally(RunCounts.total)


class LabelAndWrite(beam.PTransform):
    """(ChunkLog, rows) -> teacher labels -> staged Parquet files. Returns the chunks' counts
    (`written`), dead letters (`dead`: the chunks' own, and their rows the teacher could not label) and
    the keys of the chunks the teacher could not label (`failed`, as counts)."""

    def __init__(self, handler: TeacherModelHandler, writer: beam.DoFn):
        super().__init__()
        self.handler, self.writer = handler, writer

    def expand(self, chunks):
        labelled, failed = (
            chunks
            | "OneChunkPerCall" >> beam.Map(lambda chunk: [chunk])
            | "LabelWithTeacher" >> RunInference(self.handler.with_no_batching()).with_exception_handling()
        )
        written = labelled | "WriteParquet" >> beam.ParDo(self.writer).with_outputs(T.DEAD, main="counts")
        dead = [
            written[T.DEAD],
            failed.failed_inferences | "FailedInference" >> beam.FlatMap(T.failed_inference_to_dead_letters),
        ] | "LabelDead" >> beam.Flatten()
        failed_chunks = failed.failed_inferences | "FailedChunks" >> beam.Map(T.failed_chunks)
        return {"written": written.counts, "dead": dead, "failed": failed_chunks}


def finalize(_, plan: Plan, counts: RunCounts) -> None:
    """Runs once, after every chunk and the dead letters are staged: commits the split (the staged files
    replace the split's old ones, then manifest and card; see kdaug.core.dataset)."""
    r = plan.recipe
    unaccounted = T.unaccounted_chunks(len(plan.units), counts, r.split)
    if unaccounted:  # nothing is committed: a rerun reuses what is staged and makes what is missing
        raise JobFailedError(
            f"{r.output}: the runner lost work ({len(unaccounted)}: {'; '.join(unaccounted[:3])}); nothing was "
            "committed: run the same command again to finish it"
        )
    teacher = {
        "spec": plan.teacher.spec,
        "weights_sha256": plan.teacher.weights_sha256,
        "label_names": plan.labels.names(),
        "max_length": plan.teacher.max_length,
    }
    data_files, dead_files = sorted(counts.data_files), sorted(counts.dead_letter_files)
    entry = split_manifest(
        counts,
        r.dataset_recipe(),
        teacher,
        plan.command,
        [f"{DATA}/{n}" for n in data_files],
        [f"{DEAD_LETTER}/{n}" for n in dead_files],
    )
    with_entry = functools.partial(merge_manifest, card=r.card_info())
    DatasetDir(plan.on_workers.output).commit(r.split, entry, data_files, dead_files, with_entry, dataset_documents)
    if counts.chunks_reused:
        log.info(
            "%s: %d of %d chunks reused from an interrupted earlier run",
            r.output,
            counts.chunks_reused,
            counts.chunks_reused + counts.chunks_written,
        )


def build_pipeline(plan: Plan, options: PipelineOptions) -> beam.Pipeline:
    pipeline = beam.Pipeline(options=options)
    build(pipeline, plan, processes_per_machine(options))
    return pipeline


def parse_job_args(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, list[str], str]:
    """A command's own arguments, the Apache Beam options among `argv` (an argument that is neither
    fails, naming the closest), and the command line as datasets record it (`kdaug materialize ...`)."""
    args, beam_args = parser.parse_known_args(argv)
    check_beam_args(beam_args, flags_of(parser))
    return args, beam_args, f"{parser.prog} " + " ".join(shlex.quote(a) for a in argv)


def check_beam_args(beam_args: list[str], own_flags: list[str]) -> None:
    """Fails on an argument that is neither the command's own flag nor an Apache Beam option (Beam
    would drop it silently), suggesting the closest of both."""
    options = PipelineOptions(beam_args)
    known = set(options.get_all_options())
    unknown = [f"--{key}" for key in options.get_all_options(retain_unknown_options=True) if key not in known]
    if not unknown and not any(a.startswith("-") for a in beam_args):
        unknown = list(beam_args)  # values with no flag before them
    reject_unknown(unknown, own_flags + [f"--{key}" for key in known], " (neither kdaug's nor an Apache Beam option)")


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    options = PipelineOptions(beam_args)
    std = options.view_as(StandardOptions)
    if not std.runner:
        std.runner = "DirectRunner"
    return options


def materialize_recipe(
    recipe: Recipe,
    beam_args: list[str] | None = None,
    command: str = "",
    scale: Scale | None = None,
    on_start=None,
    on_done=None,
) -> dict[str | None, dict | None]:
    """Materializes a recipe: one dataset, or one per role (OUTPUT/ROLE). Every role is checked before
    any starts. `on_start(role, recipe)` and `on_done(role, recipe, manifest, seconds)` are called
    around each job (role None without roles). Returns
    {role: manifest} ({None: manifest} without roles; the manifest is None under --dry_run)."""
    from kdaug.pipelines.worker import keep_long_lived_out_of_gc

    jobs = recipe.jobs()
    plans = [prepare(job, command, scale) for _, job in jobs]
    if not pipeline_options(beam_args or []).view_as(TestOptions).dry_run:
        for _, job in jobs:
            DatasetDir(job.output).check_writable(job.split)
    keep_long_lived_out_of_gc()  # this process holds Beam, torch and the checked assets until it exits
    manifests: dict[str | None, dict | None] = {}
    for (role, job), plan in zip(jobs, plans):
        if on_start is not None:
            on_start(role, job)
        started = time.time()
        manifests[role] = run(job, beam_args, command, plan=plan)
        if on_done is not None:
            on_done(role, job, manifests[role], time.time() - started)
    return manifests


def run(
    recipe: Recipe, beam_args: list[str] | None = None, command: str | None = None, plan: Plan | None = None
) -> dict | None:
    """Materializes one split and returns the manifest. Raises before any work on a bad setup.
    With --dry_run (a Beam test option) the job is built, and for Dataflow translated into its job
    request, but not run: returns None."""
    command = command or " ".join(shlex.quote(a) for a in sys.argv)
    plan = plan or prepare(recipe, command)
    options = pipeline_options(beam_args or [])
    dry_run = bool(options.view_as(TestOptions).dry_run)
    log.info(
        "materializing %s -> %s (%d read units, chunks of %d records)",
        recipe.input,
        recipe.output,
        len(plan.units),
        recipe.chunk_size,
    )
    pipeline = build_pipeline(plan, options)
    if dry_run and "dataflow" not in (options.view_as(StandardOptions).runner or "").lower():
        return None  # only the Dataflow runner knows --dry_run; the others would run the job
    try:
        result = pipeline.run()
        if dry_run:
            return None
        result.wait_until_finish()
    except KdaugError:
        raise
    except Exception as err:  # the runner's own failure: the job is not done, what finished is staged
        log.error("the runner failed the job:", exc_info=True)
        staged = DatasetDir(recipe.output).staged_chunk_count(recipe.split)
        cause = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise JobFailedError(
            f"{recipe.output}: the runner failed the job ({type(err).__name__}: {cause[:300]}); nothing was "
            f"committed, {staged} finished chunk(s) are staged: run the same command again to finish it"
        ) from err
    return DatasetDir(recipe.output).read_manifest()
