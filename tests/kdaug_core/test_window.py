from kdaug.core.augment.window import restore, windowed
from kdaug.core.corpus import SourceExample
from kdaug.core.words import words
from tests.conftest import make_augmenter


def test_a_long_text_is_augmented_within_its_first_max_words_and_kept_whole():
    text = " ".join(f"good film number {i} with a fine story ." for i in range(40))  # 320 words
    source = SourceExample("long", text, None, 1, "")
    assert windowed(source, 1000) is None and windowed(source, None) is None
    cut, tails = windowed(source, 50)
    assert len(words(cut.text)) == 50 and cut.text + tails[0] == text and cut.id == source.id
    aug = make_augmenter("synonym:ratio=0.3,copies=3")
    (result,) = aug.augment_batch([cut], seed=1)
    (full,) = [restore(result, source, tails, len(words(text)))]
    assert len(full.copies) == 3
    for copy in full.copies:
        before, after = words(text), words(copy.text)
        assert copy.text.endswith(tails[0]) and after[-200:] == before[-200:]  # past the window: verbatim
        assert copy.shift.word_count == 320 and copy.shift.changed_words == 15  # 0.3 x 50 words of the window
        assert abs(copy.shift.ratio - 15 / 320) < 1e-12


def test_pairs_are_windowed_side_by_side():
    pair = SourceExample("p", "a b c d e f", "one two three", 0, "")
    cut, tails = windowed(pair, 4)
    assert (cut.text, cut.text_pair, tails) == ("a b c d", "one two three", (" e f", ""))
