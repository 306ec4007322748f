"""WordNet synonym replacement (nltk's WordNet reader, no tagger needed).

Which words may change: alphabetic words of two or more letters that are not stopwords, not numbers and
not proper nouns (capitalised away from a sentence start). What they may become: lemmas of the word's
synsets in its dominant part of speech (by WordNet's sense counts; nltk's POS tagger is not assumed),
in sense order, without the word itself, its inflections, stopwords or proper names. Inflected nouns and
third-person verbs are re-inflected ("movies" -> "films"); other inflected forms are left alone rather
than replaced by a wrong form. Casing follows the replaced word. Where a sentence's content words are
too few for the ratio, stopwords change too, through a packaged table of function-word substitutes.
"""

from __future__ import annotations

from functools import lru_cache

from kdaug.core.assets import load_function_word_substitutes, load_stopwords
from kdaug.core.assets.wordnet import check_wordnet, lemma_counts, load_wordnet
from kdaug.core.augment.base import Param, ReplacementAugmenter

_POS_ORDER = ("n", "v", "a", "r")


def _pool_ok(v: int) -> str | None:
    return None if v >= 1 else "must be at least 1"


class SynonymAugmenter(ReplacementAugmenter):
    method = "synonym"
    PARAMS = {
        **ReplacementAugmenter.PARAMS,
        "max_candidates": Param(int, 10, "synonyms kept per word, in WordNet sense order", _pool_ok),
    }

    def setup(self) -> None:
        super().setup()
        self._wn = load_wordnet()
        self._counts = lemma_counts()
        self._synonyms = lru_cache(maxsize=200_000)(self._lookup)

    def check(self) -> None:
        check_wordnet()
        load_stopwords()

    def candidates_for(self, words: list[str]) -> dict[str, list[str]]:
        return {w: list(self._synonyms(w)) for w in words}

    def stopword_candidates_for(self, words: list[str]) -> dict[str, list[str]]:
        # WordNet has only open-class words; closed-class words come from a small packaged table.
        if not hasattr(self, "_function_words"):
            self._function_words = load_function_word_substitutes()
        return {w: self._function_words.get(w, []) for w in words}

    def _lookup(self, word: str) -> tuple[str, ...]:
        wn = self._wn
        best = None
        for pos in _POS_ORDER:
            base, inflect = self._base_form(word, pos)
            if base is None:
                continue
            lemmas = [lem for s in wn.synsets(base, pos) for lem in s.lemmas() if lem.name().lower() == base]
            score = sum(self._counts.get(lem.key(), 0) for lem in lemmas) + 1e-3 * len(lemmas)
            if lemmas and (best is None or score > best[0]):
                best = (score, pos, base, inflect)
        if best is None or best[3] is None:
            return ()  # unknown, or most often an inflection we cannot reproduce ("going" as go+ing)
        _, pos, base, inflect = best
        forms = {word, base}
        for p in _POS_ORDER:
            forms.update(wn._morphy(word, p))
        out: list[str] = []
        for synset in wn.synsets(base, pos):
            for lemma in synset.lemmas():
                cand = lemma.name().replace("_", " ")
                if not self._good_candidate(cand, forms):
                    continue
                cand = inflect(cand)
                if cand.lower() not in forms and cand not in out:
                    out.append(cand)
                if len(out) >= self.max_candidates:
                    return tuple(out)
        return tuple(out)

    def _good_candidate(self, cand: str, forms: set[str]) -> bool:
        if cand != cand.lower() or not cand.replace(" ", "").replace("-", "").isalpha():
            return False  # proper names (WordNet capitalises them) and odd tokens
        parts = cand.split()
        if any(p in forms for p in parts) or cand in self._stopwords:
            return False
        return not any(base in forms for base in self._wn._morphy(parts[-1], "n") + self._wn._morphy(parts[-1], "v"))

    def _base_form(self, word: str, pos: str):
        """(base, inflect): `word` as a lemma of `pos` (inflect keeps candidates as they are), as a
        regular plural / 3rd-person form (inflect re-inflects them), or as another inflection of a
        lemma (inflect None: it counts towards the dominant part of speech but is never replaced)."""
        wn = self._wn
        if any(lem.name().lower() == word for s in wn.synsets(word, pos) for lem in s.lemmas()):
            return word, _same
        for base in wn._morphy(word, pos):
            if base != word:
                regular = _plural(base) == word
                return base, (
                    _inflect_noun if pos == "n" and regular else _inflect_verb if pos == "v" and regular else None
                )
        return None, None


def _same(cand: str) -> str:
    return cand


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _inflect_noun(cand: str) -> str:
    """Plural of a noun phrase: its last word ("motion picture" -> "motion pictures")."""
    head, _, last = cand.rpartition(" ")
    return f"{head} {_plural(last)}" if head else _plural(last)


def _inflect_verb(cand: str) -> str:
    """Third person of a verb phrase: its first word ("take care" -> "takes care")."""
    first, _, rest = cand.partition(" ")
    return f"{_plural(first)} {rest}" if rest else _plural(first)
