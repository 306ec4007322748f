"""`kdaug compare` on tiny data: the leaderboard, its comparisons, the entries that depend on the first
round (mix, AugPro-FGSM's second round), filters by percentile, bad grids, and resuming a killed run."""

import json

import pytest

from kdaug.cli import main as kdaug
from tests.conftest import RUNNER, write_jsonl

GRID = """
- name: no augmentation
  augment: []
- name: synonym x1
  augment: ["synonym:ratio=0.3,copies=1"]
- name: augpro_mix x1
  augment: ["augpro_mix:copies=1"]
  objectives: [distill]
- name: augpro_fgsm x1
  augment: ["augpro_fgsm:copies=1"]
  objectives: [distill]
- name: synonym x1, KL <= median
  augment: ["synonym:ratio=0.3,copies=1"]
  objectives: [distill]
  train: {max_teacher_kl_to_source: q50}
"""


@pytest.fixture
def corpora(tmp_path, mr_rows):
    train = write_jsonl(tmp_path / "train.jsonl", mr_rows[:20] + mr_rows[-20:])
    dev = write_jsonl(tmp_path / "dev.jsonl", mr_rows[100:110] + mr_rows[-110:-100])
    test = write_jsonl(tmp_path / "test.jsonl", mr_rows[200:212] + mr_rows[-212:-200])
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    return train, dev, test, grid


def argv_for(corpora, tiny_teacher, out, *extra):
    train, dev, test, grid = corpora
    return [
        "compare", "--input", str(train), "--eval", str(dev), "--test", str(test), "--teacher", str(tiny_teacher),
        "--output", str(out), "--grid", str(grid), "--seeds", "2", "--epochs", "1", "--batch-size", "16",
        "--student", "bilstm:hidden=8,embed_dim=8", "--id-column", "id", "--parallel", "1", *extra, *RUNNER,
    ]  # fmt: skip


def test_compare_writes_a_leaderboard_with_paired_tests_mix_and_second_round(
    corpora, tiny_teacher, tmp_path, capsys, caplog
):
    out = tmp_path / "cmp"
    argv = argv_for(corpora, tiny_teacher, out, "--fgsm-reference-student", "bert_from_teacher:layers=1")
    with caplog.at_level("WARNING", logger="kdaug"):
        assert kdaug(argv) == 0
    # its datasets are the experiment's own, not ones to publish: no licence reminder for each of them
    assert not [r for r in caplog.records if "no --license given" in r.getMessage()]  # a command: flags
    saved = json.loads((out / "results.json").read_text())
    got = {(r["name"], r["objective"]) for r in saved["results"]}
    singles = {("synonym x1", "distill"), ("augpro_mix x1", "distill"), ("augpro_fgsm x1", "distill")}
    assert {("no augmentation", "finetune"), ("no augmentation", "distill"), ("synonym x1", "finetune")} | singles < got
    # The mix: the two best distinct single augmenters by dev accuracy (never test), in one dataset.
    (mix,) = [r for r in saved["results"] if r["name"].startswith("mix: ")]
    dev = {r["name"]: sum(r["dev_accuracy"]) for r in saved["results"] if (r["name"], r["objective"]) in singles}
    assert set(mix["name"][5:].split(" + ")) == set(sorted(dev, key=lambda n: -dev[n])[:2])
    assert len(mix["augment"]) == 2 and len(mix["dataset"]["rows_per_method"]) == 3
    # AugPro-FGSM's second round: its reference is the student distilled on the first round's dataset.
    (second,) = [r for r in saved["results"] if "second round" in r["name"]]
    assert f"reference={out / 'reference-student' / 'best'}" in second["augment"][0]
    assert (out / "reference-student" / "best" / "model.safetensors").is_file()
    # The filter at the median keeps about half the copies: its threshold is that percentile, recorded.
    (kl,) = [r for r in saved["results"] if r["name"] == "synonym x1, KL <= median"]
    assert 0 < kl["train"]["max_teacher_kl_to_source"] < 1
    for r in saved["results"]:
        assert len(r["test_accuracy"]) == 2 and all(0 <= a <= 1 for a in r["test_accuracy"] + r["dev_accuracy"])
    # the teacher scored on test, and each entry's share of its gap to the gold-labels-only student
    assert 0 <= saved["teacher"]["test_accuracy"] <= 1
    gold = [r for r in saved["results"] if (r["name"], r["objective"]) == ("no augmentation", "finetune")][0]
    gap = saved["teacher"]["test_accuracy"] - sum(gold["test_accuracy"]) / 2
    for r in saved["results"]:
        expected = (sum(r["test_accuracy"]) / 2 - sum(gold["test_accuracy"]) / 2) / gap if gap > 0 else None
        assert r["gap_closed"] == pytest.approx(expected) if gap > 0 else r["gap_closed"] is None
    scores = [sum(r["test_accuracy"]) for r in saved["results"]]
    assert scores == sorted(scores, reverse=True)  # best first
    pairs = {(c["a"], c["b"]) for c in saved["comparisons"]}
    assert ("synonym x1 (finetune)", "no augmentation (finetune)") in pairs
    assert ("synonym x1 (distill)", "no augmentation (distill)") in pairs
    assert ("synonym x1 (distill)", "no augmentation (finetune)") in pairs  # every KD entry vs gold labels only
    # The papers' claims: KD vs fine-tuning on the same copies; AugPro vs the dev-best token replacement (KD).
    assert ("synonym x1 (distill)", "synonym x1 (finetune)") in pairs
    token = [
        r
        for r in saved["results"]
        if r["objective"] == "distill" and r["augment"] and not r["train"]
        and all(a.split(":")[0] in ("synonym", "knn") for a in r["augment"])
    ]  # fmt: skip
    best = max(token, key=lambda r: sum(r["dev_accuracy"]))["name"]
    augpro = [r["name"] for r in saved["results"] if r["augment"] and r["augment"][0].startswith("augpro")]
    assert len(augpro) >= 3 and all((f"{a} (distill)", f"{best} (distill)") in pairs for a in augpro)
    assert all(c["examples"] == 24 and c["seeds"] == [2, 2] for c in saved["comparisons"])
    text = (out / "results.md").read_text()
    assert text.count("paired bootstrap over 24 test examples") == len(saved["comparisons"])
    assert saved["teacher"]["headroom"] in text
    assert (
        "not clearly better than the gold-labels-only student" in text or "leads the gold-labels-only student" in text
    )
    assert (out / "compare.png").stat().st_size > 0
    assert "| 1 |" in capsys.readouterr().out


def test_a_killed_comparison_resumes_where_it_stopped(corpora, tiny_teacher, tmp_path, monkeypatch):
    from kdaug import runs

    fresh = tmp_path / "fresh"
    assert kdaug(argv_for(corpora, tiny_teacher, fresh, "--mix", "0")) == 0

    out = tmp_path / "killed"
    real, calls = runs.train, []

    def killed_on_the_fourth(cfg, progress=None):
        calls.append(cfg.output)
        if len(calls) == 4:
            raise KeyboardInterrupt  # as a kill would, in the middle of the trainings
        return real(cfg, progress=progress)

    monkeypatch.setattr(runs, "train", killed_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        kdaug(argv_for(corpora, tiny_teacher, out, "--mix", "0"))
    monkeypatch.setattr(runs, "train", real)
    assert not (out / "results.json").exists()
    manifests = {p: p.stat().st_mtime_ns for p in out.glob("datasets/*/manifest.json")}
    assert len(manifests) == 4  # every dataset was made before the first training
    finished = [p.parent for p in out.glob("runs/*/metrics.json")]
    assert len(finished) == 3
    # a finished run's weights and checkpoint: a rerun that trained it again would write them again
    written = {f: f.stat().st_mtime_ns for run in finished for f in run.glob("*/*") if f.parent.name != "runs"}
    assert any(f.name == "model.safetensors" for f in written)

    assert kdaug(argv_for(corpora, tiny_teacher, out, "--mix", "0")) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("datasets/*/manifest.json")} == manifests  # reused
    assert {f: f.stat().st_mtime_ns for f in written} == written  # not trained again
    resumed, uninterrupted = (json.loads((d / "results.json").read_text()) for d in (out, fresh))
    strip = lambda rs: [{k: v for k, v in r.items() if k != "dataset"} for r in rs]  # noqa: E731
    assert strip(resumed["results"]) == strip(uninterrupted["results"])


def test_a_bad_grid_fails_before_any_work(corpora, tiny_teacher, tmp_path, capsys):
    out = tmp_path / "bad"
    grid = corpora[3]
    for text, says in [
        ("- name: a\n  augment: [synonym]\n  train: {epochz: 3}\n", "are not training options"),
        ("- name: a\n  augment: [synonm]\n", "unknown augmenter 'synonm'"),
        ("name: a\n", "expected a YAML list"),
    ]:
        grid.write_text(text)
        assert kdaug(argv_for(corpora, tiny_teacher, out)) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err
        assert not (out / "datasets").exists()


def test_the_built_in_grid_covers_every_augmenter_and_entries_can_be_chosen():
    from kdaug.compare import parser
    from kdaug.compare_grid import load_grid

    base = ["--input", "i", "--eval", "e", "--test", "t", "--teacher", "m", "--output", "o"]
    grid = load_grid(parser().parse_args(base + ["--mlm", "some/mlm"]))
    methods = {spec.split(":")[0] for e in grid for spec in e.augment}
    assert methods == {"synonym", "knn", "mlm", "augpro_mix", "augpro_fgsm"}
    assert grid[0].name == "no augmentation" and grid[0].objectives == ["distill", "finetune"]
    assert all(e.objectives == ["distill"] for e in grid if e.augment[:1] and "augpro" in e.augment[0])
    assert "mlm:model=some/mlm,ratio=0.3,copies=4" in [s for e in grid for s in e.augment]
    skipped = load_grid(parser().parse_args(base + ["--skip", "synonym 0.3 x16", "--objectives", "finetune"]))
    assert "synonym 0.3 x16" not in {e.name for e in skipped}
    assert all(e.objectives == ["finetune"] for e in skipped)  # KD-only entries dropped with distill
    only = load_grid(parser().parse_args(base + ["--only", "augpro_fgsm x4"]))
    assert [e.name for e in only] == ["no augmentation", "augpro_fgsm x4"]
    with pytest.raises(Exception, match="no entry named"):
        load_grid(parser().parse_args(base + ["--skip", "synonym x99"]))
