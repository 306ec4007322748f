import json

import numpy as np
import pytest

from kdaug.core.augment import AugmentSpecError, parse_augment_spec
from kdaug.core.augment.replacement import FITTING, OTHER_SENSE, UNFITTING
from kdaug.core.augment.synonym import SynonymAugmenter
from kdaug.core.corpus import SourceExample
from kdaug.core.words import word_tokens, words
from tests.conftest import make_augmenter


def src(text, pair=None, i=0):
    return SourceExample(f"s{i}", text, pair, 1, f"x:{i}")


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.5])
def test_ratio_is_met_on_real_sentences(mr_rows, ratio):
    sources = [src(r["text"], i=i) for i, r in enumerate(mr_rows[:400])]
    results = make_augmenter(f"synonym:ratio={ratio},copies=4").augment_batch(sources, seed=3)
    copies = [c for r in results for c in r.copies]
    assert len(copies) + sum(r.short_text for r in results) > 0.95 * 4 * len(sources)
    ratios = np.array([c.shift.ratio for c in copies])
    # The recorded ratio is what the copy changed: where no multi-word synonym moved the words, exactly the
    # words that differ position by position.
    checked = 0
    for s, r in zip(sources[:50], results[:50]):
        for c in r.copies:
            a, b = [w.lower() for w in words(s.text)], [w.lower() for w in words(c.text)]
            assert c.shift.word_count == len(a) and 0 < c.shift.ratio <= 1
            if len(a) == len(b):
                assert c.shift.changed_words == sum(x != y for x, y in zip(a, b))
                checked += 1
    assert checked > 50
    assert abs(ratios.mean() - ratio) <= 0.03
    within = [abs(c.shift.changed_words - ratio * c.shift.word_count) <= 1 for c in copies]
    assert np.mean(within) >= 0.9


def test_copies_differ_from_source_and_each_other_and_are_deterministic():
    s = src("The acting is wonderful and the story feels honest, though the ending drags.")
    a1 = make_augmenter("synonym:ratio=0.3,copies=4").augment_batch([s], seed=7)[0]
    a2 = make_augmenter("synonym:ratio=0.3,copies=4").augment_batch([s], seed=7)[0]
    other = make_augmenter("synonym:ratio=0.3,copies=4").augment_batch([s], seed=8)[0]
    texts = [c.text for c in a1.copies]
    assert len(texts) == 4 and len(set(texts)) == 4 and s.text not in texts
    assert texts == [c.text for c in a2.copies]
    assert [c.aug_seed for c in a1.copies] == [c.aug_seed for c in a2.copies]
    assert texts != [c.text for c in other.copies]
    # A source's copies do not depend on the batch it came in.
    batch = make_augmenter("synonym:ratio=0.3,copies=4").augment_batch([src("a dull, lifeless film", i=1), s], seed=7)[
        1
    ]
    assert [c.text for c in batch.copies] == texts


def test_stopwords_numbers_punctuation_and_proper_nouns_are_left_alone():
    s = src("In 1999 Spielberg made a truly wonderful movie about the war in France .")
    for copy in make_augmenter("synonym:ratio=1.0,copies=6,stopwords=keep").augment_batch([s], seed=1)[0].copies:
        w = words(copy.text)
        assert w[:3] == ["In", "1999", "Spielberg"]
        assert "France" in w and copy.text.endswith(" .")
        assert {"a", "about", "the", "in"} <= {x.lower() for x in w}


def test_stopwords_change_only_where_content_words_are_too_few():
    rich = src("Gorgeous visuals, superb acting and a haunting score make this drama unforgettable")
    for c in make_augmenter("synonym:ratio=0.3,copies=4").augment_batch([rich], seed=0)[0].copies:
        assert {"and", "a", "this"} <= set(words(c.text))  # content words sufficed
    poor = src("it is one of the best of the year")
    filled = make_augmenter("synonym:ratio=0.5,copies=4").augment_batch([poor], seed=0)[0].copies
    kept = make_augmenter("synonym:ratio=0.5,copies=4,stopwords=keep").augment_batch([poor], seed=0)[0].copies
    assert all(abs(c.shift.changed_words - 4.5) <= 1 for c in filled)
    assert all(c.shift.changed_words <= 3 for c in kept)  # only "one", "best" and "year" may change


def test_casing_follows_the_replaced_word():
    copies = make_augmenter("synonym:ratio=1.0,copies=3").augment_batch([src("Wonderful movie")], seed=2)[0].copies
    assert copies and all(c.text[0].isupper() for c in copies)


def test_inflected_nouns_are_reinflected():
    aug = make_augmenter("synonym:ratio=0.3,copies=4")
    assert "films" in aug._synonyms("movies")
    assert aug._synonyms("seen") == ()  # an inflection we cannot reproduce is never replaced


def test_fewer_copies_when_the_sentence_cannot_yield_them():
    res = make_augmenter("synonym:ratio=0.3,copies=50").augment_batch([src("a good film")], seed=0)[0]
    assert 0 < len(res.copies) < 50 and res.shortfall == 50 - len(res.copies)
    nothing = make_augmenter("synonym:ratio=0.3,copies=4,stopwords=keep").augment_batch(
        [src("it is what it is , 42")], seed=0
    )[0]
    assert nothing.copies == [] and nothing.shortfall == 4
    only_stopwords = make_augmenter("synonym:ratio=0.3,copies=4").augment_batch([src("it is what it is , 42")], seed=0)[
        0
    ]
    assert only_stopwords.copies and all("42" in c.text for c in only_stopwords.copies)


def test_sentence_pairs_respect_the_side():
    s = src("the film is wonderful", "the movie is terrible")
    for side, unchanged in (("text", 1), ("pair", 0)):
        for c in make_augmenter(f"synonym:ratio=0.5,copies=3,side={side}").augment_batch([s], seed=0)[0].copies:
            assert (c.text, c.text_pair)[unchanged] == (s.text, s.text_pair)[unchanged]
    both = make_augmenter("synonym:ratio=0.5,copies=3,side=both").augment_batch([s], seed=0)[0].copies
    assert all(c.shift.word_count == 8 for c in both)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("synonym:ratio=1.5", "must be in"),
        ("synonym:ratio=abc", "not a valid float"),
        ("synonym:copies=0", "between 1 and 1000"),
        ("synonym:colour=red", "unknown parameter"),
        ("synonym:ratio", "not key=value"),
        ("paraphrase:ratio=0.3", "unknown augmenter"),
        ("synonym:side=left", "must be one of"),
    ],
)
def test_bad_specs_fail_with_a_clear_message(spec, message):
    with pytest.raises(AugmentSpecError, match=message):
        parse_augment_spec(spec)


def test_spec_from_a_recipe_mapping():
    spec = parse_augment_spec({"method": "synonym", "ratio": 0.2, "copies": "3"})
    assert spec.params["ratio"] == 0.2 and spec.params["copies"] == 3
    assert json.loads(SynonymAugmenter(**spec.params).aug_params_json())["copies"] == 3


def test_long_sentences_are_not_capped_at_ten_words(mr_rows):
    text = " ".join(r["text"] for r in mr_rows[:6])
    copies = make_augmenter("synonym:ratio=0.3,copies=2").augment_batch([src(text)], seed=0)[0].copies
    for c in copies:
        assert c.shift.word_count > 80
        assert abs(c.shift.changed_words - 0.3 * c.shift.word_count) <= 1


def test_changed_words_are_exact_on_texts_with_repeated_phrases():
    """difflib aligned repeats badly: a copy that changed 4 of 14 words was once recorded as 14 of 14."""
    s = src("a good film , a good film , a good film , a good film , a good film")  # 15 words, 5 repeats
    res = make_augmenter("synonym:ratio=0.3,copies=3").augment_batch([s], seed=1)[0]
    assert res.copies
    for c in res.copies:
        a, b = [w.lower() for w in words(s.text)], [w.lower() for w in words(c.text)]
        assert c.shift.word_count == 15 and c.shift.changed_words in (4, 5)  # 0.3 x 15, stochastically rounded
        if len(a) == len(b):
            assert c.shift.changed_words == sum(x != y for x, y in zip(a, b))


def test_markup_urls_and_zero_width_characters_are_left_alone():
    """`</script>` became `</handwriting>`; a zero-width space split `enquire\u200bful` into two words."""
    text = 'a <script src="film.js"></script> movie &amp; story at https://example.com/good/film , enquire\u200bful'
    tokens = word_tokens(text)
    assert "enquire\u200bful" in [t.text for t in tokens]
    aug = make_augmenter("synonym:ratio=1.0,copies=3")
    kinds = dict(zip([t.text for t in tokens], aug.word_kinds(text, tokens)))
    assert kinds["script"] is None and kinds["src"] is None and kinds["amp"] is None and kinds["example"] is None
    assert kinds["movie"] == "content" and kinds["story"] == "content" and kinds["enquire\u200bful"] is None
    res = aug.augment_batch([src(text)], seed=0)[0]
    assert res.copies
    for c in res.copies:
        assert '<script src="film.js"></script>' in c.text and "&amp;" in c.text
        assert "https://example.com/good/film" in c.text and "enquire\u200bful" in c.text


# ---------------------------------------------------------------------------- the readings and forms


@pytest.fixture(scope="module")
def wordnet_synonyms():
    return make_augmenter("synonym:ratio=0.3,copies=1,senses=all")._synonyms


def test_an_inflected_form_that_is_also_a_lemma_takes_its_most_frequent_reading(wordnet_synonyms):
    # "elements" and "years" are lemmas too, but mostly plurals: plural candidates of element / year only
    for word, singular_senses in (("elements", ("ingredient", "component")), ("years", ("class", "twelvemonth"))):
        cands = wordnet_synonyms(word)
        assert cands and all(c.endswith("s") for c in cands), (word, cands)
        assert not set(singular_senses) & set(cands)
    # "saw" (see: "saw" or "seen"?), "better" (good+er): inflections kdaug cannot reproduce, left alone
    assert wordnet_synonyms("saw") == wordnet_synonyms("better") == ()


def test_pasts_and_participles_are_reinflected(wordnet_synonyms):
    found = wordnet_synonyms("found")  # mostly the past of find: pasts of find's synonyms
    assert "discovered" in found and "establish" not in found and all(c.endswith(("ed", "t")) for c in found)
    assert "attempted" in wordnet_synonyms("tried") and "trying" not in wordnet_synonyms("tried")
    making = wordnet_synonyms("making")
    assert "creating" in making and all(c.endswith("ing") for c in making)
    assert "halted" in wordnet_synonyms("stopped")  # stop -> "stopped": WordNet's exception list
    aug = make_augmenter("synonym:ratio=0.3,copies=1")
    # a form the list does not pin down is no candidate: "proven" is a participle, "ran" only a past
    assert [aug._verb_form(v, "ed") for v in ("find", "play", "love", "try", "prove", "run", "see")] == [
        "found",
        "played",
        "loved",
        "tried",
        None,
        None,
        None,
    ]
    assert [aug._verb_form(v, "ing") for v in ("make", "try", "stop", "see")] == [
        "making",
        "trying",
        "stopping",
        "seeing",
    ]


def test_the_neighbours_settle_noun_or_verb():
    from kdaug.core.augment.synonym import part_of_speech_hint

    def hint(text, word):
        tok = word_tokens(text)
        return part_of_speech_hint(tok, [t.text for t in tok].index(word))

    assert hint("its need to reassure", "need") == hint("the urge to go", "urge") == "n"
    assert hint("they'll wind up together", "wind") == hint("we love it", "love") == "v"
    assert hint("the figures form a mosaic", "form") == "v"
    assert hint("a film about love", "love") == "" and hint("its , need", "need") == ""  # no cue
    aug = make_augmenter("synonym:ratio=0.3,copies=1,senses=all")
    tok = word_tokens("its need to reassure")
    key = aug.lookup_key(tok, 1)
    assert key == "need|n" and "require" not in aug.candidates_for([key])[key]
    assert "require" in aug.candidates_for(["need"])["need"]  # no cue: the most frequent reading, a verb


def test_candidates_are_mostly_the_part_of_speech_they_stand_for(wordnet_synonyms):
    # WordNet lists "good" and "easy" among the adverbs, "seat" among the verbs; in a sentence they read as
    # the adjective and the noun they mostly are
    assert "good" not in wordnet_synonyms("well") and "easy" not in wordnet_synonyms("easily")
    assert "seat" not in wordnet_synonyms("sit")


def test_a_copy_never_brings_in_a_vulgar_word_or_a_slur(wordnet_synonyms):
    from kdaug.core.assets.wordnet import offensive_words

    words_ = offensive_words()
    assert {"fuck", "motherfucker", "nigger"} <= words_ and not {"tool", "boy", "screw"} & words_
    assert not any(c.split("ed")[0] in ("fuck",) or c in words_ for c in wordnet_synonyms("loved"))


def test_words_of_a_fixed_expression_are_left_alone():
    aug = make_augmenter("synonym:ratio=0.3,copies=1")

    def fixed(text):
        tok = word_tokens(text)
        return [tok[i].text for i in sorted(aug._in_expressions(tok))]

    assert fixed("he wants to show off his talent") == ["show", "off"]
    assert fixed("the film lives up to its promise") == ["lives", "up", "to"]  # a verb's inflection
    assert fixed("ticking time bombs") == ["time", "bombs"] and fixed("a lot nastier") == ["a", "lot"]
    assert fixed("a good film with a great cast") == [] and fixed("show , off") == []
    for c in aug.augment_batch([src("he wants to show off his talent")], seed=1)[0].copies:
        assert "show off" in c.text


def test_words_of_a_closed_class_expression_are_left_alone():
    # "each other" -> "every other", "nothing but" -> "nothing yet", "because of" -> "since of": the
    # function-word table's swaps break these, and WordNet does not list them.
    text = "they love each other because of the music , nothing but joy"
    aug = make_augmenter("synonym:ratio=0.9,copies=6")
    tok = word_tokens(text)
    fixed = {tok[i].text for i in aug.fixed_positions(tok)}
    assert fixed == {"each", "other", "because", "of", "nothing", "but"}
    copies = aug.augment_batch([src(text)], seed=2)[0].copies
    assert copies and all(p in c.text for c in copies for p in ("each other", "because of", "nothing but"))
    assert not aug.fixed_positions(word_tokens("the other day , but not because"))


def test_third_person_and_irregular_plurals():
    from kdaug.core.augment.word_forms import regular_plural, third_person

    assert [third_person(v) for v in ("go", "do", "echo", "watch", "try", "play", "be", "have")] == [
        "goes",
        "does",
        "echoes",
        "watches",
        "tries",
        "plays",
        "is",
        "has",
    ]
    assert regular_plural("gentleman") == "gentlemen" and regular_plural("human") == "humans"
    assert regular_plural("series") == "series" and regular_plural("story") == "stories"
    aug = make_augmenter("synonym:ratio=0.3,copies=1")
    assert [aug._plural(n) for n in ("man", "life", "hero", "photo", "child")] == [
        "men",
        "lives",
        "heroes",
        "photos",
        "children",
    ]
    goes = aug._synonyms("goes")
    assert goes and all(c.endswith("s") and not c.endswith("gos") for c in goes)


def test_single_words_by_default_multiword_on_request():
    plain = make_augmenter("synonym:ratio=0.3,copies=1,senses=all")._synonyms("movie")
    wide = make_augmenter("synonym:ratio=0.3,copies=1,senses=all,multiword=true")._synonyms("movie")
    assert plain and not any(" " in c for c in plain)
    assert any(" " in c for c in wide)


def test_frequent_senses_only_and_no_derivations():
    frequent = make_augmenter("synonym:ratio=0.3,copies=1,senses=frequent")._synonyms
    every = make_augmenter("synonym:ratio=0.3,copies=1,senses=all")._synonyms
    assert "penis" in every("member") and "penis" not in frequent("member")
    assert "evilness" not in every("evil") and "pridefulness" not in every("pride")  # derivations, not synonyms


def test_number_words_modals_and_names_in_lower_case_never_change():
    aug = make_augmenter("synonym:ratio=1.0,copies=6,stopwords=keep")
    s = src("three friends may see one film with harrison ford")
    copies = aug.augment_batch([s], seed=1)[0].copies
    assert copies
    for c in copies:
        w = words(c.text)
        assert (w[0], w[2], w[4], w[-1]) == ("three", "may", "one", "ford")
    assert aug._synonyms("ford") == () and aug._synonyms("three") == ()


# ---------------------------------------------------------------------------- the context check


class FakeFit:
    """Fits by a table ({candidate: fit}, default 0.9), recording what it was asked."""

    def __init__(self, table, default=0.9):
        self.table, self.default, self.asked = table, default, []

    def common_enough(self, word, candidates):
        return [c.lower() != "rare" for c in candidates]

    def fits(self, queries):
        self.asked.append([q.text for q in queries])
        return [
            np.array([self.table.get(c.lower(), self.default) for c in q.candidates], dtype=np.float32) for q in queries
        ]


def test_unfitting_candidates_are_used_only_where_the_ratio_needs_them():
    aug = make_augmenter("synonym:ratio=0.3,copies=4,context=fake")
    aug._context_fit = FakeFit(
        {"movie": 0.5, "picture": 0.95, "flick": 0.1, "pic": 0.2, "cinema": 0.6, "celluloid": 0.0}
    )
    tokens = [word_tokens("a fine film"), []]
    (slots,) = aug.find_slots([src("a fine film")], [[0]], [tokens])
    film = next(s for s in slots if s.index == 2)
    assert film.candidates == ["picture"] and film.tier == FITTING  # only what fits
    aug._context_fit = FakeFit(dict.fromkeys(("movie", "picture", "flick", "pic", "cinema"), 0.5) | {"celluloid": 0.1})
    (slots,) = aug.find_slots([src("a fine film")], [[0]], [tokens])
    film = next(s for s in slots if s.index == 2)
    # a last resort: the best three of the main sense ("movie", "picture", "pic"), none of another sense
    assert film.tier == UNFITTING and film.candidates == ["movie", "picture", "pic"]


def test_a_words_main_sense_comes_before_its_other_senses():
    aug = make_augmenter("synonym:ratio=0.3,copies=4,context=fake")
    aug.setup()
    cands, main = aug._lookup("film", "")
    assert cands[:main] == ("movie", "picture", "pic") and {"cinema", "celluloid"} <= set(cands[main:])
    tokens = [word_tokens("a fine film"), []]
    aug._context_fit = FakeFit({"cinema": 0.95, "picture": 0.75}, default=0.1)
    (slots,) = aug.find_slots([src("a fine film")], [[0]], [tokens])
    film = next(s for s in slots if s.index == 2)
    assert film.candidates == ["picture"] and film.tier == FITTING  # fits less than "cinema", but the main sense
    aug._context_fit = FakeFit({"cinema": 0.95}, default=0.1)
    (slots,) = aug.find_slots([src("a fine film")], [[0]], [tokens])
    film = next(s for s in slots if s.index == 2)
    assert film.candidates == ["cinema"] and film.tier == OTHER_SENSE  # drawn after the safe function words
    # Without a context check: the main sense's candidates only, where it has some.
    plain = make_augmenter("synonym:ratio=0.3,copies=4,senses=all")
    (slots,) = plain.find_slots([src("a fine film")], [[0]], [tokens])
    film = next(s for s in slots if s.index == 2)
    assert film.candidates == ["movie", "picture", "pic"] and film.tier == FITTING


def test_the_ratio_holds_with_the_context_check_and_fill_all(mr_rows, tiny_teacher):
    aug = make_augmenter(f"synonym:ratio=0.3,copies=4,context={tiny_teacher},fill=all")
    sources = [src(r["text"], i=i) for i, r in enumerate(mr_rows[:120])]
    copies = [c for r in aug.augment_batch(sources, seed=3) for c in r.copies]
    assert len(copies) > 0.9 * 4 * len(sources)
    assert abs(np.mean([c.shift.ratio for c in copies]) - 0.3) <= 0.03


def test_with_the_context_check_a_sources_copies_do_not_depend_on_its_batch(tiny_teacher):
    spec = f"synonym:ratio=0.3,copies=3,context={tiny_teacher}"
    s = src("The acting is wonderful and the story feels honest, though the ending drags.")
    alone = make_augmenter(spec).augment_batch([s], seed=7)[0]
    batched = make_augmenter(spec).augment_batch([src("a dull, lifeless film", i=1), s], seed=7)[1]
    assert [c.text for c in alone.copies] == [c.text for c in batched.copies] and alone.copies


def test_a_recipe_checks_synonyms_in_context_with_its_teacher_unless_told_not_to():
    from kdaug.core.recipe import Recipe

    default = Recipe(input="i", output="o", teacher="t", augment="synonym:ratio=0.3,copies=1")
    off = Recipe(input="i", output="o", teacher="t", augment="synonym:ratio=0.3,copies=1,context=none")
    assert default.augment[0].params["context"] == "t" and off.augment[0].params["context"] == "none"
    knn = Recipe(input="i", output="o", teacher="t", augment="knn:ratio=0.3,copies=1")
    assert knn.augment[0].params["context"] == "t" and knn.augment[0].params["model"] is None
    # and with the check, only the swaps it finds fitting (fill=auto); without it, the ratio exact
    from kdaug.core.augment import build_augmenters

    policies = [a.fill_policy() for a in build_augmenters([*default.augment, *off.augment, *knn.augment])]
    assert policies == ["fitting", "all", "fitting"]


@pytest.mark.real_assets
def test_the_teachers_encoder_tells_a_fitting_sense_from_a_wrong_one():
    from kdaug.core.assets.minilm import minilm_path
    from kdaug.core.augment.context import ContextFit, FitQuery

    fit = ContextFit(str(minilm_path()))

    def fits(text, word, cands):
        tok = word_tokens(text)
        i = [t.text for t in tok].index(word)
        return dict(zip(cands, fit.fits([FitQuery(text, tok, i, cands)])[0]))

    film = fits("the film is a delight from start to finish", "film", ["movie", "celluloid"])
    humour = fits("the humour is dry and sharp", "humour", ["humor", "liquid"])
    member = fits("she is a member of the cast", "member", ["fellow", "penis"])
    assert film["movie"] > 0.7 > film["celluloid"] and humour["humor"] > 0.7 > humour["liquid"]
    assert member["fellow"] > member["penis"]


def test_a_fit_is_the_lower_cosine_of_the_middle_and_the_last_layer(tiny_teacher):
    """A fine-tuned teacher's last layer holds mostly its task; the middle layer the sense: both must agree."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from kdaug.core.augment.context import ContextFit, FitQuery

    text, cands = "a quietly moving film", ["picture", "celluloid"]
    tok = word_tokens(text)
    got = ContextFit(str(tiny_teacher)).fits([FitQuery(text, tok, 3, cands)])[0]
    model = AutoModel.from_pretrained(str(tiny_teacher)).double().eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_teacher))

    def vectors(sentence, word):
        enc = tokenizer(sentence, return_tensors="pt", return_offsets_mapping=True)
        offsets = enc.pop("offset_mapping")[0]
        start = sentence.index(word)
        at = [i for i, (lo, hi) in enumerate(offsets.tolist()) if hi > lo and lo < start + len(word) and hi > start]
        with torch.no_grad():
            states = model(**enc, output_hidden_states=True).hidden_states
        return [torch.nn.functional.normalize(s[0, at].mean(0), dim=0) for s in (states[len(states) // 2], states[-1])]

    own = vectors(text, "film")
    for cand, fit in zip(cands, got):
        theirs = vectors(text.replace("film", cand), cand)
        assert fit == pytest.approx(min(float(a @ b) for a, b in zip(own, theirs)), abs=1e-9)


def test_a_slot_offers_its_best_fitting_candidates_and_no_rare_ones():
    aug = make_augmenter("synonym:ratio=0.3,copies=4,context=fake")
    fits = {"movie": 0.8, "picture": 0.95, "flick": 0.75, "pic": 0.9, "cinema": 0.85, "celluloid": 0.72}
    aug._context_fit = FakeFit(fits)
    aug._lookup.cache_clear()
    aug.main_sense_counts = lambda keys: {}  # senses not told apart: every candidate competes
    (slots,) = aug.find_slots([src("a fine film")], [[0]], [[word_tokens("a fine film"), []]])
    film = next(s for s in slots if s.index == 2)
    assert sorted(film.candidates) == ["cinema", "pic", "picture"]  # the 3 best of the 6 that fit
    aug._context_fit = FakeFit({})
    aug.candidates_for = lambda keys: {k: ["rare", "movie"] for k in keys}
    (slots,) = aug.find_slots([src("a fine film")], [[0]], [[word_tokens("a fine film"), []]])
    assert all("rare" not in s.candidates for s in slots)  # too rare next to the word: never offered


def test_fill_fitting_changes_fewer_words_rather_than_ones_that_do_not_fit():
    text = "it is one of the best films of the year"
    copies = {}
    for fill in ("all", "fitting"):
        aug = make_augmenter(f"synonym:ratio=0.5,copies=4,context=fake,fill={fill}")
        aug._context_fit = FakeFit({}, default=0.1)  # no candidate fits
        copies[fill] = aug.augment_batch([src(text)], seed=0)[0].copies
    assert copies["all"] and all(abs(c.shift.changed_words - 5) <= 1 for c in copies["all"])
    for c in copies["fitting"]:
        assert c.shift.changed_words < 4  # safe function-word swaps only ("is" -> "was", "the" stays)
        assert "films" in c.text and "year" in c.text
    with pytest.raises(AugmentSpecError, match="must be one of"):
        make_augmenter("synonym:fill=some")


def test_fill_is_fitting_by_default_with_a_context_check_and_all_without_one():
    text = "it is one of the best films of the year"
    checked = make_augmenter("synonym:ratio=0.5,copies=4,context=fake")
    checked._context_fit = FakeFit({}, default=0.1)  # no candidate fits
    fitting = make_augmenter("synonym:ratio=0.5,copies=4,context=fake,fill=fitting")
    fitting._context_fit = FakeFit({}, default=0.1)
    assert checked.fill_policy() == "fitting"
    by_default = checked.augment_batch([src(text)], seed=0)[0].copies
    assert [c.text for c in by_default] == [c.text for c in fitting.augment_batch([src(text)], seed=0)[0].copies]
    assert by_default and all(c.shift.changed_words < 4 for c in by_default)
    unchecked = make_augmenter("synonym:ratio=0.5,copies=4,context=none")
    assert unchecked.fill_policy() == "all"
    copies = unchecked.augment_batch([src(text)], seed=0)[0].copies
    assert copies and all(abs(c.shift.changed_words - 5) <= 1 for c in copies)  # the ratio exact


def test_pronouns_that_change_who_is_meant_are_risky_swaps():
    from kdaug.core.assets import load_function_word_substitutes

    safe, risky = load_function_word_substitutes(risky=False), load_function_word_substitutes(risky=True)
    for word in ("he", "she", "his", "him"):
        assert not safe[word] and risky[word]


def test_the_context_checks_sub_word_counts_are_cached_and_stay_right(tiny_teacher, monkeypatch):
    import kdaug.core.augment.context as context

    fit = context.ContextFit(str(tiny_teacher))
    words_ = ["film", "celluloid", "film", "palpates"]
    direct = [len(fit.tok(f" {w}", add_special_tokens=False)["input_ids"]) for w in words_]
    assert fit.pieces(words_) == direct and fit.pieces(words_[::-1]) == direct[::-1]
    monkeypatch.setattr(context, "PIECES_CACHED", 2)  # the cache overflows and is cleared mid-call
    assert fit.pieces(words_) == direct and len(fit._pieces) <= 3
