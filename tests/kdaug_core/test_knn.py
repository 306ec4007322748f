import numpy as np
import pytest

from kdaug.core.assets.embeddings import load_glove
from kdaug.core.augment import AugmentSpecError, build_augmenters, parse_augment_spec
from kdaug.core.augment.knn import stem
from kdaug.core.corpus import SourceExample
from kdaug.core.recipe import Recipe
from tests.conftest import make_augmenter


@pytest.fixture(scope="module")
def glove_knn():
    return make_augmenter("knn:ratio=0.3,copies=4")


def test_glove_neighbours_are_sensible_and_skip_inflections(glove_knn):
    table = glove_knn.candidates_for(["terrible", "movie", "walked"])
    assert {"horrible", "awful", "dreadful"} <= set(table["terrible"])
    assert "film" in table["movie"] and "movie" not in table["movie"] and "movies" not in table["movie"]
    assert not {"walk", "walks", "walking"} & set(table["walked"])
    assert all(len(c) == 10 for c in table.values())
    assert stem("walking") == stem("walked") == "walk"


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.5])
def test_ratio_is_met_on_real_sentences(glove_knn, mr_rows, ratio):
    aug = make_augmenter(f"knn:ratio={ratio},copies=4")
    sources = [SourceExample(str(i), r["text"], None, None, "") for i, r in enumerate(mr_rows[:300])]
    copies = [c for res in aug.augment_batch(sources, seed=0) for c in res.copies]
    ratios = np.array([c.shift.ratio for c in copies])
    assert abs(ratios.mean() - ratio) <= 0.03
    assert np.mean([abs(c.shift.changed_words - ratio * c.shift.word_count) <= 1 for c in copies]) >= 0.9


def test_deterministic_and_distinct(glove_knn):
    s = SourceExample("a", "a terrible movie with awful acting and a boring story", None, 0, "")
    one = [c.text for c in glove_knn.augment_batch([s], seed=5)[0].copies]
    two = [c.text for c in make_augmenter("knn:ratio=0.3,copies=4").augment_batch([s], seed=5)[0].copies]
    assert one == two and len(set(one)) == 4 and s.text not in one


def test_teacher_embeddings_source(tiny_teacher):
    aug = make_augmenter(f"knn:ratio=0.5,copies=2,source=teacher,model={tiny_teacher}")
    assert aug.table.lowercase and "the" in aug.table.index and not any(w.startswith("##") for w in aug.table.words)
    res = aug.augment_batch([SourceExample("a", "a wonderful film about love", None, 0, "")], seed=0)[0]
    assert len(res.copies) == 2
    assert all(w in aug.table.index for c in res.copies for w in c.text.split())


def test_teacher_source_defaults_to_the_recipe_teacher():
    r = Recipe(input="i", output="o", teacher="my/teacher", augment=["knn:source=teacher", "knn"])
    assert r.augment[0].params["model"] == "my/teacher" and r.augment[1].params["model"] is None
    with pytest.raises(AugmentSpecError, match="needs model"):
        build_augmenters([parse_augment_spec("knn:source=teacher")])


def test_glove_text_and_npy_files(tmp_path):
    (tmp_path / "v.txt").write_text("good 1 0\nfine 0.9 0.1\nbad -1 0\n")
    t = load_glove(str(tmp_path / "v.txt"))
    assert t.words == ["good", "fine", "bad"] and t.vectors.shape == (3, 2)
    np.save(tmp_path / "m.npy", t.vectors)
    (tmp_path / "m.txt").write_text("good\nfine\nbad\n")
    assert load_glove(str(tmp_path / "m.npy")).words == ["good", "fine", "bad"]


def test_neighbours_are_the_same_with_any_thread_count(glove_knn, mr_rows):
    import torch

    words = sorted({w for r in mr_rows[:200] for w in r["text"].split() if w.isalpha()})
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = make_augmenter("knn:ratio=0.3,copies=4").candidates_for(words)
        torch.set_num_threads(2)
        two = make_augmenter("knn:ratio=0.3,copies=4").candidates_for(words)
    finally:
        torch.set_num_threads(before)
    assert len(words) > 500 and one == two


def test_tied_neighbours_come_in_table_order(tmp_path):
    # "good" has three neighbours at exactly the same cosine; they must come in the table's order
    (tmp_path / "v.txt").write_text("good 1 0\nzesty 0.5 0.5\nfine 0.5 0.5\nnice 0.5 0.5\nbad -1 0\nugly -1 0.1\n")
    aug = make_augmenter(f"knn:ratio=0.5,copies=1,k=3,source={tmp_path / 'v.txt'},vocab_limit=100")
    assert aug.candidates_for(["good"])["good"] == ["zesty", "fine", "nice"]


def test_check_finds_the_table_without_loading_wordnet(tmp_path, monkeypatch):
    from kdaug.core.assets import MissingAssetError
    from kdaug.core.assets import wordnet as wnmod

    monkeypatch.setattr(wnmod, "load_wordnet", lambda: pytest.fail("check() must not load WordNet"))
    aug = build_augmenters([parse_augment_spec("knn")])[0]
    aug.check()
    missing = build_augmenters([parse_augment_spec(f"knn:source={tmp_path / 'none.txt'}")])[0]
    with pytest.raises(MissingAssetError, match="does not exist"):
        missing.check()


def test_neighbours_are_the_nearest_allowed_rows_of_the_whole_table(glove_knn, mr_rows):
    """Content words search only the content rows and stopwords only the stopword rows; that must give
    what ranking the whole table and skipping the rows a word may not become gives."""
    import torch

    aug, table = glove_knn, glove_knn.table
    unit = table.vectors / np.maximum(np.linalg.norm(table.vectors, axis=1, keepdims=True), 1e-8)
    alpha = np.array([w.isalpha() for w in table.words])
    stop = np.array([w.lower() in aug._stopwords for w in table.words])
    content = alpha & ~stop & np.array([len(w) > 1 for w in table.words])
    words = sorted({w.lower() for r in mr_rows[:40] for w in r["text"].split() if w.isalpha()})
    content_words = [w for w in words if w not in aug._stopwords and w in table.index]
    stopwords = [w for w in words if w in aug._stopwords and w in table.index]
    assert len(content_words) > 100 and len(stopwords) > 20
    size = aug.k * 4 + 8
    full = torch.from_numpy(unit.astype(np.float32))
    for found, allowed, asked in (
        (aug.candidates_for(content_words), content, content_words),
        (aug.stopword_candidates_for(stopwords), alpha & stop, stopwords),
    ):
        sims = full[[table.index[w] for w in asked]] @ full.T  # every row of the table, then masked
        sims[:, torch.from_numpy(~allowed)] = float("-inf")
        scores, top = sims.topk(size, dim=1)
        for w, row_scores, row_top in zip(asked, scores.tolist(), top.tolist()):
            nearest = [i for _, i in sorted((-v, i) for v, i in zip(row_scores, row_top) if v != float("-inf"))]
            assert found[w] == aug._filter(w, [table.words[i] for i in nearest]), w
