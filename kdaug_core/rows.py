"""Building output rows (dicts keyed by the schema's columns) from sources and augmented copies.
The teacher's columns are added by the labelling step; everything else is decided here."""

from __future__ import annotations

from kdaug.core.augment import AugmentedCopy, Augmenter
from kdaug.core.corpus import SourceExample
from kdaug.core.words import words

ORIGINAL = "original"


def original_row(src: SourceExample) -> dict:
    return {
        "id": src.id,
        "source_id": src.id,
        "text": src.text,
        "text_pair": src.text_pair,
        "label": src.label,
        "aug_method": ORIGINAL,
        "aug_params": "{}",
        "aug_seed": 0,
        "changed_ratio": 0.0,
        "changed_words": 0,
        "word_count": len(words(src.text)) + len(words(src.text_pair or "")),
    }


def copy_id(source_id: str, spec_key: str, copy_index: int) -> str:
    return f"{source_id}/{spec_key}.{copy_index}"


def copy_row(src: SourceExample, copy: AugmentedCopy, augmenter: Augmenter) -> dict:
    return {
        "id": copy_id(src.id, augmenter.spec_key, copy.copy_index),
        "source_id": src.id,
        "text": copy.text,
        "text_pair": copy.text_pair,
        "label": src.label,
        "aug_method": augmenter.method,
        "aug_params": augmenter.aug_params_json(),
        "aug_seed": copy.aug_seed,
        "changed_ratio": copy.shift.ratio,
        "changed_words": copy.shift.changed_words,
        "word_count": copy.shift.word_count,
    }


def position_key(position: str) -> tuple[str, int]:
    """'data/part-1.jsonl:17' -> ('data/part-1.jsonl', 17), so that line 9 sorts before line 10."""
    name, _, line = position.rpartition(":")
    return (name, int(line)) if line.isdigit() else (position, -1)
