"""Semantic-shift degree: the share of a source's word tokens that an augmented copy changed.

The augmenters know what they changed and say it: a replacement method counts the source words it
replaced (a multi-word synonym, "film" -> "motion picture", changes 1 source word); AugPro counts, for
each span of the source it rewrote, the source words in it, or the words it inserted where the span
had none (a projected position may turn punctuation into a word). Casing is not a change. The ratio is
changed / source words, bounded to [0, 1]; a source with no words that gained some has ratio 1.

measure() is for copies made elsewhere (baselines): a linear-time alignment of the two word sequences.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

from kdaug.core.words import WORD_RE, words

# measure() aligns the differing middle of two texts exactly only up to this many words a side
EXACT_ALIGNMENT_WORDS = 200


@dataclass(frozen=True)
class Shift:
    changed_words: int
    word_count: int

    @property
    def ratio(self) -> float:
        if not self.word_count:
            return 1.0 if self.changed_words else 0.0
        return min(1.0, self.changed_words / self.word_count)

    def __add__(self, other: Shift) -> Shift:
        return Shift(self.changed_words + other.changed_words, self.word_count + other.word_count)


def changed_by_edits(source: str, edits: Iterable[tuple[int, int, str]]) -> int:
    """Words changed by rewriting `source`'s character spans [start, end) into new text: the source words
    a span overlaps, or, for a span with none, the words the new text brings (an insertion)."""
    spans = [(m.start(), m.end()) for m in WORD_RE.finditer(source)]
    starts = [a for a, _ in spans]
    replaced: set[int] = set()  # a word two edits touch ("co-writer": "co" and "writer") counts once
    inserted = 0
    for start, end, new in edits:
        i = max(bisect.bisect_right(starts, start) - 1, 0)  # the first word that can overlap [start, end)
        overlapped = []
        while i < len(spans) and spans[i][0] < end:
            if spans[i][1] > start:
                overlapped.append(i)
            i += 1
        if overlapped:
            replaced.update(overlapped)
        else:
            inserted += len(words(new))
    return len(replaced) + inserted


def measure_words(source: list[str], copy: list[str]) -> Shift:
    """Aligns two word sequences in linear time: the common prefix and suffix are unchanged; the middle
    is aligned exactly (difflib) when it is short, else counted as replaced (the larger side)."""
    a = [w.lower() for w in source]
    b = [w.lower() for w in copy]
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    mid_a, mid_b = a[head : len(a) - tail], b[head : len(b) - tail]
    if not mid_a or not mid_b:
        changed = len(mid_a) + len(mid_b)  # a pure deletion or insertion
    elif len(mid_a) == len(mid_b):
        changed = sum(x != y for x, y in zip(mid_a, mid_b))
    elif max(len(mid_a), len(mid_b)) <= EXACT_ALIGNMENT_WORDS:
        changed = 0
        for op, i1, i2, j1, j2 in SequenceMatcher(None, mid_a, mid_b, autojunk=False).get_opcodes():
            if op in ("replace", "delete"):
                changed += i2 - i1
            elif op == "insert":
                changed += j2 - j1
    else:
        changed = max(len(mid_a), len(mid_b))
    return Shift(changed, len(a))


def measure(source_text: str, copy_text: str) -> Shift:
    return measure_words(words(source_text), words(copy_text))


def changed_ratio(source_text: str, copy_text: str) -> float:
    return measure(source_text, copy_text).ratio
