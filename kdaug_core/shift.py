"""Semantic-shift degree: the share of a source's word tokens that an augmented copy changed.

One measure for every augmenter. Source and copy word sequences are aligned (difflib, on lowercased
words, so a casing change is not a change). Every source word that is replaced or deleted counts as
changed, and so does every word inserted where the source had none (a projected AugPro position may
turn punctuation into a word). A one-word synonym swap changes 1 word; a multi-word synonym ("film" ->
"motion picture") still changes 1 source word.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from kdaug.core.words import words


@dataclass(frozen=True)
class Shift:
    changed_words: int
    word_count: int

    @property
    def ratio(self) -> float:
        return self.changed_words / self.word_count if self.word_count else 0.0

    def __add__(self, other: Shift) -> Shift:
        return Shift(self.changed_words + other.changed_words, self.word_count + other.word_count)


def measure_words(source: list[str], copy: list[str]) -> Shift:
    a = [w.lower() for w in source]
    b = [w.lower() for w in copy]
    changed = 0
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("replace", "delete"):
            changed += i2 - i1
        elif op == "insert":
            changed += j2 - j1
    return Shift(changed, len(a))


def measure(source_text: str, copy_text: str) -> Shift:
    return measure_words(words(source_text), words(copy_text))


def changed_ratio(source_text: str, copy_text: str) -> float:
    return measure(source_text, copy_text).ratio
