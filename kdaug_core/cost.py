"""What a materialize job will produce and cost, before it runs (`kdaug plan`).

Counts come from the corpus itself (every record read and validated once). Costs are measured, not
assumed: the recipe's augmenters and its teacher run on a sample of the corpus on this machine, one torch
thread each (a core), and the per-source and per-row times scale to the whole corpus. The teacher's
FLOPs per row come from its parameters and the sample's token counts; a GPU's time is estimated from
them and a stated share of the card's peak, until a run on that card measures it.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kdaug.core.augment import build_augmenters
from kdaug.core.corpus import BadRecord, ColumnSpec, LabelSpace, ReadUnit, SourceExample, read_unit, validate_record
from kdaug.core.labelling import add_kl_to_source, label_rows
from kdaug.core.progress import Progress
from kdaug.core.rows import copy_row, original_row
from kdaug.core.schema import SoftLabels, rows_to_table
from kdaug.core.teacher import Teacher, TeacherSettings
from kdaug.core.threads import set_torch_threads

AUGMENT_BATCH = 64  # as the pipeline's augmentation batches
# Dense fp16/bf16 tensor peaks (TFLOP/s, vendor datasheets) of the cards a labelling job is likely to rent.
GPU_PEAK_TFLOPS = {"T4": 65.0, "L4": 121.0, "A10G": 125.0, "A100": 312.0, "H100": 989.0}
# An encoder labelling short texts in batches reaches a fraction of a card's peak; this is the share the
# estimate assumes (stated wherever it is printed) until a run on the card measures it.
ASSUMED_GPU_UTILIZATION = 0.3


@dataclass
class CorpusCount:
    """Valid sources, the records that will be dead-lettered, and a uniform sample of the sources."""

    sources: int
    bad_records: int
    sample: list[SourceExample]
    read_seconds_per_record: float = 0.0  # reading and validating, on one core


def count_corpus(
    units: Iterable[ReadUnit], columns: ColumnSpec, labels: LabelSpace | None, sample_size: int, seed: int = 0
) -> CorpusCount:
    """Reads every record once (units whole, not in byte ranges) and keeps a reservoir sample of the
    valid ones, the same for the same corpus and seed."""
    rng = random.Random(seed)
    started = time.perf_counter()
    sources = bad = 0
    sample: list[SourceExample] = []
    progress = Progress("counting the corpus", unit="records")
    for unit in units:
        for record in read_unit(unit):
            progress.update(1)
            try:
                src = validate_record(record, columns, labels)
            except BadRecord:
                bad += 1
                continue
            sources += 1
            if len(sample) < sample_size:
                sample.append(src)
            elif (j := rng.randrange(sources)) < sample_size:
                sample[j] = src
    progress.close()
    return CorpusCount(sources, bad, sample, (time.perf_counter() - started) / max(sources + bad, 1))


@dataclass
class SampleCosts:
    """Per-source and per-row costs measured on a sample, on one core."""

    sources: int
    augment_seconds: dict[str, float]  # spec key -> seconds per source
    copies_per_source: dict[str, float]  # spec key -> copies written per source
    setup_seconds: dict[str, float]  # spec key -> loading its assets (once per worker process)
    label_seconds_per_row: float
    teacher_load_seconds: float
    tokens_per_row: float
    teacher_parameters: int
    teacher_flops_per_row: float
    write_seconds_per_row: float = 0.0  # rows to a zstd Parquet table, as the pipeline writes a chunk
    copies_asked: dict[str, int] = field(default_factory=dict)  # spec key -> copies per source the recipe asks


def measure_costs(
    sample: list[SourceExample],
    augment,
    seed: int,
    teacher: TeacherSettings,
    warmup: Sequence[SourceExample] = (),
    warmup_seconds: float = 60.0,
    schema=None,
    soft_labels: SoftLabels | None = None,
) -> SampleCosts:
    """Runs the augmenters and the teacher on the sample, one torch thread (a core), so the times are per
    core. Each augmenter first runs, untimed, on `warmup` (other sources of the same corpus; for at most
    `warmup_seconds`): a long job runs with its caches (WordNet's lookups, candidates' vectors) warm from
    earlier chunks, which a sample's first pass would not see; its setup is timed apart."""
    set_torch_threads(threads=1)
    warm = list(warmup) or sample[:8]
    ordered = sorted(sample, key=lambda s: (len(s.text) + len(s.text_pair or ""), s.id))
    batches = [ordered[i : i + AUGMENT_BATCH] for i in range(0, len(ordered), AUGMENT_BATCH)]
    rows = [original_row(s) for s in ordered]
    augment_seconds, copies, setup_seconds = {}, {}, {}
    augmenters = build_augmenters(augment)
    for aug in augmenters:
        t0 = time.perf_counter()
        aug.setup()
        setup_seconds[aug.spec_key] = time.perf_counter() - t0
        warm_until = time.perf_counter() + warmup_seconds
        for start in range(0, len(warm), AUGMENT_BATCH):
            aug.augment_batch(warm[start : start + AUGMENT_BATCH], seed + 1)
            if time.perf_counter() > warm_until:
                break
        t0 = time.perf_counter()
        made = 0
        for batch in batches:
            for src, result in zip(batch, aug.augment_batch(batch, seed)):
                rows += [copy_row(src, c, aug) for c in result.copies]
                made += len(result.copies)
        augment_seconds[aug.spec_key] = (time.perf_counter() - t0) / len(sample)
        copies[aug.spec_key] = made / len(sample)

    t0 = time.perf_counter()
    model = teacher.load()
    load_seconds = time.perf_counter() - t0
    # Warm-up on other sources' rows, untimed: a long job's forward passes run with every batch shape
    # seen before (the CPU kernels' first call on a new shape costs more), which the sample's would not.
    label_rows(model, [original_row(s) for s in warm] or rows[:16])
    t0 = time.perf_counter()
    labelled = label_rows(model, rows)
    label_seconds = (time.perf_counter() - t0) / len(rows)
    tokens = _mean_tokens(model, rows)
    parameters, flops = teacher_flops(model, tokens)
    write_seconds = 0.0
    if schema is not None:
        write_seconds = _write_seconds(labelled.rows, schema, soft_labels or SoftLabels())
    return SampleCosts(
        len(sample),
        augment_seconds,
        copies,
        setup_seconds,
        label_seconds,
        load_seconds,
        tokens,
        parameters,
        flops,
        write_seconds,
        {aug.spec_key: int(aug.params.get("copies", 1)) for aug in augmenters},
    )


def _write_seconds(rows: list[dict], schema, soft_labels: SoftLabels) -> float:
    """Seconds a row to store labelled rows as the pipeline does (KL to the source, an Arrow table, zstd)."""
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    add_kl_to_source(rows)
    pq.write_table(rows_to_table(rows, schema, soft_labels), io.BytesIO(), compression="zstd")
    return (time.perf_counter() - t0) / max(len(rows), 1)


def _mean_tokens(model: Teacher, rows: list[dict]) -> float:
    texts = [r["text"] for r in rows]
    pairs = [r.get("text_pair") or "" for r in rows] if any(r.get("text_pair") for r in rows) else None
    features, _ = model.encode(texts, pairs)
    return sum(len(f["input_ids"]) for f in features) / max(len(features), 1)


def teacher_flops(model: Teacher, tokens: float) -> tuple[int, float]:
    """(parameters, forward FLOPs for a row of `tokens` tokens): 2 per weight that multiplies each token
    (every parameter but the embedding tables') plus attention's two T x T products per layer."""
    net = model.model
    parameters = sum(p.numel() for p in net.parameters())
    embeddings = sum(p.numel() for n, p in net.named_parameters() if "embeddings" in n)
    config = net.config
    layers = getattr(config, "num_hidden_layers", 0)
    hidden = getattr(config, "hidden_size", 0)
    flops = 2.0 * (parameters - embeddings) * tokens + 4.0 * layers * tokens * tokens * hidden
    return parameters, flops


@dataclass
class JobEstimate:
    """A job's rows and cost: counts for the corpus, costs scaled from a sample."""

    sources: int
    bad_records: int
    copies: dict[str, int]  # spec key -> copies expected (the sample's written share)
    costs: SampleCosts
    cores: int
    read_seconds_per_record: float = 0.0
    worker_start_seconds: float = 0.0  # a worker process's start: Python, Beam, torch, transformers imported
    gpu_peak_tflops: dict[str, float] = field(default_factory=lambda: dict(GPU_PEAK_TFLOPS))
    gpu_utilization: float = ASSUMED_GPU_UTILIZATION

    @property
    def copies_asked(self) -> dict[str, int]:
        return self.costs.copies_asked

    @property
    def rows(self) -> int:
        return self.sources + sum(self.copies.values())

    def augment_core_hours(self) -> dict[str, float]:
        return {k: s * self.sources / 3600 for k, s in self.costs.augment_seconds.items()}

    def label_core_hours(self) -> float:
        return self.costs.label_seconds_per_row * self.rows / 3600

    def io_core_hours(self) -> float:
        """Reading and validating the corpus, and writing the rows."""
        read = self.read_seconds_per_record * (self.sources + self.bad_records)
        return (read + self.costs.write_seconds_per_row * self.rows) / 3600

    def core_hours(self) -> float:
        return sum(self.augment_core_hours().values()) + self.label_core_hours() + self.io_core_hours()

    def setup_seconds(self) -> float:
        """What each worker process spends before its first chunk: starting (its imports), then loading the
        augmenters' assets and the teacher."""
        return self.worker_start_seconds + sum(self.costs.setup_seconds.values()) + self.costs.teacher_load_seconds

    def wall_hours(self) -> float:
        """On `cores` worker processes of one thread each, every one set up first."""
        return self.core_hours() / self.cores + self.setup_seconds() / 3600

    def teacher_flops(self) -> float:
        return self.costs.teacher_flops_per_row * self.rows

    def gpu_hours(self) -> dict[str, float]:
        """Labelling on one card of each kind: an estimate from FLOPs at `gpu_utilization` of its peak."""
        return {
            name: self.teacher_flops() / (peak * 1e12 * self.gpu_utilization) / 3600
            for name, peak in self.gpu_peak_tflops.items()
        }

    def per_million_sources(self) -> dict[str, float]:
        """Core-hours per million sources for each step (labelling: per million sources' rows)."""
        scale = 1e6 / max(self.sources, 1)
        return {
            **{f"augment {k}": h * scale for k, h in self.augment_core_hours().items()},
            "label": self.label_core_hours() * scale,
            "read and write": self.io_core_hours() * scale,
        }

    def to_dict(self) -> dict:
        return {
            "sources": self.sources,
            "bad_records": self.bad_records,
            "copies_asked_per_source": self.copies_asked,
            "copies": self.copies,
            "rows": self.rows,
            "sample": vars(self.costs),
            "cores": self.cores,
            "augment_core_hours": self.augment_core_hours(),
            "label_core_hours": self.label_core_hours(),
            "read_and_write_core_hours": self.io_core_hours(),
            "core_hours": self.core_hours(),
            "wall_hours": self.wall_hours(),
            "worker_start_seconds": self.worker_start_seconds,
            "teacher_flops": self.teacher_flops(),
            "gpu_hours_estimated": self.gpu_hours(),
            "gpu_utilization_assumed": self.gpu_utilization,
            "core_hours_per_million_sources": self.per_million_sources(),
        }


def worker_start_seconds() -> float:
    """How long a fresh Python process takes to import what a materialize worker imports, here."""
    import subprocess
    import sys

    t0 = time.perf_counter()
    imports = "import apache_beam, torch, transformers, pyarrow.parquet, kdaug.core.augment, kdaug.core.teacher"
    subprocess.run([sys.executable, "-c", imports], check=True, capture_output=True)
    return time.perf_counter() - t0


def estimate(count: CorpusCount, costs: SampleCosts, cores: int, start_seconds: float = 0.0) -> JobEstimate:
    copies = {k: round(count.sources * per) for k, per in costs.copies_per_source.items()}
    return JobEstimate(
        count.sources,
        count.bad_records,
        copies,
        costs,
        cores,
        count.read_seconds_per_record,
        start_seconds,
    )
