import json

import pytest
import yaml

from kdaug.cli import main as kdaug
from kdaug.core.errors import KdaugError
from kdaug.search import Search
from kdaug.search_space import DEFAULT_SPACE, draw_population, load_space, rungs
from tests.conftest import write_jsonl


def test_successive_halving_rungs():
    assert rungs(8, 2, 1, 4) == [(8, 1), (4, 2), (2, 4)]
    assert rungs(8, 2, 1, 16) == [(8, 1), (4, 2), (2, 4), (1, 8)]
    assert rungs(9, 3, 1, 9) == [(9, 1), (3, 3), (1, 9)]
    assert rungs(1, 2, 2, 4) == [(1, 2)]


def test_the_population_is_seeded_distinct_and_starts_with_no_augmentation():
    space = DEFAULT_SPACE["student"]
    a = draw_population(space, 8, seed=1, role="student")
    assert a == draw_population(space, 8, seed=1, role="student")
    assert a != draw_population(space, 8, seed=2, role="student")
    assert a[0] == [] and len(a) == 8 and len({json.dumps(p) for p in a}) == 8
    for policy in a[1:]:
        assert 1 <= len(policy) <= space["max_augmenters"]
        assert {s.split(":")[0] for s in policy} <= set(space["augmenters"])


@pytest.mark.parametrize(
    "space, message",
    [
        ({"teacher": {"augmenters": {"augpro_mix": {"copies": [2]}}}}, "do not keep"),
        ({"student": {"augmenters": {"synonym": {"ratio": [2.0], "copies": [2]}}}}, "ratio=2.0 must be in"),
        ({"student": {"augmenters": {"synonym": {"ratio": []}}}}, "non-empty list"),
        ({"students": {}}, "keys among"),
    ],
)
def test_a_bad_space_fails_before_any_work(tmp_path, space, message):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    with pytest.raises(KdaugError, match=message):
        load_space(str(path), ["teacher", "student"])


def test_bad_flags_fail_fast(tmp_path, capsys):
    base = ["search", "--input", "i", "--eval", "e", "--test", "t", "--teacher", "x", "--output", str(tmp_path)]
    with pytest.raises(SystemExit):
        kdaug(base + ["--roles", "teacher,student"])  # no --teacher-init
    assert "--teacher-init" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        kdaug(base + ["--eta", "1"])
    with pytest.raises(SystemExit):
        kdaug(base + ["--teacher-trials", "0"])
    assert "--teacher-trials must be at least 1" in capsys.readouterr().err
    assert kdaug(base + ["--baseline-augment", "synonym:ratio=7"]) == 2


SPACE = {
    "teacher": {"max_augmenters": 1, "augmenters": {"synonym": {"ratio": [0.1, 0.3], "copies": [1]}}},
    "student": {"max_augmenters": 1, "augmenters": {"synonym": {"ratio": [0.2, 0.5], "copies": [1, 2]}}},
}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory, mr_rows):
    tmp = tmp_path_factory.mktemp("search")
    train = write_jsonl(tmp / "train.jsonl", mr_rows[:20] + mr_rows[-20:])
    dev = write_jsonl(tmp / "dev.jsonl", mr_rows[300:310] + mr_rows[-310:-300])
    test = write_jsonl(tmp / "test.jsonl", mr_rows[400:410] + mr_rows[-410:-400])
    space = tmp / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    return train, dev, test, space


def search_argv(corpora, teacher, output):
    train, dev, test, space = corpora
    return [
        "search", "--input", str(train), "--eval", str(dev), "--test", str(test), "--teacher", str(teacher),
        "--output", str(output), "--space", str(space), "--roles", "teacher,student", "--teacher-init", str(teacher),
        "--trials", "3", "--teacher-trials", "2", "--min-epochs", "1", "--max-epochs", "2", "--teacher-max-epochs", "2",
        "--final-seeds", "2", "--student", "bilstm:hidden=16,embed_dim=16", "--batch-size", "16",
        "--baseline-augment", "synonym:ratio=0.3,copies=1", "--id-column", "id", "--parallel", "1",
        "--runner=DirectRunner",
    ]  # fmt: skip


def test_search_is_deterministic_resumes_after_a_kill_and_writes_a_recipe_that_materializes(
    corpora, tiny_teacher, tmp_path, monkeypatch, capsys
):
    whole = tmp_path / "whole"
    assert kdaug(search_argv(corpora, tiny_teacher, whole)) == 0
    trials = json.loads((whole / "trials.json").read_text())
    roles = [t["role"] for t in trials]
    assert roles.count("teacher") == 2 + 1 and roles.count("student") == 3 + 1  # all at 1 epoch, the best at 2
    assert [t["epochs"] for t in trials if t["role"] == "student"] == [1, 1, 1, 2]
    assert all(0.0 <= t["reward"] <= 1.0 and t["seconds"] >= 0 for t in trials)
    results = json.loads((whole / "results.json").read_text())
    names = list(results["final"])
    assert names[0] == "no augmentation" and names[1].startswith("fixed recipe: synonym:ratio=0.3,copies=1")
    assert any(n.startswith("searched student policy") for n in names)
    assert any(n.startswith("role-wise: teacher") for n in names)
    assert all(len(s["test_accuracy"]) == 2 for s in results["final"].values())
    claims = [(c["a"].split(":")[0], c["b"].split(":")[0]) for c in results["comparisons"]]
    assert claims[:3] == [
        ("searched student policy", "no augmentation"),
        ("searched student policy", "fixed recipe"),
        ("role-wise", "searched student policy"),
    ]
    assert claims[-1] == ("role-wise", "fixed recipe")
    # The teachers scored on --test after the search: the given one and the searched one.
    assert 0.0 <= results["given_teacher_test_accuracy"] <= 1.0
    searched_teacher = results["teachers"]["searched teacher policy"]
    assert searched_teacher["policy"] == results["best"]["teacher"]["policy"]
    assert 0.0 <= searched_teacher["test_accuracy"] <= 1.0
    final = (whole / "results.md").read_text()
    assert "--teacher (labels the entries without a searched teacher): test" in final
    assert "the student distilled without augmentation (" in final  # the teacher beside the reference student
    for name in ("trials.md", "results.md", "search.png", "best_recipe.yaml"):
        assert (whole / name).is_file()
    printed = capsys.readouterr().out
    assert "paired bootstrap" in printed and "best student policy" in printed

    # Killed after its fifth trial evaluation, then run again: it finishes with the same figures, and the
    # trials it had finished are reused, not run again.
    killed = tmp_path / "killed"
    record = Search.record

    def kill_after_five(self, entry):
        record(self, entry)
        if len(self.records) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(Search, "record", kill_after_five)
    with pytest.raises(KeyboardInterrupt):
        kdaug(search_argv(corpora, tiny_teacher, killed))
    monkeypatch.undo()
    assert len((killed / "trials.jsonl").read_text().splitlines()) == 5
    assert kdaug(search_argv(corpora, tiny_teacher, killed)) == 0
    again = json.loads((killed / "trials.json").read_text())
    strip = lambda ts: [{k: t[k] for k in ("role", "trial", "policy", "epochs", "reward")} for t in ts]  # noqa: E731
    assert strip(again) == strip(trials)
    assert json.loads((killed / "results.json").read_text())["final"] == results["final"]

    # The best recipe is a roles recipe that materialize takes as it is.
    recipe = yaml.safe_load((whole / "best_recipe.yaml").read_text())
    assert set(recipe["roles"]) == {"teacher", "student"}
    out = tmp_path / "from-recipe"
    argv = ["materialize", "--config", str(whole / "best_recipe.yaml"), "--output", str(out), "--runner=DirectRunner"]
    assert kdaug(argv) == 0
    student = json.loads((out / "student" / "manifest.json").read_text())["splits"]["train"]
    assert [a["method"] for a in student["recipe"]["augment"]] == [
        s.split(":")[0] for s in results["best"]["student"]["policy"]
    ]
    assert student["teacher"]["spec"] == recipe["roles"]["student"]["teacher"]
