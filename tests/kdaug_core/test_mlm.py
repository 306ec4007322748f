import numpy as np
import pytest

from kdaug.core.augment import AugmentSpecError, build_augmenters, parse_augment_spec
from kdaug.core.corpus import SourceExample
from kdaug.core.models import ModelError
from kdaug.core.words import word_tokens
from tests.conftest import as_sources, make_augmenter


@pytest.mark.parametrize("mode", ["per_word", "joint"])
@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.5])
def test_ratio_is_met_on_real_sentences(tiny_mlm, mr_rows, mode, ratio):
    aug = make_augmenter(f"mlm:model={tiny_mlm},ratio={ratio},copies=4,mode={mode},batch_size=16")
    copies = [c for r in aug.augment_batch(as_sources(mr_rows, 150), seed=0) for c in r.copies]
    assert len(copies) > 0.95 * 600
    assert abs(np.mean([c.shift.ratio for c in copies]) - ratio) <= 0.03
    assert np.mean([abs(c.shift.changed_words - ratio * c.shift.word_count) <= 1 for c in copies]) >= 0.9


def test_candidates_are_whole_words_without_specials_or_the_original(tiny_mlm):
    aug = make_augmenter(f"mlm:model={tiny_mlm},ratio=0.3,copies=2,top_m=5")
    src = SourceExample("a", "The movie was wonderful and the actors were brilliant", None, 0, "")
    slots = aug.find_slots([src], [[0]], [[word_tokens(src.text), []]])[0]
    # content words only (movie, wonderful, actors, brilliant): they meet the ratio without stopwords
    assert {s.index for s in slots} == {1, 3, 6, 8} and not any(s.stopword for s in slots)
    words = src.text.split()
    for s in slots:
        assert 0 < len(s.candidates) <= 5
        for c in s.candidates:
            assert c.isalpha() and not c.startswith("##") and c.lower() != words[s.index].lower()
            assert not (c.startswith("[") or c.lower() in aug._stopwords)


def test_stopword_positions_get_stopword_candidates_when_needed(tiny_mlm):
    aug = make_augmenter(f"mlm:model={tiny_mlm},ratio=0.6,copies=2,top_m=5")
    src = SourceExample("a", "it was one of the best of the year", None, 0, "")
    slots = aug.find_slots([src], [[0]], [[word_tokens(src.text), []]])[0]
    stop_slots = [s for s in slots if s.stopword]
    assert stop_slots and all(c.lower() in aug._stopwords for s in stop_slots for c in s.candidates)
    assert all(c.lower() not in aug._stopwords for s in slots if not s.stopword for c in s.candidates)


def test_batching_does_not_change_the_result(tiny_mlm, mr_rows):
    srcs = as_sources(mr_rows, 40)
    a = make_augmenter(f"mlm:model={tiny_mlm},ratio=0.3,copies=3,batch_size=7").augment_batch(srcs, seed=1)
    b = make_augmenter(f"mlm:model={tiny_mlm},ratio=0.3,copies=3,batch_size=64").augment_batch(srcs, seed=1)
    one_by_one = [
        make_augmenter(f"mlm:model={tiny_mlm},ratio=0.3,copies=3").augment_batch([s], seed=1)[0] for s in srcs[:5]
    ]
    assert [[c.text for c in r.copies] for r in a] == [[c.text for c in r.copies] for r in b]
    assert [[c.text for c in r.copies] for r in a[:5]] == [[c.text for c in r.copies] for r in one_by_one]


def test_joint_copies_are_distinct_and_deterministic(tiny_mlm):
    src = SourceExample("a", "a thoughtful, moving drama with superb performances", None, 0, "")
    a = make_augmenter(f"mlm:model={tiny_mlm},ratio=0.3,copies=4,mode=joint").augment_batch([src], seed=3)[0]
    b = make_augmenter(f"mlm:model={tiny_mlm},ratio=0.3,copies=4,mode=joint").augment_batch([src], seed=3)[0]
    texts = [c.text for c in a.copies]
    assert texts == [c.text for c in b.copies] and len(set(texts)) == len(texts) == 4 and src.text not in texts
    assert [c.copy_index for c in a.copies] == [0, 1, 2, 3]


def test_sentence_pairs_mask_only_the_chosen_side(tiny_mlm):
    src = SourceExample("a", "the film is wonderful", "the movie is terrible", 0, "")
    for mode in ("per_word", "joint"):
        res = make_augmenter(f"mlm:model={tiny_mlm},ratio=0.5,copies=2,side=pair,mode={mode}").augment_batch(
            [src], seed=0
        )[0]
        assert res.copies and all(c.text == src.text and c.text_pair != src.text_pair for c in res.copies)


def test_model_is_required_and_must_be_a_masked_lm(tiny_teacher):
    with pytest.raises(AugmentSpecError, match="model=PATH_OR_HUB_ID is required"):
        build_augmenters([parse_augment_spec("mlm:ratio=0.3")])
    with pytest.raises(AugmentSpecError, match="per_word or joint"):
        parse_augment_spec("mlm:model=x,mode=fast")
    with pytest.raises(ModelError, match="no trained masked-LM head"):
        make_augmenter(f"mlm:model={tiny_teacher},ratio=0.3")
