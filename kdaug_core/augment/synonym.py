"""WordNet synonym replacement (nltk's WordNet reader, no tagger needed).

Which words may change: alphabetic words of two or more letters that are not stopwords, number words or
proper nouns (capitalised away from a sentence start, or, in lower-cased text, a word WordNet knows
mostly as a name: "ford", "bush"). What they may become:

- The word's reading: each part of speech, as the word itself or as an inflection of another lemma
  ("hours" is the lemma "hours" and the plural of "hour"), scored by WordNet's sense-tagged counts; the
  most frequent reading wins ("hours" as hour+s, "found" as find+ed). Only that reading's senses give
  candidates: never the base word's senses for a word that is its own lemma, or the reverse.
- An inflection kdaug can reproduce is re-inflected (nouns' plurals, irregular ones from WordNet's
  exception lists: "men", "lives"; verbs' third person, "goes", past, "found" -> "discovered", and present
  participle, "making" -> "creating"); another ("saw": "saw" or "seen"? "better" as good+er) leaves the
  word unchanged rather than replaced by a wrong form.
- Noun or verb, where the neighbours say (part_of_speech_hint: "its need to", "they'll wind up"); and a
  candidate must mostly be the part of speech it is offered as ("good" is no adverb for "well").
- A word of a fixed expression WordNet lists ("show off", "live up to", "a lot") is never replaced.
- senses=frequent: only the senses that make at least a tenth of the word's tagged uses in that reading
  (a word without tagged uses: its first sense, WordNet's most frequent), so "member" does not become
  "penis" nor "know" "sleep together". senses=all: every sense, in frequency order. The default, auto,
  is all where the context check runs (it tells the senses apart in the sentence itself), else frequent.
  Either way the candidates of the reading's first sense are its main ones (main_sense_counts): a copy
  draws a word's other senses only where main-sense swaps and safe function words cannot meet the ratio
  (replacement.py, tiers), since far more of them are wrong in context.
- Single words only (multiword=true allows "motion picture"), lower-case (WordNet capitalises names),
  not the word itself or its inflections, stopwords, number words, or words WordNet labels vulgar or a
  slur; an adjective's similar senses after its own synonyms (similar=true: "alike" for "similar"); in
  sense order, then by frequency.
- In context (context=MODEL, the teacher by default in a recipe): a candidate is kept only where an
  encoder finds it fits the sentence (augment/context.py, min_fit).

Casing follows the replaced word. Where a sentence's content words are too few for the ratio, stopwords
change too, through a packaged table of function-word substitutes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial

from kdaug.core.assets import load_function_word_substitutes, load_stopwords
from kdaug.core.assets.wordnet import check_wordnet, lemma_counts, load_wordnet, offensive_words
from kdaug.core.augment.base import Param
from kdaug.core.augment.replacement import (
    CONTEXT_PARAMS,
    EXPRESSION_MAX_WORDS,
    ReplacementAugmenter,
    expression_positions,
)
from kdaug.core.augment.word_forms import (
    derived,
    inflect_verb_phrase,
    irregular_forms,
    regular_plural,
    third_person,
    unchanged,
    verb_exceptions,
)
from kdaug.core.words import MODAL_VERBS, NUMBER_WORDS, WordToken

_POS_ORDER = ("n", "v", "a", "r")
SENSES = ("auto", "frequent", "all")
FREQUENT_SHARE = 0.1  # senses=frequent keeps senses with at least this share of the reading's tagged uses
NAME_MAX_COMMON_USES = 5  # a word WordNet knows as a name and that has fewer tagged common uses is a name
VERB_FORMS = ("ed", "ing")  # a past (or past participle) and a present participle
_PAST_ONLY_LISTED = ("run", "come")  # "ran", "came" are listed; their participles are the base


def _pool_ok(v: int) -> str | None:
    return None if v >= 1 else "must be at least 1"


def _senses_ok(v: str) -> str | None:
    return None if v in SENSES else f"must be one of {SENSES}"


class SynonymAugmenter(ReplacementAugmenter):
    method = "synonym"
    multiword: bool
    senses: str
    similar: bool
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
        "similar": Param(bool, True, "adjectives: also their similar senses in WordNet ('alike' for 'similar')"),
        **CONTEXT_PARAMS,
    }

    def setup(self) -> None:
        super().setup()
        self._wn = load_wordnet()
        self._counts = lemma_counts()
        self._irregular_plurals = irregular_forms(self._wn, "n")
        self._irregular_verbs = verb_exceptions(self._wn)
        self._offensive = offensive_words()
        self._lookup = lru_cache(maxsize=200_000)(self._lookup)  # type: ignore[method-assign]
        # a word's reading is asked for again as each word it is a candidate of is looked up
        self._reading = lru_cache(maxsize=200_000)(self._reading)  # type: ignore[method-assign]

    def check(self) -> None:
        check_wordnet()
        load_stopwords()
        self.check_context()

    def fixed_positions(self, tokens: list[WordToken]) -> set[int]:
        return super().fixed_positions(tokens) | self._in_expressions(tokens)

    def _in_expressions(self, tokens: list[WordToken]) -> set[int]:
        """Indices of the words that make, with their neighbours, one of WordNet's fixed expressions
        ("show off", "live up to", "a lot", "trailer park", "time bombs"): replaced alone, a word of one
        breaks it ("exhibit off", "survive up to", "a plenty"), so none is replaced."""
        if not hasattr(self, "_expressions"):
            self._expressions = fixed_expressions(self._wn, self._stopwords)
        return expression_positions(
            tokens, lambda span: any(" ".join(v) in self._expressions for v in self._base_forms(span))
        )

    def _base_forms(self, span: list[str]) -> list[list[str]]:
        """The span as written, with its first word as a verb's base ("lives up" -> "live up") and with
        its last word as a noun's singular ("time bombs" -> "time bomb")."""
        out = [span]
        out += [[b, *span[1:]] for b in self._wn._morphy(span[0], "v") if b != span[0]]
        out += [[*span[:-1], b] for b in self._wn._morphy(span[-1], "n") if b != span[-1]]
        return out

    def lookup_key(self, tokens: list[WordToken], index: int) -> str:
        word = tokens[index].text.lower()
        hint = part_of_speech_hint(tokens, index)
        return f"{word}|{hint}" if hint else word

    def candidates_for(self, words: list[str]) -> dict[str, list[str]]:
        return {key: list(self._synonyms(*key.split("|"))) for key in words}

    def main_sense_counts(self, words: list[str]) -> dict[str, int]:
        return {key: self._lookup(*key.split("|"))[1] for key in words}

    def _synonyms(self, word: str, hint: str = "") -> tuple[str, ...]:
        return self._lookup(word, hint)[0]

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

    def _lookup(self, word: str, hint: str = "") -> tuple[tuple[str, ...], int]:
        """The word's candidates, those of its most frequent sense first, and how many of those there are."""
        if word in NUMBER_WORDS or self._likely_name(word):
            return (), 0
        reading = self._reading(word, HINTED[hint]) if hint else None
        reading = reading or self._reading(word)
        if reading is None or reading[2] is None:
            return (), 0  # unknown, or most often an inflection we cannot reproduce ("saw": "saw" or "seen"?)
        pos, base, inflect, senses = reading
        forms = {word, base}
        for p in _POS_ORDER:
            forms.update(self._wn._morphy(word, p))
        ranked: list[tuple[int, int, str]] = []  # (sense rank, -uses, candidate)
        for rank, synset in enumerate(self._frequent(senses, base)):
            # An adjective's similar senses ("alike" for "similar") after its own synonyms: the same
            # cluster of WordNet's adjectives, close in meaning, and more candidates for the context check.
            near = synset.similar_tos() if pos == "a" and self.similar else []
            for order, source in enumerate([synset, *near]):
                for lemma in source.lemmas():
                    cand = lemma.name().replace("_", " ")
                    if self._good_candidate(cand, forms) and self.unchanged_part_of_speech(cand, pos):
                        ranked.append((2 * rank + min(order, 1), -self._counts.get(lemma.key(), 0), cand))
        out: list[str] = []
        main = 0
        for order, _, cand in sorted(ranked):
            cand = inflect(cand)
            if cand is not None and cand.lower() not in forms and cand not in out:
                out.append(cand)
                main += order < 2  # the first sense, or an adjective's first sense's similar senses
            if len(out) >= self.max_candidates:
                break
        return tuple(out), main

    def unchanged_part_of_speech(self, cand: str, pos: str) -> bool:
        """Whether a candidate is, most often, the part of speech it is offered as: WordNet lists "good"
        among the adverbs ("she did good"), "easy" too, "seat" among the verbs; in a sentence they read
        as the adjective and the noun. A candidate without tagged uses is given the benefit."""
        reading = self._reading(cand.split()[-1] if pos == "n" else cand.split()[0])
        if reading is None or reading[0] == pos:
            return True
        _, base, _, senses = reading
        return sum(self._uses(base, s) for s in senses) == 0

    def _reading(self, word: str, parts: tuple[str, ...] = _POS_ORDER):
        """(pos, base, inflect, senses) of the word's most frequent reading among the parts of speech
        `parts`: the word as its own lemma or as an inflection of another; senses are those of `base`
        itself (a synset with a lemma named so), scored by the base's tagged uses in them. inflect None:
        an inflection that cannot be reproduced."""
        best, best_score = None, -1.0
        for pos in parts:
            readings = [(word, unchanged)] + [(b, self._inflector(b, pos, word)) for b in self._wn._morphy(word, pos)]
            for base, inflect in readings:
                if base == word and inflect is not unchanged:
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

    def _inflector(self, base: str, pos: str, word: str) -> Callable[[str], str | None] | None:
        """How to inflect candidates as `word` inflects `base`, if kdaug can: a noun's plural, a verb's
        third person, past or present participle; None for any other inflection ("better" as good+er)."""
        if pos == "n" and self._plural(base) == word:
            return self._inflect_noun
        if pos == "v" and third_person(base) == word:
            return inflect_verb_phrase
        for kind in VERB_FORMS:
            if pos == "v" and self._verb_form(base, kind) == word:
                return partial(self._inflect_verb_form, kind=kind)
        return None

    def _verb_form(self, verb: str, kind: str) -> str | None:
        """`verb`'s past ("ed") or present participle ("ing"): WordNet's exception list where it lists
        one ("found", "stopped", "tried"), else the regular form where WordNet reads it back as `verb`
        ("played", "making"); None where the form is not certain: "see" ("saw" or "seen"), "prove" (the
        list has "proven"), "run" ("ran", and "run" as participle), "hit"."""
        listed = [f for f in self._irregular_verbs.get(verb, ()) if f.endswith("ing") == (kind == "ing")]
        if listed:
            if len(listed) > 1 or kind == "ed" and (listed[0].endswith("n") or verb.endswith(_PAST_ONLY_LISTED)):
                return None  # the list holds a past or a participle; which one, it does not say ("proven")
            return listed[0]
        if kind == "ing":
            form = verb[:-1] + "ing" if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")) else verb + "ing"
        else:
            form = verb + "d" if verb.endswith("e") else verb + "ed"
        if verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
            return form if kind == "ing" else None  # "tried" is listed; "tryed" is no word
        return form if verb in self._wn._morphy(form, "v") else None

    def _inflect_verb_form(self, cand: str, kind: str) -> str | None:
        """A verb phrase's past or participle: its first word ("take care" -> "taking care")."""
        first, _, rest = cand.partition(" ")
        form = self._verb_form(first, kind)
        return None if form is None else f"{form} {rest}" if rest else form

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
        if cand in self._offensive or any(p in self._offensive for p in parts):
            return False  # a copy never brings in a word WordNet labels vulgar or a slur
        if any(p in forms for p in parts) or cand in self._stopwords or any(derived(cand, f) for f in forms):
            return False
        return not any(base in forms for base in self._wn._morphy(parts[-1], "n") + self._wn._morphy(parts[-1], "v"))

    def _plural(self, noun: str) -> str:
        return self._irregular_plurals.get(noun) or regular_plural(noun)

    def _inflect_noun(self, cand: str) -> str:
        """Plural of a noun phrase: its last word ("motion picture" -> "motion pictures")."""
        head, _, last = cand.rpartition(" ")
        return f"{head} {self._plural(last)}" if head else self._plural(last)


# The part of speech a word's neighbours imply, where they do (nltk's taggers need data that is not
# always there; these few closed-class cues settle the common noun/verb ambiguity of English):
# "its need to", "the urge to" (a noun or an adjective after a determiner); "they'll wind up", "we love",
# "figures form a" (a verb after a subject pronoun or an auxiliary, or before a determiner).
HINTED = {"n": ("n", "a"), "v": ("v",)}
_DETERMINERS = frozenset("a an the this these those my your his its our their every each no another".split())  # noqa: SIM905
_SUBJECTS = frozenset(["i", "we", "they", "he", "she", "who"])
_AUXILIARIES = MODAL_VERBS | {"will", "can", "cannot", "do", "does", "did"}
_CONTRACTED_AUXILIARIES = ("'ll", "’ll", "'d", "’d", "n't", "n’t")


def part_of_speech_hint(tokens: list[WordToken], index: int) -> str:
    """ "n" (a noun or adjective), "v" (a verb) or "" (no cue) for word `index`, from its neighbours:
    the word right before it and, for a verb, the determiner right after."""
    prev = tokens[index - 1] if index > 0 else None
    nxt = tokens[index + 1] if index + 1 < len(tokens) else None
    before = prev.text.lower() if prev and tokens[index].start - prev.end == 1 else ""
    after = nxt.text.lower() if nxt and nxt.start - tokens[index].end == 1 else ""
    if before in _DETERMINERS:
        return "n"
    if before in _SUBJECTS or before in _AUXILIARIES or before.endswith(_CONTRACTED_AUXILIARIES):
        return "v"
    return "v" if after in _DETERMINERS and after != "this" else ""


def fixed_expressions(wn, stopwords: frozenset[str] | set[str]) -> frozenset[str]:
    """WordNet's multi-word lemmas of two to EXPRESSION_MAX_WORDS words, lower-case, space-separated; those
    that hold a number word (never replaced anyway) or only stopwords ("to it") are left out."""
    out = set()
    for name in wn.all_lemma_names():
        parts = name.lower().split("_")
        if not 2 <= len(parts) <= EXPRESSION_MAX_WORDS or all(p in stopwords for p in parts):
            continue
        if not any(p in NUMBER_WORDS for p in parts):
            out.add(" ".join(parts))
    return frozenset(out)
