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
    assert Shift(3, 0).ratio == 1.0  # a text with no words that gained some: all of it changed
    assert Shift(5, 2).ratio == 1.0  # never above 1


def test_measure_is_exact_and_bounded_on_long_repetitive_texts():
    source = " ".join(["the very same phrase again"] * 20_000)  # 100,000 words of repeats
    copy = source.replace("same", "identical", 3)
    assert measure(source, copy) == Shift(3, 100_000)
    assert measure("", "brand new words").ratio == 1.0 and 0 <= measure(source, "x").ratio <= 1


def test_changes_counted_from_edits():
    from kdaug.core.shift import changed_by_edits

    text = "the co-writer , honestly"
    assert changed_by_edits(text, [(4, 6, "ex"), (7, 13, "editor")]) == 1  # two edits in one word: one word
    assert changed_by_edits(text, [(14, 15, "and")]) == 1  # punctuation became a word: an insertion
    assert changed_by_edits(text, [(0, 3, "a"), (16, 24, "frankly")]) == 2
    assert changed_by_edits("!!!", [(0, 3, "wow wow")]) == 2


def test_match_case():
    assert [match_case("Good", "fine"), match_case("GOOD", "fine"), match_case("good", "fine")] == [
        "Fine",
        "FINE",
        "fine",
    ]
