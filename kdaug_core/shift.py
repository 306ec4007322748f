"""Semantic-shift degree: the share of a source's word tokens that an augmented copy changed.

One measure for every augmenter. Source and copy word sequences are aligned (difflib, on lowercased
words, so a casing change is not a change); every source word outside the aligned matching blocks counts
as changed. A one-word synonym swap changes 1 word; a multi-word synonym ("film" -> "motion picture")
still changes 1 source word; a deletion changes the deleted words.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from kdaug_core.words import words


@dataclass(frozen=True)
class Shift:
    changed_words: int
    word_count: int

    @property
    def ratio(self) -> float:
        return self.changed_words / self.word_count if self.word_count else 0.0

    def __add__(self, other: "Shift") -> "Shift":
        return Shift(self.changed_words + other.changed_words, self.word_count + other.word_count)


def measure_words(source: list[str], copy: list[str]) -> Shift:
    a = [w.lower() for w in source]
    b = [w.lower() for w in copy]
    matched = sum(block.size for block in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
    return Shift(len(a) - matched, len(a))


def measure(source_text: str, copy_text: str) -> Shift:
    return measure_words(words(source_text), words(copy_text))


def changed_ratio(source_text: str, copy_text: str) -> float:
    return measure(source_text, copy_text).ratio
