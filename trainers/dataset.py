"""Reading a materialized dataset for training: schema-checked, streamed in record batches, never
loaded whole."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from kdaug_core.schema import DatasetMetadata, SchemaMismatchError, check_schema


@dataclass(frozen=True)
class MaterializedSplit:
    directory: str
    split: str
    files: list[str]
    metadata: DatasetMetadata

    @property
    def num_rows(self) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    def iter_batches(self, batch_size: int = 1024, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        for f in self.files:
            yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=list(columns) if columns else None)


def open_split(directory: str, split: str = "train") -> MaterializedSplit:
    """Finds a split's Parquet files and checks each against the current schema (one clear error)."""
    files = sorted(glob.glob(os.path.join(directory, "data", f"{split}-*.parquet")))
    if not files:
        found = sorted({os.path.basename(f).split("-")[0] for f in glob.glob(os.path.join(directory, "data", "*.parquet"))})
        raise SchemaMismatchError(f"no split {split!r} in {directory!r} (found splits: {found or 'none'})")
    metas = [check_schema(pq.read_schema(f), where=f) for f in files]
    first = metas[0]
    for f, m in zip(files[1:], metas[1:]):
        if (m.teacher_sha256, m.label_names) != (first.teacher_sha256, first.label_names):
            raise SchemaMismatchError(f"{f} was labelled by a different teacher than {files[0]}")
    return MaterializedSplit(directory, split, files, first)
