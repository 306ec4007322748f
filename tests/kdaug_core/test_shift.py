from kdaug.core.shift import Shift, measure
from kdaug.core.words import match_case, replace_spans, word_tokens, words


def test_words_keep_contractions_and_hyphens_and_skip_punctuation():
    assert words("He's a co-writer , isn't he? 21st!") == ["He's", "a", "co-writer", "isn't", "he", "21st"]


def test_replacement_keeps_everything_else_byte_for_byte():
    text = 'the  "movie" , honestly!'
    toks = word_tokens(text)
    assert replace_spans(text, {1: "film", 2: "frankly"}, toks) == 'the  "film" , frankly!'


def test_measure_counts_changed_source_words():
    assert measure("the movie is good", "the film is good") == Shift(1, 4)
    assert measure("the movie is good", "The movie is good") == Shift(0, 4)  # casing is no change
    assert measure("a good movie", "a good motion picture") == Shift(1, 3)  # multi-word synonym: 1 word
    assert measure("a b c d", "a c d") == Shift(1, 4)  # a deletion
    assert measure("good fun , wasabi", "good fun striker wasabi") == Shift(1, 3)  # an inserted word
    assert measure("x y", "p q").ratio == 1.0
    assert (Shift(1, 4) + Shift(1, 6)).ratio == 0.2
    assert Shift(0, 0).ratio == 0.0


def test_match_case():
    assert [match_case("Good", "fine"), match_case("GOOD", "fine"), match_case("good", "fine")] == [
        "Fine",
        "FINE",
        "fine",
    ]
