"""Access to the versioned dataset schema in schemas/: the Arrow schema, file metadata, and the checks a
reader makes before trusting a file. The pipeline writes through this module and the trainer reads
through it, so the two cannot drift apart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa

import schemas

_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "float32": pa.float32(),
    "bool": pa.bool_(),
    "list<float32>": pa.list_(pa.float32()),
}
META_PREFIX = "kdaug."


class SchemaMismatchError(ValueError):
    """A dataset does not match the schema version or columns a reader expects."""


@lru_cache(maxsize=None)
def load_spec(version: int = schemas.CURRENT_VERSION) -> dict:
    spec = json.loads(schemas.schema_text(version))
    if spec["version"] != version:
        raise ValueError(f"schemas/kd_dataset.v{version}.json declares version {spec['version']}")
    return spec


def column_names(version: int = schemas.CURRENT_VERSION) -> list[str]:
    return [c["name"] for c in load_spec(version)["columns"]]


def arrow_schema(metadata: dict | None = None, version: int = schemas.CURRENT_VERSION) -> pa.Schema:
    fields = [pa.field(c["name"], _TYPES[c["type"]], nullable=c["nullable"]) for c in load_spec(version)["columns"]]
    return pa.schema(fields, metadata=encode_metadata(metadata or {}, version))


@dataclass(frozen=True)
class DatasetMetadata:
    schema_version: int
    teacher: str
    teacher_sha256: str
    label_names: list[str]
    recipe: dict
    split: str


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
    )


def check_schema(schema: pa.Schema, where: str = "dataset",
                 version: int = schemas.CURRENT_VERSION) -> DatasetMetadata:
    """Raises SchemaMismatchError with one clear message unless `schema` is version `version` with
    every column of that version at its declared type."""
    meta = decode_metadata(schema, where)
    if meta.schema_version != version:
        raise SchemaMismatchError(f"{where} has kdaug schema version {meta.schema_version}; this reader "
                                  f"needs version {version}")
    expected = arrow_schema(version=version)
    problems = []
    for f in expected:
        if f.name not in schema.names:
            problems.append(f"missing column {f.name!r}")
        elif not schema.field(f.name).type.equals(f.type):
            problems.append(f"column {f.name!r} is {schema.field(f.name).type}, expected {f.type}")
    if problems:
        raise SchemaMismatchError(f"{where} does not match kdaug schema v{version}: {'; '.join(problems)}")
    return meta


def hf_features(version: int = schemas.CURRENT_VERSION) -> list[dict]:
    """The `dataset_info.features` block of a Hugging Face dataset card for this schema."""
    hf = {"string": "string", "int64": "int64", "int32": "int32", "float32": "float32", "bool": "bool"}
    feats = []
    for c in load_spec(version)["columns"]:
        if c["type"] == "list<float32>":
            feats.append({"name": c["name"], "sequence": "float32"})
        else:
            feats.append({"name": c["name"], "dtype": hf[c["type"]]})
    return feats
