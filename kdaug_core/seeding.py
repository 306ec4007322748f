"""Stable hashing: seeds and ids that are the same on every machine, runner, worker count and sharding.
Never Python's hash(), which is salted per process."""

from __future__ import annotations

import hashlib

_SEP = "\x1f"


def stable_hash64(*parts: object) -> int:
    """A 63-bit non-negative int from sha256 over the parts (fits Parquet's int64)."""
    digest = hashlib.sha256(_SEP.join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def copy_seed(global_seed: int, source_id: str, spec_key: str, copy_index: int) -> int:
    return stable_hash64("copy", global_seed, source_id, spec_key, copy_index)


def example_seed(global_seed: int, source_id: str, spec_key: str) -> int:
    return stable_hash64("example", global_seed, source_id, spec_key)


def content_id(position: str, *fields: object) -> str:
    """An id for a record without one: a hash of where it stands in the corpus and what it says."""
    digest = hashlib.sha256(_SEP.join([position, *map(repr, fields)]).encode("utf-8")).hexdigest()
    return digest[:20]
