"""Long texts: augmented within a window, so one record's cost is bounded whatever its length.

A text with more than `max_words` words is still written whole and labelled (the teacher sees its first
max_length tokens, as for any text), but its copies change words only among its first `max_words`; the
rest of the text follows each copy verbatim. A copy's changed_ratio is counted over the whole text (what
the row really has), so it is lower than the recipe's ratio by the share of words outside the window.
"""

from __future__ import annotations

from dataclasses import replace

from kdaug.core.augment.draw import AugmentedCopy, AugmentResult
from kdaug.core.corpus import SourceExample
from kdaug.core.shift import Shift
from kdaug.core.words import WORD_RE


def _cut(text: str | None, max_words: int) -> tuple[str | None, str]:
    """(the text up to the end of its max_words-th word, the rest)."""
    if text is None:
        return None, ""
    for n, match in enumerate(WORD_RE.finditer(text), 1):
        if n == max_words:
            return text[: match.end()], text[match.end() :]
    return text, ""


def windowed(source: SourceExample, max_words: int | None) -> tuple[SourceExample, tuple[str, str]] | None:
    """(the source cut to its window, the two tails) for a source longer than the window, else None."""
    if not max_words:
        return None
    (text, tail), (pair, pair_tail) = _cut(source.text, max_words), _cut(source.text_pair, max_words)
    if text is None or (not tail and not pair_tail):
        return None
    return replace(source, text=text, text_pair=pair), (tail, pair_tail)


def restore(result: AugmentResult, full: SourceExample, tails: tuple[str, str], word_count: int) -> AugmentResult:
    """The copies of a windowed source with its tails appended and their shift counted over the whole text."""
    copies = [
        AugmentedCopy(
            c.text + tails[0],
            None if c.text_pair is None else c.text_pair + tails[1],
            Shift(c.shift.changed_words, word_count),
            c.aug_seed,
            c.copy_index,
        )
        for c in result.copies
    ]
    return AugmentResult(full.id, copies, requested=result.requested, short_text=result.short_text)
