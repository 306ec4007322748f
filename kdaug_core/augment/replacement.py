"""The shared machinery of the word-replacement augmenters (synonym, kNN, masked LM): a subclass says
which words may change and what they may become; ReplacementAugmenter hits the asked-for changed-token
ratio exactly (as exactly as the sentence allows), draws positions tier by tier (the best swaps first),
keeps "a"/"an" agreeing and enforces distinctness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kdaug.core.assets import load_function_expressions, load_stopwords
from kdaug.core.augment.base import Augmenter, Param
from kdaug.core.augment.draw import AugmentResult, Draft, Pending, choose_positions
from kdaug.core.corpus import SourceExample
from kdaug.core.words import (
    MODAL_VERBS,
    NUMBER_WORDS,
    WordToken,
    match_case,
    protected,
    replace_spans,
    sentence_initial,
    word_tokens,
)


def _short_ok(v: str) -> str | None:
    return None if v in ("expected", "one") else "must be expected or one"


STOPWORD_POLICIES = ("fill", "keep")
FILL_POLICIES = ("auto", "all", "fitting")


def _fit_ok(v: float) -> str | None:
    return None if -1.0 <= v <= 1.0 else "must be in [-1, 1] (a cosine)"


# The context check of the augmenters whose candidates come out of context (synonym, kNN): see
# augment/context.py. A recipe fills in its teacher as `context`.
CONTEXT_PARAMS = {
    "context": Param(
        str,
        None,
        "encoder that checks each candidate fits its sentence: a model directory or hub id (in a recipe, "
        "the teacher by default); none: no check",
    ),
    "min_fit": Param(float, 0.7, "keep a candidate whose contextual fit (cosine) reaches this", _fit_ok),
    "fill": Param(
        str,
        "auto",
        "where fitting replacements of a word's main sense and safe function words cannot meet the ratio: "
        "fitting: nothing else, so a copy may change fewer words (its row records how many); all: fitting "
        "replacements of other senses, then content words none of whose candidates fits, then risky "
        "function words, so the ratio holds; auto: fitting with a context check, all without one",
        lambda v: None if v in FILL_POLICIES else f"must be one of {FILL_POLICIES}",
    ),
}


def _stopwords_ok(v: str) -> str | None:
    return None if v in STOPWORD_POLICIES else f"must be one of {STOPWORD_POLICIES}"


EXPRESSION_MAX_WORDS = 4


def expression_positions(tokens: list[WordToken], is_expression) -> set[int]:
    """Indices of the words that make, with their neighbours, a fixed expression: a run of 2 to
    EXPRESSION_MAX_WORDS lower-cased words, one space apart, for which `is_expression(words)` holds."""
    words = [t.text.lower() for t in tokens]
    out: set[int] = set()
    for start in range(len(words) - 1):
        for end in range(start + 2, min(start + EXPRESSION_MAX_WORDS, len(words)) + 1):
            if tokens[end - 1].start - tokens[end - 2].end != 1:
                break  # punctuation or a line break between: not one expression
            if is_expression(words[start:end]):
                out.update(range(start, end))
    return out


# Tiers of slots, best first: a copy's positions are drawn from a tier only for what the tiers before it
# cannot cover, so the ratio is met as exactly as before while the copy is as good as the ratio allows.
# A word's candidates from its most frequent sense come before those of its other senses: judged in
# context, 12% of the fitting swaps of a word's first WordNet sense were wrong, 46% of those of its other
# senses (docs/copy_quality.md).
FITTING, FUNCTION, OTHER_SENSE, UNFITTING, RISKY_FUNCTION = range(5)
FITTING_KEPT = 3  # a slot offers at most its 3 best-fitting candidates...
UNFITTING_KEPT = 3  # ...and an unfitting slot its 3 best...
UNFITTING_FLOOR = 0.4  # ...none below this fit (such a swap is wrong in nearly every sentence)


@dataclass
class Slot:
    """A word that may be replaced, with what it may become."""

    side: int  # 0 text, 1 text_pair
    index: int  # index into that side's word tokens
    candidates: list[str]
    stopword: bool = False  # used only when content words cannot meet the ratio
    tier: int = FITTING  # FITTING, FUNCTION words, OTHER_SENSE, UNFITTING content, RISKY_FUNCTION words
    main: int | None = None  # how many leading candidates are of the word's most frequent sense (None: all)

    def __post_init__(self):
        if self.stopword and self.tier == FITTING:
            self.tier = FUNCTION

    def split_senses(self) -> None:
        """Without a context check: the main sense's candidates where there are some, else the others as
        an OTHER_SENSE slot."""
        if self.main is not None and self.main < len(self.candidates):
            if self.main:
                self.candidates = self.candidates[: self.main]
            else:
                self.tier = OTHER_SENSE
        self.main = None


class ReplacementAugmenter(Augmenter):
    """Replaces exactly k = ratio x (word tokens) words per copy (stochastically rounded, so the mean
    hits the ratio and every copy lies within one word of it), drawn uniformly among replaceable content
    words. A text too short for the ratio (ratio x words < 1) gets a copy with probability ratio x words
    (short=expected, the default; short=one: always), so short texts do not push a corpus above its
    ratio. Stopwords change only where the content words of a sentence are too few for k
    (stopwords=fill, the default), each into a word of the same kind; stopwords=keep never changes them."""

    MAX_ATTEMPTS_PER_COPY = 8
    keeps_gold_label = True
    ratio: float  # always given: the share of words a copy changes
    stopwords: str
    short: str
    context: str | None = None  # declared by the augmenters that take CONTEXT_PARAMS
    min_fit: float = 0.0
    fill: str = "auto"
    PARAMS = {
        **Augmenter.PARAMS,
        "stopwords": Param(
            str,
            "fill",
            "fill: change stopwords only where content words cannot meet the ratio; keep: never",
            _stopwords_ok,
        ),
        "short": Param(
            str,
            "expected",
            "texts too short for the ratio (ratio x words < 1): expected: a copy with probability ratio x "
            "words (one word changed), so the corpus keeps the ratio; one: always a copy, one word changed",
            _short_ok,
        ),
    }

    def short_ratio(self) -> float | None:
        return self.ratio if self.short == "expected" else None

    def setup(self) -> None:
        self._stopwords = load_stopwords()
        self._function_expressions = load_function_expressions()

    def word_kinds(self, text: str, tokens: list[WordToken]) -> list[str | None]:
        """word_kind of each of a text's tokens; None for all in markup, URLs and e-mail addresses."""
        return [None if shielded else self.word_kind(text, t) for t, shielded in zip(tokens, protected(text, tokens))]

    def fixed_positions(self, tokens: list[WordToken]) -> set[int]:
        """Words a candidate proposed out of context would break, so never replaced: those of closed-class
        fixed expressions ("each other", "because of": assets/function_expressions.txt). A masked LM,
        which proposes in context, does not need this."""
        return expression_positions(tokens, lambda span: tuple(span) in self._function_expressions)

    def word_kind(self, text: str, token: WordToken) -> str | None:
        """'content', 'stopword', or None for words never replaced (numbers and number words, punctuation, proper nouns,
        acronyms, and stopwords under stopwords=keep)."""
        w = token.text
        if not w.isalpha() or w.lower() in NUMBER_WORDS or w.lower() in MODAL_VERBS:
            return None
        if w.lower() in self._stopwords:
            return "stopword" if self.stopwords == "fill" else None
        if len(w) < 2 or (w[0].isupper() and not sentence_initial(text, token)):
            return None  # a proper noun
        return None if (w.isupper() and len(w) <= 4) else "content"  # an acronym

    def candidates_for(self, words: list[str]) -> dict[str, list[str]]:
        """lookup_key of each content word -> replacement candidates, for all words of a batch at once."""
        raise NotImplementedError

    def main_sense_counts(self, words: list[str]) -> dict[str, int]:
        """lookup_key -> how many of its leading candidates come from the word's most frequent sense; a
        key left out: all of them (an augmenter that does not tell senses apart)."""
        return {}

    def lookup_key(self, tokens: list[WordToken], index: int) -> str:
        """What candidates_for looks a content word up by: by default the lower-cased word; an augmenter
        whose candidates depend on the word's neighbours says so here (synonym: its part of speech)."""
        return tokens[index].text.lower()

    def stopword_candidates_for(self, words: list[str]) -> dict[str, list[str]]:
        """Lowercased stopword -> stopword-like replacements (same grammatical role)."""
        return {}

    def context_model(self) -> str | None:
        """The encoder of the context check, or None where there is none (context unset or none)."""
        model = getattr(self, "context", None)
        return None if model in (None, "", "none") else model

    def fill_policy(self) -> str:
        """What `fill` means here. Auto is fitting where a context check tells fitting swaps apart: read one
        by one, the third of a 30% copy drawn from the other tiers came out mostly wrong (docs/copy_quality.md).
        Without a check nothing is known to fit, so all: the ratio exact."""
        if self.fill != "auto":
            return self.fill
        return "fitting" if self.context_model() else "all"

    def check_context(self) -> None:
        """Fails before any work when the context check's model cannot be found."""
        if model := self.context_model():
            from kdaug.core.models import local_model_dir

            local_model_dir(model, "context model")

    def fit_to_context(
        self, sources: Sequence[SourceExample], tokens: list[list[list[WordToken]]], slots: list[list[Slot]]
    ) -> None:
        """Keeps, in each content slot, the candidates that fit the slot's sentence (context.py)."""
        if not hasattr(self, "_context_fit"):
            from kdaug.core.augment.context import ContextFit

            model = self.context_model()
            assert model, "fit_to_context runs only with a context model"
            self._context_fit = ContextFit(model)
        from kdaug.core.augment.context import FitQuery

        for src, tok, sl in zip(sources, tokens, slots):
            texts = (src.text, src.text_pair or "")
            for s in sl:
                if s.candidates and not s.stopword:
                    common = self._context_fit.common_enough(tok[s.side][s.index].text, s.candidates)
                    if s.main is not None:
                        s.main = sum(common[: s.main])
                    s.candidates = [c for c, ok in zip(s.candidates, common) if ok]
            checked = [s for s in sl if s.candidates and not s.stopword]
            if not checked:
                continue
            queries = [FitQuery(texts[s.side], tok[s.side], s.index, s.candidates) for s in checked]
            for slot, fits in zip(checked, self._context_fit.fits(queries)):
                slot.candidates, slot.tier = self._by_fit(slot, fits)

    def _by_fit(self, slot: Slot, fits) -> tuple[list[str], int]:
        """A checked slot's candidates and tier: the FITTING_KEPT best that fit, of the word's main sense
        (FITTING) or else of its other senses (OTHER_SENSE); where none fits, a last resort before risky
        function words: its UNFITTING_KEPT best, the main sense's where any is above the floor. Best
        first, because the fit ranks good swaps above bad ones (not perfectly)."""
        n = len(slot.candidates)
        main = n if slot.main is None else slot.main
        ranked = [
            (sorted(group, key=lambda j: (-fits[j], j)), tier)
            for group, tier in ((range(main), FITTING), (range(main, n), OTHER_SENSE))
        ]
        for order, tier in ranked:
            fitting = sorted(j for j in order[:FITTING_KEPT] if fits[j] >= self.min_fit)
            if fitting:
                return [slot.candidates[j] for j in fitting], tier
        for order, _ in ranked:
            kept = sorted(j for j in order[:UNFITTING_KEPT] if fits[j] >= UNFITTING_FLOOR)
            if kept:
                return [slot.candidates[j] for j in kept], UNFITTING
        return [], UNFITTING

    def needs_stopwords(self, n_words: int, content_slots: int) -> bool:
        """Whether a source's copies can need more changes than it has content words."""
        return self.stopwords == "fill" and math.ceil(self.ratio * n_words) > content_slots

    def find_slots(
        self, sources: Sequence[SourceExample], sides: list[list[int]], tokens: list[list[list[WordToken]]]
    ) -> list[list[Slot]]:
        """Default: context-free candidates per word (synonym, kNN), looked up once per batch."""
        if not hasattr(self, "_stopwords"):
            self.setup()
        kinds = []
        for src, sd, tok in zip(sources, sides, tokens):
            texts = (src.text, src.text_pair or "")
            ks = []
            for side in sd:
                fixed = self.fixed_positions(tok[side])
                side_kinds = self.word_kinds(texts[side], tok[side])
                ks += [(side, i, t, k) for i, (t, k) in enumerate(zip(tok[side], side_kinds)) if i not in fixed]
            kinds.append(ks)
        keys = [
            {(side, i): self.lookup_key(tok[side], i) for side, i, _, k in ks if k == "content"}
            for ks, tok in zip(kinds, tokens)
        ]
        unique = sorted({key for ky in keys for key in ky.values()})
        table, mains = self.candidates_for(unique), self.main_sense_counts(unique)
        out = []
        for src, ks, ky, sd, tok in zip(sources, kinds, keys, sides, tokens):
            slots = [
                Slot(side, i, [match_case(t.text, c) for c in table.get(ky[side, i], ())], main=mains.get(ky[side, i]))
                for side, i, t, k in ks
                if k == "content"
            ]
            if self.context_model():
                self.fit_to_context([src], [tok], [slots])
            else:
                for slot in slots:
                    slot.split_senses()
            n_words = sum(len(tok[side]) for side in sd)
            if self.needs_stopwords(n_words, sum(1 for s in slots if s.candidates and s.tier == FITTING)):
                stopwords = sorted({t.text.lower() for _, _, t, k in ks if k == "stopword"})
                safe, risky = self.stopword_candidates_for(stopwords), self.risky_stopword_candidates_for(stopwords)
                for side, i, t, k in ks:
                    word = t.text.lower()
                    if k == "stopword" and (safe.get(word) or risky.get(word)):
                        tier = FUNCTION if safe.get(word) else RISKY_FUNCTION  # one slot a word: its best tier
                        cands = safe.get(word) or risky[word]
                        slots.append(Slot(side, i, [match_case(t.text, c) for c in cands], True, tier))
            out.append(slots)
        return out

    def risky_stopword_candidates_for(self, words: list[str]) -> dict[str, list[str]]:
        """Lowercased stopword -> substitutes that break some sentences: drawn only where nothing else can
        meet the ratio."""
        return {}

    def augment_batch(self, sources: Sequence[SourceExample], seed: int) -> list[AugmentResult]:
        sides = [self.sides_of(s) for s in sources]
        tokens = [[word_tokens(s.text), word_tokens(s.text_pair or "")] for s in sources]
        slots = self.find_slots(sources, sides, tokens)
        n_words = [sum(len(tok[side]) for side in sd) for sd, tok in zip(sides, tokens)]
        last = FUNCTION if self.fill_policy() == "fitting" else RISKY_FUNCTION
        tiers = [[[s for s in sl if s.candidates and s.tier == t] for t in range(last + 1)] for sl in slots]
        articles = [article_positions(s, tok) for s, tok in zip(sources, tokens)]

        def draft(pending: list[Pending]) -> list[Draft]:
            drafts = []
            for p in pending:
                i, rng = p.source, p.rng
                new: list[dict[int, str]] = [{}, {}]
                chosen = choose_positions(rng, self.ratio, n_words[i], *tiers[i])
                kept = {(s.side, s.index) for s in chosen}
                for slot in chosen:
                    cands = agreeing(slot, articles[i], kept)
                    new[slot.side][slot.index] = cands[rng.integers(len(cands))]
                texts = (sources[i].text, sources[i].text_pair)
                agree_articles(texts, new, tokens[i])
                drafts.append(Draft(with_replacements(texts, new, tokens[i]), len(new[0]) + len(new[1])))
            return drafts

        eligible = [any(ts) and n > 0 for ts, n in zip(tiers, n_words)]
        return self.draw(
            sources, sides, draft, seed, together=False, max_attempts=self.MAX_ATTEMPTS_PER_COPY, eligible=eligible
        )


_VOWEL_SOUND_EXCEPTIONS = ("hour", "honest", "honor", "honour", "heir")  # a silent h: "an hour"
_CONSONANT_SOUND_EXCEPTIONS = ("uni", "use", "usu", "uti", "eu", "one", "once", "ewe", "ufo", "ure")  # "a unit"


def indefinite_article(word: str) -> str:
    """ "a" or "an" before `word`, by its first sound as far as its spelling tells."""
    w = word.lower()
    if w.startswith(_VOWEL_SOUND_EXCEPTIONS):
        return "an"
    if w.startswith(_CONSONANT_SOUND_EXCEPTIONS):
        return "a"
    return "an" if w[:1] in "aeiou" else "a"


def article_positions(source: SourceExample, tokens: list[list[WordToken]]) -> dict[tuple[int, int], str]:
    """(side, word index) -> "a" or "an": the words right after an indefinite article."""
    out = {}
    for side, text in enumerate((source.text, source.text_pair or "")):
        toks = tokens[side]
        for i in range(len(toks) - 1):
            if toks[i].text.lower() in ("a", "an") and not text[toks[i].end : toks[i + 1].start].strip():
                out[(side, i + 1)] = toks[i].text.lower()
    return out


def agreeing(slot: Slot, articles: dict[tuple[int, int], str], changed: set[tuple[int, int]]) -> list[str]:
    """The slot's candidates that agree with an "a"/"an" before it that stays ("a" + "film", not "a" +
    "apple"), where any does; else all (agree_articles then mends the article)."""
    article = articles.get((slot.side, slot.index))
    if article is None or (slot.side, slot.index - 1) in changed:
        return slot.candidates
    return [c for c in slot.candidates if indefinite_article(c) == article] or slot.candidates


def agree_articles(texts: tuple, new: list[dict[int, str]], tokens: list[list[WordToken]]) -> None:
    """Makes each "a"/"an" next to a replacement agree with the word after it ("a image" -> "an image"),
    in `new` (so the copy's count of changed words includes such a fix)."""
    for side in (0, 1):
        toks, changed = tokens[side], new[side]
        for i in range(len(toks) - 1):
            word = changed.get(i, toks[i].text)
            if word.lower() not in ("a", "an") or (i not in changed and i + 1 not in changed):
                continue
            if texts[side][toks[i].end : toks[i + 1].start].strip():
                continue  # not adjacent: punctuation between them
            want = match_case(word, indefinite_article(changed.get(i + 1, toks[i + 1].text)))
            if want == toks[i].text:
                changed.pop(i, None)
            else:
                changed[i] = want


def with_replacements(texts: tuple, new: list[dict[int, str]], tokens: list[list[WordToken]]) -> tuple:
    """(text, text_pair) with word i of side s replaced by new[s][i]; sides without replacements as they were."""
    return tuple(replace_spans(texts[s], new[s], tokens[s]) if new[s] else texts[s] for s in (0, 1))
