"""Drawing distinct copies: the loop every augmenter shares, around a drafting step of its own.

An augmenter drafts a copy (which words change, and into what: the part that differs between methods);
this loop keeps a draft only if it differs from its source and from the copies kept so far, draws again
where it does not, records each copy's shift, and counts the copies it could not make distinct. Every
(source, copy index) has its own generator, seeded by the copy's recorded aug_seed, so a copy depends
only on its source, the seed, the spec and its index: never on the rest of the batch.

Two orders, both deterministic:
  one by one   a source's copies are drawn in index order, each through all its attempts before the
               next starts (the word-replacement methods: a draft costs microseconds);
  together     every pending copy of every source is drafted in each round, and a copy's attempts are
               rounds (the model-based methods: one batched forward pass per round, not per copy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kdaug.core.corpus import SourceExample
from kdaug.core.seeding import copy_seed
from kdaug.core.shift import Shift
from kdaug.core.words import words

Texts = tuple  # (text, text_pair or None)


@dataclass(frozen=True)
class AugmentedCopy:
    text: str
    text_pair: str | None
    shift: Shift
    aug_seed: int
    copy_index: int


@dataclass
class AugmentResult:
    source_id: str
    copies: list[AugmentedCopy]
    requested: int = 0
    short_text: int = 0  # copies not drawn: the text has too few words for the ratio (short=expected)

    @property
    def shortfall(self) -> int:
        return self.requested - len(self.copies)


@dataclass
class Pending:
    """A copy still to be drawn: its source (an index into the batch), its index and its generator."""

    source: int
    copy: int
    rng: np.random.Generator
    attempt: int = 0  # drafts made so far


@dataclass(frozen=True)
class Draft:
    """A drafted copy and how many of its source's words it changed (the method knows: kdaug.core.shift)."""

    texts: Texts
    changed_words: int


# A method's drafting step: one draft per pending copy, in order; None where it changed nothing.
Drafter = Callable[[list[Pending]], Sequence["Draft | None"]]


def draw_copies(
    sources: Sequence[SourceExample],
    sides: Sequence[Sequence[int]],
    draft: Drafter,
    *,
    seed: int,
    spec_key: str,
    copies: int,
    max_attempts: int,
    together: bool,
    eligible: Sequence[bool] | None = None,
    short_ratio: float | None = None,
) -> list[AugmentResult]:
    """Up to `copies` distinct copies per source (fewer where drafts keep repeating). `sides[i]` are the
    sides (0 text, 1 text_pair) whose shift counts for source i; `eligible[i]` False gives source i no
    copies at all (nothing in it can change).

    short_ratio: a text whose words are too few for this ratio (ratio x words < 1, so even one change
    overshoots it) gets each copy only with probability ratio x words, decided by the copy's own
    generator; a copy changes at least one word, so the expected change per copy asked is ratio x words
    on every text and a corpus of short texts keeps the ratio on average. Copies not drawn are counted
    (AugmentResult.short_text). None: every copy is drawn (one word changed on a short text)."""
    results = [AugmentResult(s.id, [], requested=copies) for s in sources]
    seen = [{normalized((s.text, s.text_pair))} for s in sources]
    word_counts = [sum(len(words((s.text, s.text_pair)[side] or "")) for side in sd) for s, sd in zip(sources, sides)]

    keep = [
        1.0 if short_ratio is None or n == 0 else min(1.0, short_ratio * n) for n in word_counts
    ]  # chance that a copy of source i is drawn at all

    def start(i: int, c: int) -> Pending | None:
        p = Pending(i, c, np.random.default_rng(copy_seed(seed, sources[i].id, spec_key, c)))
        if keep[i] < 1.0 and p.rng.random() >= keep[i]:  # long texts never draw here: their copies are unchanged
            results[i].short_text += 1
            return None
        return p

    def start_from(i: int, c: int) -> Pending | None:
        """One by one: the first copy from index c on that is drawn at all."""
        for index in range(c, copies):
            if (p := start(i, index)) is not None:
                return p
        return None

    usable = [i for i in range(len(sources)) if eligible is None or eligible[i]]
    if together:
        pending = [p for i in usable for c in range(copies) if (p := start(i, c)) is not None]
    else:
        pending = [p for i in usable if (p := start_from(i, 0)) is not None]
    while pending:
        drafts = draft(pending)
        following = []
        for p, drafted in zip(pending, drafts):
            p.attempt += 1
            src = sources[p.source]
            if drafted is not None and (key := normalized(drafted.texts)) not in seen[p.source]:
                seen[p.source].add(key)
                shift = Shift(drafted.changed_words, word_counts[p.source])
                aug_seed = copy_seed(seed, src.id, spec_key, p.copy)
                out = drafted.texts
                results[p.source].copies.append(AugmentedCopy(out[0], out[1], shift, aug_seed, p.copy))
            elif p.attempt < max_attempts:
                following.append(p)  # the same generator draws again
                continue
            if not together and (after := start_from(p.source, p.copy + 1)) is not None:
                following.append(after)
        pending = following
    for r in results:
        r.copies.sort(key=lambda copy: copy.copy_index)
    return results


def choose_positions(rng: np.random.Generator, ratio: float, n_words: int, *tiers: list) -> list:
    """k = ratio x n_words positions (stochastically rounded, at least one, at most all there are),
    uniformly within a tier, from each tier (e.g. content words, then stopwords) only what the tiers before
    it cannot cover."""
    k = min(max(stochastic_round(ratio * n_words, rng), 1), sum(len(t) for t in tiers))
    chosen: list = []
    for n, tier in enumerate(tiers):
        left = k - len(chosen)
        if left <= 0 and n > 0:
            break
        chosen += [tier[j] for j in rng.choice(len(tier), size=min(left, len(tier)), replace=False)]
    return chosen


def normalized(texts: Texts) -> tuple:
    """What counts as the same text: case and runs of whitespace do not."""
    return tuple(" ".join(t.lower().split()) if t else t for t in texts)


def stochastic_round(x: float, rng: np.random.Generator) -> int:
    low = math.floor(x)
    return low + int(rng.random() < x - low)
