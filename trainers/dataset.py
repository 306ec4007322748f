"""Reading a materialized dataset for training: schema-checked, streamed in record batches, never
loaded whole; then the rows a run trains on (its filters), in a seeded shuffled order, cut into batches
of similar length."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from kdaug.core.corpus import (
    BadRecord,
    ColumnSpec,
    CorpusError,
    LabelSpace,
    check_columns,
    peek_labels,
    plan_read_units,
    read_unit,
    validate_record,
)
from kdaug.core.dataset import DATA, MANIFEST, STAGING, DamagedDatasetError, DatasetDir
from kdaug.core.schema import DatasetMetadata, SchemaMismatchError, check_schema, column_names, dense_logits
from kdaug.trainers.config import TrainConfig


@dataclass(frozen=True)
class MaterializedSplit:
    directory: str
    split: str
    files: list[str]
    metadata: DatasetMetadata
    sha256: tuple[str | None, ...] = ()  # each file's sha256 as the manifest records it (None: not recorded)

    @property
    def num_rows(self) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    def iter_batches(self, batch_size: int = 1024, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        for f in self.files:
            yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=list(columns) if columns else None)

    def iter_rows(self, columns: Sequence[str] | None = None) -> Iterator[dict]:
        """Rows as dicts. teacher_logits comes back dense float32 whatever the storage (a top-k row has
        -inf for the classes it did not keep); columns a v1 dataset lacks come back None."""
        available = pq.read_schema(self.files[0]).names
        wanted = list(columns) if columns else list(available)
        topk = "teacher_logits" in wanted and self.metadata.soft_labels.top_k is not None
        read = [c for c in wanted if c in available] + (["teacher_topk_indices"] if topk else [])
        num_labels = len(self.label_names)
        for batch in self.iter_batches(columns=list(dict.fromkeys(read))):
            for row in batch.to_pylist():
                if "teacher_logits" in wanted:
                    row["teacher_logits"] = dense_logits(
                        row["teacher_logits"], row.get("teacher_topk_indices") if topk else None, num_labels
                    )
                    if "teacher_topk_indices" not in wanted:
                        row.pop("teacher_topk_indices", None)
                for c in wanted:
                    row.setdefault(c, None)
                yield row

    def fingerprint(self) -> str:
        """sha256 over the files' names and bytes. Each file's own sha256, computed in the same read, is
        checked against the manifest: a file changed after materialize wrote it is refused, named."""
        expected = dict(zip(self.files, self.sha256))

        def check(path: str, digest: str) -> None:
            want = expected.get(path)
            if want is not None and want != digest:
                raise DamagedDatasetError(
                    f"{path}: sha256 {digest[:16]}... is not the manifest's {want[:16]}...: the file "
                    f"changed after materialize wrote it. Run `kdaug verify {self.directory}` to see every "
                    f"problem, and materialize the split again"
                )

        return files_sha256(self.files, check)

    def has_column(self, name: str) -> bool:
        """Whether the dataset's schema version has the column (v1 lacks teacher_kl_to_source)."""
        return name in column_names(self.metadata.schema_version)

    @property
    def label_names(self) -> list[str]:
        return self.metadata.label_names

    @property
    def teacher(self) -> str:
        return self.metadata.teacher

    @property
    def source_columns(self) -> ColumnSpec:
        """The corpus columns the dataset was materialized from (its held-out sets have the same)."""
        recipe = self.metadata.recipe
        return ColumnSpec(
            recipe.get("text_column") or "text", recipe.get("text_pair_column"), recipe.get("label_column") or "label"
        )


@dataclass
class CorpusSplit:
    """A plain labelled corpus (any format materialize reads) seen as rows of originals: what
    `kdaug finetune` trains a teacher on before any dataset has been materialized."""

    path: str
    label_names: list[str]
    columns: ColumnSpec
    teacher: str | None = None

    @classmethod
    def open(cls, path: str, columns: ColumnSpec, label_names: list[str] | None = None) -> CorpusSplit:
        units = plan_read_units(path)
        check_columns(units, columns)
        if not columns.label:
            raise CorpusError(f"{path}: training on a corpus needs its label column (--label-column)")
        if not label_names:
            values = {str(v) for v in peek_labels(units, columns.label, max_records=1_000_000)}
            if all(v.lstrip("-").isdigit() for v in values):
                label_names = [str(i) for i in range(max(int(v) for v in values) + 1)]
            else:
                label_names = sorted(values)
            if len(label_names) < 2:
                raise CorpusError(
                    f"{path!r}: column {columns.label!r} holds {len(label_names)} class(es) "
                    f"({', '.join(label_names) or 'no labels'}); a classifier needs at least 2"
                )
        return cls(path, label_names, columns)

    @property
    def num_rows(self) -> int:
        return sum(1 for _ in self.iter_rows())

    @property
    def source_columns(self) -> ColumnSpec:
        return ColumnSpec(self.columns.text, self.columns.text_pair, self.columns.label)

    def fingerprint(self) -> str:
        return files_sha256(sorted({unit.path for unit in plan_read_units(self.path)}))

    def has_column(self, name: str) -> bool:
        """A plain corpus has gold labels and texts, none of the teacher's columns."""
        return name in ("id", "text", "text_pair", "label")

    def iter_rows(self, columns: Sequence[str] | None = None) -> Iterator[dict]:
        labels = LabelSpace(dict(enumerate(self.label_names)))
        for unit in plan_read_units(self.path):
            for rec in read_unit(unit):
                try:
                    ex = validate_record(rec, self.columns, labels)
                except BadRecord:
                    continue
                yield {
                    "id": ex.id,
                    "text": ex.text,
                    "text_pair": ex.text_pair,
                    "label": ex.label,
                    "aug_method": "original",
                    "changed_ratio": 0.0,
                    "teacher_logits": None,
                    "teacher_entropy": 0.0,
                    "teacher_kl_to_source": None,
                }


def files_sha256(paths: Sequence[str], each: Callable[[str, str], None] | None = None) -> str:
    """sha256 over the files' names and bytes: what a training run was trained on, so that resuming can
    tell a changed dataset (materialize writes the same bytes for the same input and seed). `each(path,
    sha256)` is given every file's own digest, from the same read."""
    h = hashlib.sha256()
    for path in paths:
        h.update(os.path.basename(path).encode("utf-8") + b"\0")
        own = hashlib.sha256()
        with fsspec.open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
                own.update(block)
        if each is not None:
            each(path, own.hexdigest())
    return h.hexdigest()


def open_training_data(path: str, split: str, columns: ColumnSpec, label_names: list[str] | None = None):
    """A materialized dataset directory (a manifest, data/ or a run's staging), else a plain labelled corpus."""
    if any(os.path.exists(os.path.join(path, name)) for name in (MANIFEST, DATA, STAGING)):
        return open_split(path, split)
    return CorpusSplit.open(path, columns, label_names)


def open_split(directory: str, split: str = "train") -> MaterializedSplit:
    """A complete split's Parquet files, as its manifest lists them, each checked against the schema (one
    clear error: an incomplete or interrupted dataset, an unreadable file, another schema)."""
    if not os.path.exists(directory):
        raise SchemaMismatchError(f"dataset directory {directory!r} does not exist")
    if not os.path.isdir(directory):
        raise SchemaMismatchError(
            f"{directory!r} is not a materialized dataset (a file, not a directory); make one with kdaug materialize"
        )
    dataset = DatasetDir(directory)
    files = dataset.committed_files(split)
    footers = [_read_footer(f) for f in files]
    metas = [check_schema(footer.schema.to_arrow_schema(), where=f) for f, footer in zip(files, footers)]
    if not files:
        raise SchemaMismatchError(f"split {split!r} of {directory!r} has no data files")
    entry = dataset.committed_entry(split)
    dataset.check_sizes(entry)
    rows = sum(footer.num_rows for footer in footers)
    if entry.get("rows_written") is not None and rows != entry["rows_written"]:
        raise DamagedDatasetError(
            f"split {split!r} of {directory!r} has {rows} rows in its data files, its manifest says "
            f"{entry['rows_written']}: a file was changed after materialize wrote it. Run `kdaug verify "
            f"{directory}` to see every problem, and materialize the split again"
        )
    recorded = {f["path"]: f.get("sha256") for f in entry.get("files", [])}
    sha256 = tuple(recorded.get(name) for name in entry.get("data_files", []))
    first = metas[0]
    for f, m in zip(files[1:], metas[1:]):
        if (m.teacher_sha256, m.label_names) != (first.teacher_sha256, first.label_names):
            raise SchemaMismatchError(f"{f} was labelled by a different teacher than {files[0]}")
        if (m.schema_version, m.soft_labels) != (first.schema_version, first.soft_labels):
            raise SchemaMismatchError(
                f"{f} stores its soft labels differently from {files[0]} "
                f"({m.soft_labels} v{m.schema_version} vs {first.soft_labels} v{first.schema_version})"
            )
    return MaterializedSplit(directory, split, files, first, sha256)


def _read_footer(path: str) -> pq.FileMetaData:
    """The file's footer (schema with its metadata, row counts), read once and the file closed."""
    try:
        return pq.read_metadata(path)
    except (OSError, pa.ArrowException) as err:
        raise SchemaMismatchError(
            f"{path} is not a readable Parquet file ({err}); it may be truncated or damaged: materialize the "
            f"split again"
        ) from None


# ------------------------------------------------------------------------------- a run's rows

# The columns a training run reads from a materialized dataset.
COLUMNS = [
    "id",
    "text",
    "text_pair",
    "label",
    "aug_method",
    "changed_ratio",
    "teacher_logits",
    "teacher_entropy",
    "teacher_kl_to_source",
]


def row_passes(row: dict, cfg: TrainConfig) -> bool:
    original = row["aug_method"] == "original"
    if cfg.methods is not None and row["aug_method"] not in cfg.methods:
        return False
    if cfg.objective == "finetune" and (row["label"] is None or (not original and not cfg.augmented)):
        return False
    if original:
        return True
    if cfg.min_changed_ratio is not None and row["changed_ratio"] < cfg.min_changed_ratio:
        return False
    if cfg.max_changed_ratio is not None and row["changed_ratio"] > cfg.max_changed_ratio:
        return False
    if cfg.max_teacher_kl_to_source is not None and (
        row["teacher_kl_to_source"] is None or row["teacher_kl_to_source"] > cfg.max_teacher_kl_to_source
    ):
        return False  # a copy without the value (source unlabelled) cannot show it stayed close
    return cfg.max_teacher_entropy is None or row["teacher_entropy"] <= cfg.max_teacher_entropy


# What row_passes reads, plus the texts a new student's vocabulary is built from.
SELECTION_COLUMNS = [c for c in COLUMNS if c not in ("id", "teacher_logits")]


def trained_rows(split, cfg: TrainConfig) -> Iterator[dict]:
    """The rows an epoch trains on (unshuffled): the split's, less those the filters drop."""
    return (row for row in split.iter_rows(columns=SELECTION_COLUMNS) if row_passes(row, cfg))


def stream_rows(split, cfg: TrainConfig, epoch: int) -> Iterator[dict]:
    """The epoch's rows in a shuffled order that depends only on (seed, epoch)."""
    rng = random.Random(f"{cfg.seed}/{epoch}")
    buffer: list[dict] = []
    for row in split.iter_rows(columns=COLUMNS):
        if not row_passes(row, cfg):
            continue
        if len(buffer) < cfg.shuffle_buffer:
            buffer.append(row)
            continue
        i = rng.randrange(len(buffer))
        yield buffer[i]
        buffer[i] = row
    rng.shuffle(buffer)
    yield from buffer


def batches(rows: Iterator[dict], size: int, pool: int = 1, rng: random.Random | None = None) -> Iterator[list[dict]]:
    """Batches of `size` rows. With pool > 1, every `pool` batches' worth of the (shuffled) stream is sorted
    by text length, cut into batches, and those batches are yielded in an order drawn from `rng`: rows of
    similar length share a batch, so little of a batch is padding, while the pools keep the epoch's
    order random at the scale of the pool."""
    group: list[dict] = []
    for row in rows:
        group.append(row)
        if len(group) == size * pool:
            yield from _cut(group, size, pool, rng)
            group = []
    if group:
        yield from _cut(group, size, pool, rng)


def _cut(rows: list[dict], size: int, pool: int, rng: random.Random | None) -> list[list[dict]]:
    if pool > 1:
        rows = sorted(rows, key=_length)  # stable: ties keep the shuffled order
    cut = [rows[i : i + size] for i in range(0, len(rows), size)]
    if pool > 1 and rng is not None:
        rng.shuffle(cut)
    return cut


def _length(row: dict) -> int:
    return len(row["text"]) + len(row["text_pair"] or "")


def epoch_batches(split, cfg: TrainConfig, epoch: int) -> Iterator[list[dict]]:
    """The epoch's batches: a function of (data, seed, epoch, settings) only, so a resumed run skips
    exactly the batches it trained before."""
    rng = random.Random(f"{cfg.seed}/{epoch}/batches")
    return batches(stream_rows(split, cfg, epoch), cfg.batch_size, cfg.bucket_pool, rng)
