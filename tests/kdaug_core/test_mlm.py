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
    results = aug.augment_batch(as_sources(mr_rows, 150), seed=0)
    copies = [c for r in results for c in r.copies]
    assert len(copies) + sum(r.short_text for r in results) > 0.95 * 600  # short texts: drawn with chance R x words
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


def test_markers_in_the_data_are_text_not_control_tokens(tiny_mlm, tiny_teacher):
    """A literal [MASK] in a source once added a second mask (candidates from the wrong place), and a
    literal [SEP] or [CLS] reached the teacher as a real separator."""
    from kdaug.core.augment.mlm import MaskRequest
    from kdaug.core.teacher import TeacherSettings

    aug = make_augmenter(f"mlm:model={tiny_mlm},ratio=0.3,copies=2")
    text = "the [MASK] film [SEP] is [CLS] good"
    good = text.index("good")
    (masked,) = aug._masked_inputs([MaskRequest(SourceExample("m", text, None, 0, ""), [(0, good, good + 4)])])
    assert masked.ids.count(aug.tok.mask_token_id) == 1 and len(masked.masks) == 1
    assert masked.ids.count(aug.tok.sep_token_id) == 1 and masked.ids.count(aug.tok.cls_token_id) == 1
    res = aug.augment_batch([SourceExample("m", text, None, 0, "")], seed=0)[0]
    assert all("[MASK]" in c.text and "[SEP]" in c.text for c in res.copies)  # markers are words never replaced
    teacher = TeacherSettings(str(tiny_teacher), device="cpu").load()
    (features,), _ = teacher.encode([text])
    ids = features["input_ids"]
    assert ids.count(teacher.tokenizer.sep_token_id) == 1 and ids.count(teacher.tokenizer.cls_token_id) == 1


def test_long_texts_are_masked_in_windows_of_the_models_length(tiny_mlm):
    """per_word built one masked copy of the whole text per word: a 200,000-character text drove a
    worker past 19 GB. Each masked input is now a window of at most max_length tokens around its word."""
    from kdaug.core.augment.mlm import MaskRequest

    aug = make_augmenter(f"mlm:model={tiny_mlm},ratio=0.3,copies=1,max_length=32")
    text = " ".join(f"word{i % 50} film story" for i in range(400))  # 1,200 words
    tokens = word_tokens(text)
    spans = [(0, t.start, t.end) for t in tokens[::97]]
    source = SourceExample("long", text, None, 0, "")
    inputs = aug._masked_inputs([MaskRequest(source, [span]) for span in spans])
    assert len(inputs) == len(spans) and all(len(x.ids) <= 32 and len(x.masks) == 1 for x in inputs)
    # every word gets its prediction, also far past the model's length (truncation used to drop them)
    predictions = aug._predict([MaskRequest(source, [span]) for span in spans])
    assert all(p[0] is not None for p in predictions)
    joint = aug._masked_inputs([MaskRequest(source, spans)])  # one copy's masks, over the whole text
    assert all(len(x.ids) <= 32 for x in joint) and sum(len(x.masks) for x in joint) == len(spans)
