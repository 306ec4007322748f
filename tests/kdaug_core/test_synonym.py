import numpy as np
import pytest

from kdaug.core.augment import AugmentSpecError, parse_augment_spec
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
    assert aug._synonyms("going") == ()  # an inflection we cannot reproduce is never replaced


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
    assert SynonymAugmenter(**spec.params).aug_params_json().startswith('{"copies": 3')


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
