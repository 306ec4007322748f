import json

import pytest

from kdaug.cli import main as kdaug


@pytest.mark.real_assets
def test_demo_story_runs_on_real_minilm_and_mr(tmp_path, capsys):
    """A smoke-sized run of the README's demo: real MiniLM teacher fine-tuned, Beam materialize, students."""
    out = tmp_path / "demo"
    assert kdaug(["demo", "--output", str(out), "--limit", "60", "--seeds", "1", "--runner=DirectRunner"]) == 0
    printed = capsys.readouterr().out
    assert "student, KD + augmentation" in printed and "| teacher |" in printed and "test accuracy" in printed
    # Before any work, what it will do and roughly what it costs.
    plan = printed.split("\n[")[0]
    assert plan.startswith("kdaug demo: fine-tune a MiniLM teacher (1 epoch(s) on 60 MR sentences)")
    assert "3 BiLSTM students" in plan and "Roughly a minute" in plan and "2 cores" in plan
    saved = json.loads((out / "results.json").read_text())
    results = saved["models"]
    assert set(results) == {"teacher", "student, gold labels only", "student, KD", "student, KD + augmentation"}
    assert all(0.0 <= v <= 1.0 for r in results.values() for v in r["test_accuracy"] + r["dev_accuracy"])
    assert [(c["a"], c["b"]) for c in saved["comparisons"]][0] == ("student, KD + augmentation", "student, KD")
    assert all(c["low"] <= c["difference"] <= c["high"] and c["examples"] == 500 for c in saved["comparisons"])
    assert printed.count("paired bootstrap over 500 test examples") == 3
    teacher_above_gold = (
        results["teacher"]["test_accuracy"][0] > results["student, gold labels only"]["test_accuracy"][0]
    )
    assert ("of the test-accuracy gap between the gold-labels-only student" in printed) == teacher_above_gold
    # the teacher beside the gold-only student: its lead, or plainly that it has none to speak of
    assert "The teacher (" in printed or "Note: the teacher (" in printed
    manifest = json.loads((out / "dataset" / "manifest.json").read_text())
    split = manifest["splits"]["train"]
    assert split["records_read"] == 60 and split["reconciles"]
    assert split["teacher"]["label_names"] == ["negative", "positive"]
    first_ratio = split["mean_changed_ratio"]["synonym"]
    assert 0.1 <= first_ratio <= 0.31  # checked in context, fill=fitting: at most the ratio asked
    # The demo's dataset is publishable as written: it verifies, has its report, and a dry run shows the upload.
    assert (out / "dataset" / "report.html").is_file() and (out / "dataset" / "croissant.json").is_file()
    assert (
        "source_datasets:\n- extended|cornell-movie-review-data/rotten_tomatoes"
        in (out / "dataset" / "README.md").read_text()
    )
    assert kdaug(["verify", str(out / "dataset")]) == 0
    assert kdaug(["publish", str(out / "dataset"), "--repo-id", "me/mr-kd", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "report.html" in printed and "nothing was uploaded" in printed

    # Again with another ratio into the same --output: the teacher's run is resumed as it is, while the
    # students, whose dataset changed, are trained again rather than resumed from the 0.3 dataset's runs.
    argv = ["demo", "--output", str(out), "--limit", "60", "--seeds", "1", "--runner=DirectRunner"]
    assert kdaug(argv + ["--augment", "synonym:ratio=0.5,copies=4"]) == 0
    printed = capsys.readouterr().out
    again = [line for line in printed.splitlines() if "trained it again" in line]
    assert len(again) == 3 and all("students" in line and "the training data changed" in line for line in again)
    split = json.loads((out / "dataset" / "manifest.json").read_text())["splits"]["train"]
    assert first_ratio < split["mean_changed_ratio"]["synonym"] <= 0.51

    # The same command once more: the completed dataset and students are reused, nothing is redone.
    created = split["created"]
    assert kdaug(argv + ["--augment", "synonym:ratio=0.5,copies=4"]) == 0
    assert "trained it again" not in capsys.readouterr().out
    assert json.loads((out / "dataset" / "manifest.json").read_text())["splits"]["train"]["created"] == created

    # Low-precision students beside the float ones: the same teacher and dataset, their own runs and results.
    float_results = (out / "results.md").read_text()
    assert kdaug(argv + ["--augment", "synonym:ratio=0.5,copies=4", "--quantize", "2"]) == 0
    assert "weights quantized to 2 bits" in capsys.readouterr().out
    assert (out / "results.md").read_text() == float_results and (out / "results-q2.md").is_file()
    saved = json.loads((out / "students-q2" / "distill-0-s0" / "best" / "kdaug_student.json").read_text())
    assert saved["quantize"] == {"bits": 2, "activations": False}


def test_demo_rejects_a_bad_augmentation_before_any_work(tmp_path, capsys):
    assert kdaug(["demo", "--output", str(tmp_path / "demo"), "--augment", "synonym:ratio=2"]) == 2
    assert "kdaug demo: error:" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()
