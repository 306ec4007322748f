"""The sweep's and the comparison's shared parts: subsets, datasets materialized once, and the sweep over
degree x training-set size on tiny data."""

import json
from collections import Counter

import pytest

from kdaug.cli import main as kdaug
from kdaug.experiments import stratified_subset
from tests.conftest import RUNNER, write_jsonl


def test_subsets_are_nested_label_balanced_and_stable(tmp_path, mr_rows):
    corpus = write_jsonl(tmp_path / "train.jsonl", mr_rows[:70] + mr_rows[-30:])  # 70% positive
    small = stratified_subset(str(corpus), tmp_path / "s10.jsonl", 10, "id")
    large = stratified_subset(str(corpus), tmp_path / "s40.jsonl", 40, "id")
    rows_small = [json.loads(line) for line in small.read_text().splitlines()]
    rows_large = [json.loads(line) for line in large.read_text().splitlines()]
    assert len(rows_small) == 10 and len(rows_large) == 40
    assert Counter(r["label"] for r in rows_small) == Counter({"positive": 7, "negative": 3})  # the corpus's shares
    assert Counter(r["label"] for r in rows_large) == Counter({"positive": 28, "negative": 12})
    assert {r["id"] for r in rows_small} <= {r["id"] for r in rows_large}
    again = stratified_subset(str(corpus), tmp_path / "again.jsonl", 10, "id")
    assert again.read_text() == small.read_text()
    with pytest.raises(Exception, match="subset of 500 records"):
        stratified_subset(str(corpus), tmp_path / "big.jsonl", 500, "id")


def test_sweep_over_degree_and_size_reports_test_and_resumes(tmp_path, mr_rows, tiny_teacher, capsys):
    train = write_jsonl(tmp_path / "train.jsonl", mr_rows[:30] + mr_rows[-30:])
    dev = write_jsonl(tmp_path / "dev.jsonl", mr_rows[100:115] + mr_rows[-115:-100])
    test = write_jsonl(tmp_path / "test.jsonl", mr_rows[200:212] + mr_rows[-212:-200])
    out = tmp_path / "sweep"
    argv = [
        "sweep", "--input", str(train), "--eval", str(dev), "--test", str(test), "--teacher", str(tiny_teacher),
        "--output", str(out), "--degrees", "0.3", "--sizes", "20,60", "--seeds", "2", "--copies", "1",
        "--student", "bilstm:hidden=8,embed_dim=8", "--epochs", "1", "--min-steps", "6", "--batch-size", "16",
        "--id-column", "id", "--parallel", "1", *RUNNER,
    ]  # fmt: skip
    assert kdaug(argv) == 0
    saved = json.loads((out / "results.json").read_text())
    keys = {(r["method"], r["degree"], r["size"], r["objective"]) for r in saved["results"]}
    assert keys == {
        (m, d, n, o) for m, d in (("none", 0.0), ("synonym", 0.3)) for n in (20, 60) for o in ("finetune", "distill")
    }
    for r in saved["results"]:
        assert r["scored_on"] == "test" and len(r["accuracy"]) == 2
        # at least 6 batches of 16: 20 originals -> 5 epochs; 20 + 20 copies -> 3; 60 + 60 -> 1 (the floor)
        rows = r["size"] * (1 if r["degree"] == 0 else 2)
        assert r["epochs"] == max(1, -(-6 * 16 // rows))
    # per objective and size: the best degree against no augmentation; with distill also against finetune
    assert sorted(c["b"] for c in saved["comparisons"]) == sorted(
        [f"{o} without augmentation n={n}" for o in ("distill", "finetune") for n in (20, 60)]
        + [f"finetune synonym 0.3 n={n}" for n in (20, 60)]
    )
    assert all(c["examples"] == 24 for c in saved["comparisons"])
    assert (out / "sweep.png").stat().st_size > 0 and "training size 20" in (out / "results.md").read_text()
    first = capsys.readouterr().out

    # Run again: every dataset reused (no new manifest), every run resumed finished: the same table.
    manifests = {p: p.stat().st_mtime_ns for p in out.glob("datasets/*/manifest.json")}
    assert len(manifests) == 4
    assert kdaug(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("datasets/*/manifest.json")} == manifests
    assert json.loads((out / "results.json").read_text())["results"] == saved["results"]
    assert capsys.readouterr().out.split("\n\n", 1)[-1] == first.split("\n\n", 1)[-1]


def test_a_sweep_with_bad_degrees_or_objectives_fails_before_any_work(tmp_path, capsys):
    base = ["sweep", "--input", "i.jsonl", "--eval", "e.jsonl", "--teacher", "t", "--output", str(tmp_path / "s")]
    assert kdaug([*base, "--degrees", "0.3,lots"]) == 2
    assert "kdaug sweep: error: --degrees and --sizes take comma-separated numbers" in capsys.readouterr().err
    assert kdaug([*base, "--objectives", "distill,pretrain"]) == 2
    assert "--objectives takes finetune and/or distill" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_the_teacher_is_set_beside_its_students_and_a_teacher_with_no_lead_is_said_plainly():
    from kdaug.experiments import teacher_headroom

    ahead = teacher_headroom(0.828, [0.760, 0.770, 0.766])
    assert ahead.startswith("The teacher (82.8 test accuracy) leads") and "6.3 points" in ahead
    # the new user's case: teacher 74.4, gold-only student 73.4 -> not clearly better
    level = teacher_headroom(0.744, [0.730, 0.738, 0.734])
    assert level.startswith("Note: the teacher (74.4 test accuracy) is not clearly better") and "73.4" in level
    # a lead within twice the students' spread over seeds is not a clear one either
    assert teacher_headroom(0.80, [0.76, 0.79, 0.73]).startswith("Note:")
