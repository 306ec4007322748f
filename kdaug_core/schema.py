"""Access to the versioned dataset schema in schemas/: the Arrow schema, file metadata, and the checks a
reader makes before trusting a file. The pipeline writes through this module and the trainer reads
through it, so the two cannot drift apart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa

from kdaug import schemas
from kdaug.core.errors import KdaugError

_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "float32": pa.float32(),
    "bool": pa.bool_(),
    "list<float32>": pa.list_(pa.float32()),
    "list<float16>": pa.list_(pa.float16()),
    "list<int32>": pa.list_(pa.int32()),
}
META_PREFIX = "kdaug."


class SchemaMismatchError(KdaugError, ValueError):
    """A dataset does not match the schema version or columns a reader expects."""


@cache
def load_spec(version: int = schemas.CURRENT_VERSION) -> dict:
    spec = json.loads(schemas.schema_text(version))
    if spec["version"] != version:
        raise ValueError(f"schemas/kd_dataset.v{version}.json declares version {spec['version']}")
    return spec


def column_names(version: int = schemas.CURRENT_VERSION) -> list[str]:
    return [c["name"] for c in load_spec(version)["columns"]]


@dataclass(frozen=True)
class SoftLabels:
    """How teacher_logits is stored: dtype float32 (default) or float16; top_k None (dense) or k, the
    largest k logits with their class indices (exact when k covers every class)."""

    dtype: str = "float32"
    top_k: int | None = None

    def __post_init__(self):
        if self.dtype not in SOFT_LABEL_DTYPES:
            raise ValueError(f"soft-label dtype {self.dtype!r} is not one of {SOFT_LABEL_DTYPES}")
        if self.top_k is not None and (
            isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1
        ):
            raise ValueError(f"soft-label top_k must be a positive integer or null, got {self.top_k!r}")

    @classmethod
    def parse(cls, value: str | dict | SoftLabels | None) -> SoftLabels:
        """'float32', 'float16', 'topk:K', 'float16,topk:K', or {"dtype": ..., "top_k": ...}."""
        if value is None or isinstance(value, SoftLabels):
            return value or cls()
        if isinstance(value, dict):
            return cls(value.get("dtype", "float32"), value.get("top_k"))
        dtype, top_k = "float32", None
        for part in filter(None, (p.strip() for p in str(value).split(","))):
            if part.startswith("topk:") and part[5:].isdigit():
                top_k = int(part[5:])
            elif part in SOFT_LABEL_DTYPES:
                dtype = part
            else:
                raise ValueError(f"soft labels {value!r}: expected float32, float16, topk:K or e.g. float16,topk:K")
        return cls(dtype, top_k)

    def to_dict(self) -> dict:
        return {"dtype": self.dtype, "top_k": self.top_k}

    def stored_k(self, num_labels: int) -> int:
        return num_labels if self.top_k is None else min(self.top_k, num_labels)


SOFT_LABEL_DTYPES = ("float32", "float16")
SOFT_LABEL_COLUMNS = ("teacher_logits", "teacher_topk_indices")  # what soft_label_arrays fills


def arrow_schema(
    metadata: dict | None = None, version: int = schemas.CURRENT_VERSION, soft_labels: SoftLabels | None = None
) -> pa.Schema:
    soft_labels = soft_labels or SoftLabels()
    fields = []
    for c in load_spec(version)["columns"]:
        type_name = c["type"]
        if c["name"] == "teacher_logits":
            type_name = f"list<{soft_labels.dtype}>"
        fields.append(pa.field(c["name"], _TYPES[type_name], nullable=c["nullable"]))
    meta = dict(metadata or {})
    if version >= 2:
        meta["soft_labels"] = soft_labels.to_dict()
    encoded = encode_metadata(meta, version)
    if version >= 3 and meta.get("label_names"):
        encoded[HF_METADATA_KEY] = hf_file_features(meta["label_names"]).encode()
    return pa.schema(fields, metadata=encoded)


HF_METADATA_KEY = b"huggingface"


def hf_file_features(label_names: list[str]) -> str:
    """The Hugging Face features a file carries in its metadata (the key and form `datasets` writes and
    reads): `label` and `teacher_pred` as ClassLabel with the teacher's class names. The other columns'
    features follow from their Arrow types, in every `datasets` version, so only these two are written."""
    label = {"names": list(label_names), "_type": "ClassLabel"}
    return json.dumps({"info": {"features": dict.fromkeys(LABEL_COLUMNS, label)}}, sort_keys=True)


@dataclass(frozen=True)
class DatasetMetadata:
    schema_version: int
    teacher: str
    teacher_sha256: str
    label_names: list[str]
    recipe: dict
    split: str
    soft_labels: SoftLabels = SoftLabels()


def encode_metadata(meta: dict, version: int = schemas.CURRENT_VERSION) -> dict[bytes, bytes]:
    out = {f"{META_PREFIX}schema_version": str(version)}
    for key, value in meta.items():
        out[f"{META_PREFIX}{key}"] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return {k.encode(): v.encode() for k, v in out.items()}


def decode_metadata(schema: pa.Schema, where: str = "dataset") -> DatasetMetadata:
    raw = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items() if k.startswith(META_PREFIX.encode())}
    if f"{META_PREFIX}schema_version" not in raw:
        raise SchemaMismatchError(f"{where} was not written by kdaug (no kdaug.schema_version metadata)")
    get = lambda k: raw.get(META_PREFIX + k, "")  # noqa: E731
    return DatasetMetadata(
        schema_version=int(get("schema_version")),
        teacher=get("teacher"),
        teacher_sha256=get("teacher_sha256"),
        label_names=json.loads(get("label_names") or "[]"),
        recipe=json.loads(get("recipe") or "{}"),
        split=get("split"),
        soft_labels=SoftLabels.parse(json.loads(get("soft_labels") or "null")),
    )


def check_schema(
    schema: pa.Schema, where: str = "dataset", versions: tuple[int, ...] = schemas.READABLE_VERSIONS
) -> DatasetMetadata:
    """Raises SchemaMismatchError with one clear message unless `schema` is one of `versions` with
    every column of that version at its declared type (teacher_logits as its soft-label metadata says)."""
    meta = decode_metadata(schema, where)
    if meta.schema_version not in versions:
        raise SchemaMismatchError(
            f"{where} has kdaug schema version {meta.schema_version}; this reader "
            f"reads version(s) {', '.join(map(str, versions))}"
        )
    expected = arrow_schema(version=meta.schema_version, soft_labels=meta.soft_labels)
    problems = []
    for f in expected:
        if f.name not in schema.names:
            problems.append(f"missing column {f.name!r}")
        elif not schema.field(f.name).type.equals(f.type):
            problems.append(f"column {f.name!r} is {schema.field(f.name).type}, expected {f.type}")
    if problems:
        raise SchemaMismatchError(f"{where} does not match kdaug schema v{meta.schema_version}: {'; '.join(problems)}")
    return meta


LABEL_COLUMNS = ("label", "teacher_pred")  # class indices into the teacher's label names


def hf_features(
    version: int = schemas.CURRENT_VERSION, soft_labels: SoftLabels | None = None, label_names: list[str] | None = None
) -> list[dict]:
    """The `dataset_info.features` block of a Hugging Face dataset card for this schema. With the label
    names, `label` and `teacher_pred` are ClassLabel features (the Hub viewer and `datasets` show names)."""
    hf = {"string": "string", "int64": "int64", "int32": "int32", "float32": "float32", "bool": "bool"}
    feats: list[dict] = []
    for c in load_spec(version)["columns"]:
        if c["name"] in LABEL_COLUMNS and label_names:
            feats.append({"name": c["name"], "dtype": {"class_label": {"names": dict(enumerate(label_names))}}})
        elif c["name"] == "teacher_logits" and soft_labels is not None:
            feats.append({"name": c["name"], "sequence": soft_labels.dtype})
        elif c["type"].startswith("list<"):
            feats.append({"name": c["name"], "sequence": c["type"][5:-1]})
        else:
            feats.append({"name": c["name"], "dtype": hf[c["type"]]})
    return feats


# ------------------------------------------------------------------------------------------ soft labels


def soft_label_arrays(logits: np.ndarray, soft_labels: SoftLabels) -> tuple[pa.Array, pa.Array]:
    """float32 logits [n, C] -> (teacher_logits, teacher_topk_indices) columns in the chosen storage.
    Top-k keeps the k largest logits, largest first (ties by lower class index), so k = C is exact."""
    n, num_labels = logits.shape
    k = soft_labels.stored_k(num_labels)
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))  # every row holds k values
    if soft_labels.top_k is None:
        values, indices = logits, pa.nulls(n, pa.list_(pa.int32()))
    else:
        order = np.argsort(-logits, axis=1, kind="stable")[:, :k].astype(np.int32)
        values = np.take_along_axis(logits, order, axis=1)
        indices = pa.ListArray.from_arrays(offsets, pa.array(order.reshape(-1)))
    dtype = np.float16 if soft_labels.dtype == "float16" else np.float32
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(values, dtype=dtype).reshape(-1))), indices


def dense_logits(values: list, indices: list | None, num_labels: int) -> list[float]:
    """One stored row -> float32 logits over every class; classes outside a top-k get -inf (probability
    0 under any temperature, so the teacher's distribution is its top-k renormalized)."""
    if indices is None:
        return [float(v) for v in values]
    out = [float("-inf")] * num_labels
    for i, v in zip(indices, values):
        out[i] = float(v)
    return out


def rows_to_table(rows: list[dict], schema, soft_labels: SoftLabels):
    """Row dicts (teacher_logits as float32 arrays) -> an Arrow table of `schema`, soft labels stored as asked."""
    columns = {
        f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema if f.name not in SOFT_LABEL_COLUMNS
    }
    num_labels = len(json.loads(schema.metadata[b"kdaug.label_names"]))
    logits = np.stack([r["teacher_logits"] for r in rows]) if rows else np.zeros((0, num_labels), np.float32)
    columns.update(zip(SOFT_LABEL_COLUMNS, soft_label_arrays(logits, soft_labels)))
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)
