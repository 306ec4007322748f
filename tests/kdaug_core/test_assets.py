import subprocess
import sys
from pathlib import Path

import pytest

from kdaug.core.assets import MissingAssetError, load_stopwords
from kdaug.core.assets import wordnet as wnmod


def test_stopwords_are_the_179_word_list():
    sw = load_stopwords()
    assert len(sw) == 179 and {"the", "not", "very", "don't"} <= sw and "film" not in sw


def test_real_wordnet_loads():
    wn = wnmod.load_wordnet()
    assert wn.get_version() == "3.0"
    assert "dog" in [lem.name() for lem in wn.synset("dog.n.01").lemmas()]


def test_system_wordnet_gets_an_nltk_layout_with_lexnames(tmp_path):
    system = wnmod.find_system_wordnet()
    if system is None:
        pytest.fail("the set-up script installs a system WordNet (wordnet-base); none was found")
    root = wnmod.nltk_dir_from_system(system, tmp_path / "nltk_data")
    target = root / "corpora" / "wordnet"
    lexnames = (target / "lexnames").read_text().splitlines()
    assert len(lexnames) == 45 and lexnames[3].split("\t") == ["03", "noun.Tops", "1"]
    assert (target / "data.noun").stat().st_size == (system / "data.noun").stat().st_size


def hide_wordnet(monkeypatch, tmp_path):
    """From here on, neither nltk's data path nor any system directory has WordNet."""
    monkeypatch.setattr(wnmod, "_nltk_has_wordnet", lambda: False)
    monkeypatch.setattr(wnmod, "SYSTEM_WORDNET_DIRS", (str(tmp_path),))
    for var in ("KDAUG_WORDNET_DIR", "WNSEARCHDIR", "WNHOME"):
        monkeypatch.delenv(var, raising=False)


def test_missing_wordnet_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(wnmod, "_wordnet", None)
    hide_wordnet(monkeypatch, tmp_path)
    with pytest.raises(MissingAssetError, match="apt-get install wordnet-base") as err:
        wnmod.load_wordnet()
    assert "nltk.downloader wordnet" in str(err.value)


def test_lemma_counts_match_nltks_own_count():
    wn = wnmod.load_wordnet()
    counts = wnmod.lemma_counts()
    lemmas = [
        lem
        for word in ("movie", "good", "run", "bank", "quickly", "terrible")
        for s in wn.synsets(word)
        for lem in s.lemmas()
    ]
    assert len(lemmas) > 100 and sum(counts.get(lem.key(), 0) for lem in lemmas) > 0
    assert [counts.get(lem.key(), 0) for lem in lemmas] == [lem.count() for lem in lemmas]


def test_find_wordnet_checks_without_loading(monkeypatch, tmp_path):
    monkeypatch.setattr(wnmod, "_wordnet", None)
    wnmod.find_wordnet()  # the installed WordNet is found
    assert wnmod._wordnet is None  # and not loaded
    hide_wordnet(monkeypatch, tmp_path)
    with pytest.raises(MissingAssetError, match="apt-get install wordnet-base"):
        wnmod.find_wordnet()


def test_check_wordnet_finds_a_system_wordnet_without_importing_nltk(monkeypatch, tmp_path):
    code = (
        "import sys; from kdaug.core.assets.wordnet import check_wordnet; check_wordnet(); print('nltk' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False"  # the set-up script installs a system WordNet
    hide_wordnet(monkeypatch, tmp_path)
    with pytest.raises(MissingAssetError, match="apt-get install wordnet-base"):
        wnmod.check_wordnet()


def test_mr_three_way_split_is_fixed_balanced_and_disjoint():
    import json
    from collections import Counter

    from kdaug.core.assets.mr import mr_three_way_splits

    paths = mr_three_way_splits()
    parts = [[json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()] for p in paths]
    assert [len(p) for p in parts] == [3000, 500, 500]
    assert all(len(set(Counter(r["label"] for r in p).values())) == 1 for p in parts)  # balanced classes
    ids = [{r["id"] for r in p} for p in parts]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert mr_three_way_splits() == paths  # written once, then reused
