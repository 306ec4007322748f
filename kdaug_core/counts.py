"""What a materialize run counts, as one typed value: the pipeline's steps each emit a partial RunCounts,
the pipeline sums them, and the manifest (kdaug.core.publishing.manifest) reads the total. Both sides use this one
definition, so a count cannot be written under one name and read under another."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# Sums of per-row floats are kept in fixed point (integers counting 2**-60; a float from 2**-8 up
# converts exactly): integer addition is exact, so a total is the same whatever order the runner adds a
# job's chunks in. (Float addition is not associative: two runs of one 100k-source job wrote means that
# differed in their 17th digit.)
FIXED_POINT = 2**60


def to_fixed(value: float) -> int:
    return round(value * FIXED_POINT)


def _add(a: Mapping, b: Mapping) -> dict:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


@dataclass(frozen=True)
class RunCounts:
    records_read: int = 0
    rows: Mapping[str, int] = field(default_factory=dict)  # per aug_method ("original" for sources)
    changed_ratio_fixed_sum: Mapping[str, int] = field(default_factory=dict)  # per aug_method, to_fixed
    kl_to_source_fixed_sum: Mapping[str, int] = field(default_factory=dict)  # per aug_method, to_fixed
    copies_requested: Mapping[str, int] = field(default_factory=dict)  # per augment spec key ("synonym.0")
    copies_written: Mapping[str, int] = field(default_factory=dict)  # per augment spec key
    copies_short_text: Mapping[str, int] = field(default_factory=dict)  # per spec key: not drawn, text too short
    dead_letters: Mapping[str, int] = field(default_factory=dict)  # source records', per stage ("read", "label")
    copy_dead_letters_by_stage: Mapping[str, int] = field(default_factory=dict)  # copies', per stage
    truncated_rows: int = 0
    data_bytes: int = 0
    soft_label_bytes: int = 0
    data_files: frozenset[str] = frozenset()  # names in data/ this run wrote
    dead_letter_files: frozenset[str] = frozenset()  # names in dead_letter/ this run wrote
    chunks_written: int = 0  # chunks this run augmented, labelled and wrote
    chunks_reused: int = 0  # chunks an interrupted earlier run of the same job had staged
    windowed_sources: int = 0  # sources longer than max_words, augmented within their first max_words words
    unit_chunks: Mapping[str, int] = field(default_factory=dict)  # per read unit (its index): the chunks read
    chunks_failed: frozenset[str] = frozenset()  # keys of chunks the teacher could not label (dead-lettered)

    def __add__(self, other: RunCounts) -> RunCounts:
        merged: dict[str, Any] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            merged[f.name] = a | b if isinstance(a, frozenset) else _add(a, b) if isinstance(a, Mapping) else a + b
        return RunCounts(**merged)

    def to_dict(self) -> dict:
        """Plain JSON values (file sets as sorted lists), for a staged chunk's record."""
        return {
            f.name: sorted(v)
            if isinstance(v := getattr(self, f.name), frozenset)
            else dict(v)
            if isinstance(v, Mapping)
            else v
            for f in fields(self)
        }

    @classmethod
    def from_dict(cls, values: dict) -> RunCounts:
        values = dict(values)
        for legacy in ("changed_ratio_sum", "kl_to_source_sum"):  # float sums, in chunks staged before fixed point
            if legacy in values:
                sums = values.pop(legacy)
                values[legacy.replace("_sum", "_fixed_sum")] = {m: to_fixed(v) for m, v in sums.items()}
        kinds = {f.name: f.default for f in fields(cls)}
        converted: dict[str, Any] = {
            k: frozenset(v) if isinstance(kinds[k], frozenset) else v for k, v in values.items()
        }
        return cls(**converted)

    @staticmethod
    def total(parts: Iterable[RunCounts]) -> RunCounts:
        out = RunCounts()
        for part in parts:
            out = out + part
        return out

    # What each step of the pipeline contributes.

    @classmethod
    def read(cls, records: int) -> RunCounts:
        return cls(records_read=records)

    @classmethod
    def augmented(cls, spec_key: str, requested: int, written: int, short_text: int = 0) -> RunCounts:
        return cls(
            copies_requested={spec_key: requested},
            copies_written={spec_key: written},
            copies_short_text={spec_key: short_text},
        )

    @classmethod
    def written(cls, file_name: str, rows: Iterable[dict], data_bytes: int, soft_label_bytes: int) -> RunCounts:
        """A data file and its rows (dicts with aug_method, changed_ratio, teacher_kl_to_source, truncated)."""
        per_method: dict[str, int] = {}
        ratio_sum: dict[str, int] = {}
        kl_sum: dict[str, int] = {}
        truncated = 0
        for r in rows:
            method = r["aug_method"]
            per_method[method] = per_method.get(method, 0) + 1
            ratio_sum[method] = ratio_sum.get(method, 0) + to_fixed(r["changed_ratio"])
            kl_sum[method] = kl_sum.get(method, 0) + to_fixed(r["teacher_kl_to_source"] or 0.0)
            truncated += bool(r["truncated"])
        return cls(
            rows=per_method,
            changed_ratio_fixed_sum=ratio_sum,
            kl_to_source_fixed_sum=kl_sum,
            truncated_rows=truncated,
            data_bytes=data_bytes,
            soft_label_bytes=soft_label_bytes,
            data_files=frozenset([file_name]),
        )

    @classmethod
    def dead_lettered(cls, file_name: str, letters: Iterable[Mapping[str, Any]]) -> RunCounts:
        """The dead letters of a file, per stage, those of source records apart from those of copies."""
        records: dict[str, int] = {}
        copies: dict[str, int] = {}
        for letter in letters:
            counted = copies if letter["copy"] else records
            counted[letter["stage"]] = counted.get(letter["stage"], 0) + 1
        return cls(dead_letters=records, copy_dead_letters_by_stage=copies, dead_letter_files=frozenset([file_name]))

    # What the manifest reads.

    @property
    def changed_ratio_sum(self) -> dict[str, float]:
        return {m: v / FIXED_POINT for m, v in self.changed_ratio_fixed_sum.items()}

    @property
    def kl_to_source_sum(self) -> dict[str, float]:
        return {m: v / FIXED_POINT for m, v in self.kl_to_source_fixed_sum.items()}

    @property
    def source_dead_letters(self) -> int:
        return sum(self.dead_letters.values())

    @property
    def copy_dead_letters(self) -> int:
        return sum(self.copy_dead_letters_by_stage.values())
