import numpy as np
import pytest
import torch

from kdaug.core.augment import AugmentSpecError, build_augmenters, parse_augment_spec
from kdaug.core.augment.projection import Projector, rebuild_text
from kdaug.core.corpus import SourceExample
from kdaug.core.words import words
from tests.conftest import as_sources, build_tiny_teacher, make_augmenter


def assert_real_tokens(tok, texts):
    for t in texts:
        ids = tok(t)["input_ids"]
        assert tok.unk_token_id not in ids


def test_projection_is_nearest_token_by_l2_not_dot_product(tiny_teacher):
    proj = Projector(str(tiny_teacher), device="cpu")
    ids = torch.tensor([[proj.tok.convert_tokens_to_ids("film"), proj.tok.convert_tokens_to_ids("good")]])
    e = proj.table[ids].float()
    keep = torch.zeros_like(ids, dtype=torch.bool)
    out, _ = proj.project(e, keep, keep)
    assert out.tolist() == ids.tolist()  # an exact embedding projects onto itself
    d = torch.cdist(e[0] * 0.9, proj.table.float())
    allowed = proj.allowed[False, False]  # word starts, any spelling
    expected = d.masked_fill(~allowed, float("inf")).argmin(-1)
    assert proj.project(e * 0.9, keep, keep)[0][0].tolist() == expected.tolist()
    assert not allowed[proj.tok.convert_tokens_to_ids("[unused5]")]
    assert not allowed[proj.tok.unk_token_id] and not allowed[proj.tok.cls_token_id]


def test_projection_scores_each_position_against_its_own_kind_of_token_and_skips_kept_ones(tiny_teacher):
    proj = Projector(str(tiny_teacher), device="cpu")
    torch.manual_seed(0)
    e = torch.randn(2, 6, proj.table.shape[1]) * float(proj.table.float().std())
    keep = torch.tensor([[True, False, False, False, False, True], [True, False, False, True, True, True]])
    cont = torch.tensor([[False, False, True, True, False, False], [False, True, False, False, False, False]])
    out, _ = proj.project(e, keep, cont)
    d = torch.cdist(e.reshape(-1, e.shape[-1]), proj.table.float())
    allowed = torch.where(cont.reshape(-1, 1), proj.allowed[True, False], proj.allowed[False, False])
    expected = d.masked_fill(~allowed, float("inf")).argmin(-1).reshape(2, 6)
    assert out[~keep].tolist() == expected[~keep].tolist()
    assert all(proj.vocab.word_start[t] != c for t, c in zip(out[~keep].tolist(), cont[~keep].tolist()))
    assert out[keep].tolist() == [0] * int(keep.sum())  # kept positions are not scored


def test_a_position_spelled_in_letters_becomes_a_token_spelled_in_letters(tiny_teacher):
    proj = Projector(str(tiny_teacher), device="cpu")
    tokens = ["film", "##pid", ","]
    ids = torch.tensor([proj.tok.convert_tokens_to_ids(tokens)])
    keep = torch.zeros_like(ids, dtype=torch.bool)
    cont = torch.tensor([[False, True, False]])
    comma = proj.table[proj.tok.convert_tokens_to_ids(",")].float()
    e = comma.expand(1, 3, -1).clone()  # every position sits on ","
    free, _ = proj.project(e, keep, cont)
    held, _ = proj.project(e, keep, cont, source_ids=ids)
    assert free[0, 0].item() == ids[0, 2].item()  # unrestricted, a word becomes ","
    spelled = proj.tok.convert_ids_to_tokens(held[0].tolist())
    assert spelled[0].isalpha() and spelled[1].startswith("##") and spelled[1][2:].isalpha()
    assert spelled[2] == ","  # a punctuation position may still become punctuation


def test_fgsm_refuses_a_model_without_a_trained_classifier_mix_takes_its_embeddings(tiny_teacher, tmp_path):
    from tests.conftest import _build_tiny_bert

    encoder = _build_tiny_bert(tmp_path / "encoder", "BertModel", seed=0)  # no classification head
    with pytest.raises(AugmentSpecError, match=r"has no trained classifier \(classifier\.bias"):
        make_augmenter(f"augpro_fgsm:copies=1,model={encoder}")
    with pytest.raises(AugmentSpecError, match="has no trained classifier"):
        make_augmenter(f"augpro_fgsm:copies=1,model={tiny_teacher},reference={encoder}")
    mix = make_augmenter(f"augpro_mix:copies=1,model={encoder}")
    assert mix.augment_batch(as_sources([{"text": "a good film", "label": 1}, {"text": "dull", "label": 0}], 2), 0)


def test_rebuild_keeps_unchanged_words_verbatim(tiny_teacher):
    proj = Projector(str(tiny_teacher), device="cpu")
    text = "The film, honestly, isn't GOOD."
    enc = proj.encode([text], 64)
    ids = enc["input_ids"][0]
    new = list(ids)
    film = ids.index(proj.tok.convert_tokens_to_ids("film"))
    new[film] = proj.tok.convert_tokens_to_ids("movie")
    assert rebuild_text(proj.tok, text, enc[0], ids, new) == "The movie, honestly, isn't GOOD."
    assert rebuild_text(proj.tok, text, enc[0], ids, ids) == text


@pytest.mark.parametrize("spec", ["augpro_mix:copies=3", "augpro_mix:copies=2,mu=beta:0.4", "augpro_fgsm:copies=3"])
def test_copies_are_real_tokens_differ_and_record_their_ratio(tiny_teacher, mr_rows, spec):
    aug = make_augmenter(f"{spec},model={tiny_teacher}")
    srcs = as_sources(mr_rows, 12)
    results = aug.augment_batch(srcs, seed=0)
    copies = [(s, c) for s, r in zip(srcs, results) for c in r.copies]
    assert len(copies) >= 0.8 * len(srcs) * aug.copies
    for s, c in copies:
        assert c.text != s.text and 0 < c.shift.ratio <= 1
        assert c.shift.word_count == len(words(s.text))  # what changed is counted from the edits it made
    assert_real_tokens(aug.proj.tok, [c.text for _, c in copies])
    again = make_augmenter(f"{spec},model={tiny_teacher}").augment_batch(srcs, seed=0)
    assert [[c.text for c in r.copies] for r in again] == [[c.text for c in r.copies] for r in results]
    for r in results:
        assert len({c.text for c in r.copies}) == len(r.copies)


def test_fgsm_with_a_student_reference(tmp_path, tiny_teacher, mr_rows):
    student = build_tiny_teacher(tmp_path / "student", id2label={0: "negative", 1: "positive"}, seed=7)
    aug = make_augmenter(f"augpro_fgsm:copies=2,model={tiny_teacher},reference={student}")
    assert aug.teacher is not None
    results = aug.augment_batch(as_sources(mr_rows, 6), seed=0)
    assert sum(len(r.copies) for r in results) >= 6


def test_pairs_and_bad_specs(tiny_teacher):
    src = SourceExample("a", "a man sleeps on the couch", "a person is resting at home", 0, "")
    other = SourceExample("b", "two dogs run in a field", "animals are moving fast", 0, "")
    res = make_augmenter(f"augpro_mix:copies=2,side=pair,model={tiny_teacher}").augment_batch([src, other], seed=0)
    assert all(c.text == src.text for c in res[0].copies) and res[0].copies
    with pytest.raises(AugmentSpecError, match="mu"):
        parse_augment_spec("augpro_mix:mu=1.5")
    with pytest.raises(AugmentSpecError, match="gives the source back"):
        parse_augment_spec("augpro_mix:mu=0.7")  # it would write no copy


def test_augpro_mix_above_half_would_give_the_source_back(tiny_teacher, mr_rows):
    """Why mu stops at 0.5: projected, a point nearer its source token than its partner's is the source.
    (Mixed the other way round, mu 0.3, the same pairs do change.)"""
    sources = as_sources(mr_rows, 16)
    mixer = make_augmenter(f"augpro_mix:copies=2,mu=0.3,model={tiny_teacher}")
    changed = sum(len(r.copies) for r in mixer.augment_batch(sources, seed=0))
    mixer._mu = ("fixed", 0.7)  # past the parser, as the spec can no longer ask
    assert changed > 0 and sum(len(r.copies) for r in mixer.augment_batch(sources, seed=0)) == 0
    with pytest.raises(AugmentSpecError, match="needs model"):
        build_augmenters([parse_augment_spec("augpro_fgsm:eps=1")])


def test_fgsm_reads_a_pair_as_one_sequence_and_steps_grow_only_on_redraws(tiny_teacher, monkeypatch):
    """A model trained on pairs takes its gradient on the pair (one sequence, its token types), and both
    texts take the step of that copy's attempt."""
    aug = make_augmenter(f"augpro_fgsm:copies=1,side=both,eps=2.0,model={tiny_teacher}")
    drafted = []  # the attempt of every copy drafted
    perturb = type(aug).perturb_pairs

    def spy(self, sources, sides, pending):
        drafted.extend(p.attempt for p in pending)
        return perturb(self, sources, sides, pending)

    steps = []  # the step every drafted copy took
    step_size = type(aug).step_size
    monkeypatch.setattr(type(aug), "perturb_pairs", spy)
    monkeypatch.setattr(
        type(aug), "step_size", lambda self, attempt: steps.append(step_size(self, attempt)) or steps[-1]
    )
    token_types = []  # what the model read, each forward pass
    forward = aug.proj.model.forward

    def reading(*args, **kwargs):
        token_types.append(kwargs.get("token_type_ids"))
        return forward(*args, **kwargs)

    monkeypatch.setattr(aug.proj.model, "forward", reading)
    src = SourceExample("a", "a man sleeps on the couch", "a person is resting at home", 0, "")
    res = aug.augment_batch([src], seed=0)[0]
    assert token_types and all(t is not None and set(t.unique().tolist()) == {0, 1} for t in token_types)
    assert drafted[0] == 0 and steps == [2.0 * 1.5**a for a in drafted]
    assert drafted == sorted(drafted)  # attempts only grow
    assert aug.step_size(0) == 2.0 and aug.step_size(2) == 2.0 * 1.5**2
    assert res.copies and res.copies[0].text_pair != src.text_pair
    # side=text perturbs the first text only, with the pair still read as the context
    only_text = make_augmenter(f"augpro_fgsm:copies=2,side=text,eps=2.0,model={tiny_teacher}")
    copies = only_text.augment_batch([src], seed=0)[0].copies
    assert copies and all(c.text_pair == src.text_pair and c.text != src.text for c in copies)


def test_a_tie_goes_to_the_preferred_token(tiny_teacher):
    """Mixed at mu 0.5, a source and a partner token are equally near: the projection keeps the one it
    is told to prefer (the source, or a seeded coin's pick), not what rounding decides."""
    import torch

    from kdaug.core.augment.projection import Projector

    proj = Projector(str(tiny_teacher), "cpu")
    ids, rows, norms = proj.candidates[False, False]
    a, b = int(ids[100]), int(ids[200])
    pick = torch.tensor([100, 200])
    proj.candidates = {**proj.candidates, (False, False): (ids[pick], rows[pick], norms[pick])}
    mid = ((proj.table[a] + proj.table[b]) / 2).float()[None, None, :]
    keep, cont = torch.zeros(1, 1, dtype=torch.bool), torch.zeros(1, 1, dtype=torch.bool)
    for preferred in (a, b):
        got, _ = proj.project(mid, keep, cont, prefer_ids=torch.tensor([[preferred]]))
        assert int(got) == preferred


def test_augpro_mix_at_mu_half_keeps_the_source_on_ties_or_splits_them_by_a_seeded_coin(tiny_teacher, mr_rows):
    sources = [SourceExample(f"s{i}", r["text"], None, None, "") for i, r in enumerate(mr_rows[:16])]
    source = make_augmenter(f"augpro_mix:copies=2,mu=0.5,model={tiny_teacher}")
    coin = make_augmenter(f"augpro_mix:copies=2,mu=0.5,ties=coin,model={tiny_teacher}")
    kept = [c.shift.ratio for r in source.augment_batch(sources, seed=1) for c in r.copies]
    split = [c.shift.ratio for r in coin.augment_batch(sources, seed=1) for c in r.copies]
    again = [c.shift.ratio for r in coin.augment_batch(sources, seed=1) for c in r.copies]
    assert split == again  # the coin is seeded
    assert len(kept) == len(split) and sum(split) > sum(kept)  # ties to the source change less


def test_a_copy_of_a_text_with_no_words_that_gains_words_has_ratio_one(tiny_teacher):
    aug = make_augmenter(f"augpro_fgsm:copies=2,eps=8.0,model={tiny_teacher}")
    source = SourceExample("p", "!!! ... ??? ---", None, 0, "")
    res = aug.augment_batch([source], seed=0)[0]
    with_words = [c for c in res.copies if words(c.text)]
    assert with_words  # the projection turned punctuation into words
    assert all(c.shift.word_count == 0 and c.shift.ratio == 1.0 for c in with_words)


def test_an_fgsm_copy_does_not_depend_on_the_other_sources_of_its_batch(tiny_teacher, mr_rows):
    """The random start is drawn for the copy's own positions: a longer neighbour in the batch (a wider
    padded batch) once changed it."""
    aug = make_augmenter(f"augpro_fgsm:copies=2,eps=2.0,model={tiny_teacher}")
    short = SourceExample("s", "a quietly moving film", None, None, "")
    long = SourceExample("l", " ".join(r["text"] for r in mr_rows[:3]), None, None, "")
    alone = aug.augment_batch([short], seed=4)[0]
    beside = aug.augment_batch([long, short], seed=4)[1]
    assert alone.copies and [c.text for c in alone.copies] == [c.text for c in beside.copies]


def test_fgsm_searches_each_copys_step_for_the_asked_ratio(tiny_teacher, mr_rows):
    """A fixed step changes one text hardly at all and another almost entirely (MR, MiniLM, eps 2: p10 0.04,
    p90 0.85); searched per copy, the step gives every copy about the ratio asked, as its recorded ratio
    measures it."""
    sources = as_sources(mr_rows[:40], 40)
    for ratio in (0.3, 0.6):
        aug = make_augmenter(f"augpro_fgsm:copies=1,ratio={ratio},model={tiny_teacher}")
        ratios = np.array([c.shift.ratio for r in aug.augment_batch(sources, 1) for c in r.copies])
        assert len(ratios) > 30
        assert abs(ratios.mean() - ratio) <= 0.05 and np.percentile(ratios, 90) - np.percentile(ratios, 10) < 0.25
    fixed = make_augmenter(f"augpro_fgsm:copies=1,eps=2.0,model={tiny_teacher}")
    assert fixed.params["ratio"] is None and fixed.params["eps"] == 2.0  # the provenance says which step


def test_more_power_iterations_follow_the_same_direction_from_other_random_starts(tiny_teacher, mr_rows):
    from kdaug.core.augment.draw import Pending

    sources = as_sources(mr_rows[:16], 16)
    agreement = {}
    for k in (1, 3):
        aug = make_augmenter(f"augpro_fgsm:copies=1,power_iterations={k},model={tiny_teacher}")
        _, _, ids, mask, special, _, _ = aug._encode_side(sources, 0, list(range(16)))
        signs = []
        for seed in (1, 2):
            pending = [Pending(i, 0, np.random.default_rng(seed * 100 + i)) for i in range(16)]
            embeds = aug.proj.table[ids].float()
            signs.append(aug._adversarial_direction(pending, embeds, ids, mask, ~special).sign())
        free = (~special)[..., None].expand_as(signs[0])
        agreement[k] = float((signs[0] == signs[1])[free].float().mean())
    assert agreement[3] > agreement[1]
    with pytest.raises(AugmentSpecError, match="between 1 and 10"):
        parse_augment_spec("augpro_fgsm:power_iterations=0")


def test_punctuation_inside_a_word_is_kept(tiny_teacher):
    """ "isn't" and "too-tepid": a word projected onto the apostrophe or the hyphen would glue two words."""
    source = SourceExample("p", "it isn't a too-tepid film, it's fine", None, 0, "")
    for spec in ("augpro_fgsm:copies=3,eps=30.0", "augpro_mix:copies=3,mu=0.1"):
        aug = make_augmenter(f"{spec},model={tiny_teacher}")
        other = SourceExample("q", "dull and slow and long and grey and flat and bland", None, 0, "")
        copies = aug.augment_batch([source, other], seed=0)[0].copies
        assert copies
        for c in copies:
            assert c.text.count("'") == 2 and "-" in c.text, c.text
