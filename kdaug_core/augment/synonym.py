"""WordNet synonym replacement (nltk's WordNet reader, no tagger needed).

Which words may change: alphabetic words of two or more letters that are not stopwords, number words or
proper nouns (capitalised away from a sentence start, or, in lower-cased text, a word WordNet knows
mostly as a name: "ford", "bush"). What they may become:

- The word's reading: each part of speech, as the word itself or as an inflection of another lemma
  ("hours" is the lemma "hours" and the plural of "hour"), scored by WordNet's sense-tagged counts; the
  most frequent reading wins ("hours" as hour+s, "found" as find+ed). Only that reading's senses give
  candidates: never the base word's senses for a word that is its own lemma, or the reverse.
- An inflection kdaug can reproduce is re-inflected (nouns' plurals, irregular ones from WordNet's
  exception lists: "men", "lives"; verbs' third person: "goes"); another ("found" as find+ed, "better"
  as good+er) leaves the word unchanged rather than replaced by a wrong form.
- senses=frequent: only the senses that make at least a tenth of the word's tagged uses in that reading
  (a word without tagged uses: its first sense, WordNet's most frequent), so "member" does not become
  "penis" nor "know" "sleep together". senses=all: every sense, in frequency order. The default, auto,
  is all where the context check runs (it tells the senses apart in the sentence itself), else frequent.
- Single words only (multiword=true allows "motion picture"), lower-case (WordNet capitalises names),
  not the word itself or its inflections, stopwords or number words; in sense order, then by frequency.
- In context (context=MODEL, the teacher by default in a recipe): a candidate is kept only where an
  encoder finds it fits the sentence (augment/context.py, min_fit).

Casing follows the replaced word. Where a sentence's content words are too few for the ratio, stopwords
change too, through a packaged table of function-word substitutes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from kdaug.core.assets import load_function_word_substitutes, load_stopwords
from kdaug.core.assets.wordnet import check_wordnet, lemma_counts, load_wordnet
from kdaug.core.augment.base import CONTEXT_PARAMS, Param, ReplacementAugmenter
from kdaug.core.words import NUMBER_WORDS

_POS_ORDER = ("n", "v", "a", "r")
SENSES = ("auto", "frequent", "all")
FREQUENT_SHARE = 0.1  # senses=frequent keeps senses with at least this share of the reading's tagged uses
NAME_MAX_COMMON_USES = 5  # a word WordNet knows as a name and that has fewer tagged common uses is a name
_THIRD_PERSON = {"be": "is", "have": "has"}


def _pool_ok(v: int) -> str | None:
    return None if v >= 1 else "must be at least 1"


def _senses_ok(v: str) -> str | None:
    return None if v in SENSES else f"must be one of {SENSES}"


class SynonymAugmenter(ReplacementAugmenter):
    method = "synonym"
    multiword: bool
    senses: str
    max_candidates: int
    PARAMS = {
        **ReplacementAugmenter.PARAMS,
        "max_candidates": Param(int, 10, "synonyms kept per word, in WordNet sense order", _pool_ok),
        "senses": Param(
            str,
            "auto",
            "frequent: the word's common senses only; all: every sense (the context check picks); auto: all "
            "with a context check, else frequent",
            _senses_ok,
        ),
        "multiword": Param(bool, False, "allow multi-word synonyms ('motion picture' for 'film')"),
        **CONTEXT_PARAMS,
    }

    def setup(self) -> None:
        super().setup()
        self._wn = load_wordnet()
        self._counts = lemma_counts()
        self._irregular_plurals = _reverse_exceptions(self._wn, "n")
        self._synonyms = lru_cache(maxsize=200_000)(self._lookup)

    def check(self) -> None:
        check_wordnet()
        load_stopwords()
        self.check_context()

    def candidates_for(self, words: list[str]) -> dict[str, list[str]]:
        return {w: list(self._synonyms(w)) for w in words}

    def stopword_candidates_for(self, words: list[str]) -> dict[str, list[str]]:
        # WordNet has only open-class words; closed-class words come from a small packaged table.
        return self._function_words(words, risky=False)

    def risky_stopword_candidates_for(self, words: list[str]) -> dict[str, list[str]]:
        return self._function_words(words, risky=True)

    def _function_words(self, words: list[str], risky: bool) -> dict[str, list[str]]:
        if not hasattr(self, "_function_tables"):
            self._function_tables = {r: load_function_word_substitutes(risky=r) for r in (False, True)}
        table = self._function_tables[risky]
        return {w: table.get(w, []) for w in words}

    # ---------------------------------------------------------------------------------- one word

    def _lookup(self, word: str) -> tuple[str, ...]:
        if word in NUMBER_WORDS or self._likely_name(word):
            return ()
        reading = self._reading(word)
        if reading is None or reading[2] is None:
            return ()  # unknown, or most often an inflection we cannot reproduce ("found" as find+ed)
        pos, base, inflect, senses = reading
        forms = {word, base}
        for p in _POS_ORDER:
            forms.update(self._wn._morphy(word, p))
        ranked: list[tuple[int, int, str]] = []  # (sense rank, -uses, candidate)
        for rank, synset in enumerate(self._frequent(senses, base)):
            for lemma in synset.lemmas():
                cand = lemma.name().replace("_", " ")
                if self._good_candidate(cand, forms):
                    ranked.append((rank, -self._counts.get(lemma.key(), 0), cand))
        out: list[str] = []
        for _, _, cand in sorted(ranked):
            cand = inflect(cand)
            if cand.lower() not in forms and cand not in out:
                out.append(cand)
            if len(out) >= self.max_candidates:
                break
        return tuple(out)

    def _reading(self, word: str):
        """(pos, base, inflect, senses) of the word's most frequent reading: each part of speech, the word
        as its own lemma or as an inflection of another; senses are those of `base` itself (a synset
        with a lemma named so), scored by the base's tagged uses in them. inflect None: an inflection
        that cannot be reproduced."""
        best, best_score = None, -1.0
        for pos in _POS_ORDER:
            readings = [(word, _same)] + [(b, self._inflector(b, pos, word)) for b in self._wn._morphy(word, pos)]
            for base, inflect in readings:
                if base == word and inflect is not _same:
                    continue
                senses = self._senses_of(base, pos)
                if not senses:
                    continue
                score = sum(self._uses(base, s) for s in senses) + 1e-3 * len(senses)
                if score > best_score:
                    best, best_score = (pos, base, inflect, senses), score
        return best

    def _senses_of(self, base: str, pos: str) -> list:
        return [s for s in self._wn.synsets(base, pos) if any(lem.name().lower() == base for lem in s.lemmas())]

    def _uses(self, base: str, synset) -> int:
        return sum(self._counts.get(lem.key(), 0) for lem in synset.lemmas() if lem.name().lower() == base)

    def _frequent(self, senses: list, base: str) -> list:
        if self.senses == "all" or (self.senses == "auto" and self.context_model()):
            return senses
        uses = [self._uses(base, s) for s in senses]
        total = sum(uses)
        if total == 0:
            return senses[:1]  # untagged: WordNet's first sense is its most frequent
        return [s for s, n in zip(senses, uses) if n >= FREQUENT_SHARE * total]

    def _inflector(self, base: str, pos: str, word: str) -> Callable[[str], str] | None:
        """How to inflect candidates as `word` inflects `base`, if kdaug can: a noun's plural, a verb's
        third person; None for any other inflection."""
        if pos == "n" and self._plural(base) == word:
            return self._inflect_noun
        if pos == "v" and third_person(base) == word:
            return _inflect_verb
        return None

    def _likely_name(self, word: str) -> bool:
        """A lower-cased word WordNet knows as a name (an instance noun spelled with a capital: "Ford"),
        with few tagged uses as a common word: in lower-cased text, most likely that name."""
        synsets = self._wn.synsets(word)
        named = any(
            s.instance_hypernyms() and any(lem.name().lower() == word and lem.name()[0].isupper() for lem in s.lemmas())
            for s in synsets
        )
        if not named:
            return False
        common = sum(self._uses(word, s) for s in synsets if not s.instance_hypernyms())
        return common < NAME_MAX_COMMON_USES

    def _good_candidate(self, cand: str, forms: set[str]) -> bool:
        if cand != cand.lower() or not cand.replace(" ", "").replace("-", "").isalpha():
            return False  # proper names (WordNet capitalises them) and odd tokens
        parts = cand.split()
        if (len(parts) > 1 and not self.multiword) or cand in NUMBER_WORDS:
            return False
        if any(p in forms for p in parts) or cand in self._stopwords or any(derived(cand, f) for f in forms):
            return False
        return not any(base in forms for base in self._wn._morphy(parts[-1], "n") + self._wn._morphy(parts[-1], "v"))

    def _plural(self, noun: str) -> str:
        return self._irregular_plurals.get(noun) or regular_plural(noun)

    def _inflect_noun(self, cand: str) -> str:
        """Plural of a noun phrase: its last word ("motion picture" -> "motion pictures")."""
        head, _, last = cand.rpartition(" ")
        return f"{head} {self._plural(last)}" if head else self._plural(last)


def derived(cand: str, word: str) -> bool:
    """Whether `cand` is a derivation of `word` rather than another word for it: WordNet lists "evilness"
    and "pridefulness" beside "evil" and "pride", "frailness" beside "frailty", "wondrous" beside
    "wondrously". They share the word's stem, and in its place they mostly break the sentence. Spelling
    variants ("humour", "marvellously") are not derivations."""
    if len(word) >= 3 and (cand.startswith(word) or word.startswith(cand)):
        return True
    shared = next((i for i, (a, b) in enumerate(zip(cand, word)) if a != b), min(len(cand), len(word)))
    return shared >= 5 and not _spelling_variant(cand, word)


def _spelling_variant(a: str, b: str) -> bool:
    """Within two edits of each other and at most one letter longer or shorter ("color" / "colour")."""
    if abs(len(a) - len(b)) > 1:
        return False
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1] <= 2


def _same(cand: str) -> str:
    return cand


_MAN_SINGULARS = ("human", "german", "roman", "shaman", "talisman", "caiman", "ottoman", "walkman", "doberman")


def regular_plural(word: str) -> str:
    if word.endswith("ies"):
        return word  # series, species: the same in the plural ("serieses" is no word)
    if word.endswith("man") and not word.endswith(_MAN_SINGULARS):
        return word[:-3] + "men"  # gentleman -> gentlemen
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def third_person(verb: str) -> str:
    """The third person singular present: "goes", "does", "watches", "tries", "is", "has"."""
    if verb in _THIRD_PERSON:
        return _THIRD_PERSON[verb]
    if verb.endswith("o") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb + "es"
    return regular_plural(verb)


def _inflect_verb(cand: str) -> str:
    """Third person of a verb phrase: its first word ("take care" -> "takes care")."""
    first, _, rest = cand.partition(" ")
    return f"{third_person(first)} {rest}" if rest else third_person(first)


def _reverse_exceptions(wn, pos: str) -> dict[str, str]:
    """Base -> its irregular plural, from WordNet's exception list (noun.exc: "men" -> "man"). Where a base
    has several, the regular one if listed, else the first in alphabetical order."""
    forms: dict[str, list[str]] = {}
    for inflected, bases in wn._exception_map[pos].items():
        for base in bases:
            forms.setdefault(base, []).append(inflected)
    out = {}
    for base, inflected in forms.items():
        regular = regular_plural(base)
        out[base] = regular if regular in inflected else sorted(inflected)[0]
    return out
