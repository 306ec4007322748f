import json
import math

import pytest

from kdaug.cli import main as kdaug
from kdaug.core.corpus import ColumnSpec
from kdaug.trainers.checkpoint import TRAINING_REVISION, CheckpointMismatchError
from kdaug.trainers.config import TrainConfig, TrainConfigError
from kdaug.trainers.dataset import open_split, row_passes
from kdaug.trainers.train import scheduled_lr, train
from tests.conftest import reseal, write_jsonl


def config(tiny_dataset, out, **kw):
    data, heldout = tiny_dataset
    base = dict(
        data=str(data),
        student="bilstm:hidden=16,embed_dim=16",
        eval=str(heldout),
        output=str(out),
        epochs=2,
        batch_size=16,
        save_every=3,
        seed=3,
    )
    return TrainConfig(**{**base, **kw})


def test_tiny_end_to_end_distill_writes_metrics_plot_and_best_student(tiny_dataset, tmp_path):
    metrics = train(config(tiny_dataset, tmp_path / "run"), progress=False)
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert all(0.0 <= h["accuracy"] <= 1.0 and h["train_loss"] > 0 for h in metrics["history"])
    assert metrics["best"]["macro_f1"] == max(h["macro_f1"] for h in metrics["history"])
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["best"] == metrics["best"]
    assert (tmp_path / "run" / "training_curve.png").stat().st_size > 1000
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()


def test_resume_after_a_kill_gives_the_same_metrics(tiny_dataset, tmp_path):
    whole = train(config(tiny_dataset, tmp_path / "whole"), progress=False)
    first = train(config(tiny_dataset, tmp_path / "killed", stop_after_steps=7), progress=False)
    assert first["stopped_early"] and first["global_step"] == 7  # killed mid-epoch 1
    resumed = train(config(tiny_dataset, tmp_path / "killed"), progress=False)
    assert resumed["history"] == whole["history"]


def test_a_checkpoint_of_another_run_is_refused_and_restart_trains_from_the_start(tiny_dataset, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    data, _ = tiny_dataset
    copy = tmp_path / "ds"
    shutil.copytree(data, copy)
    killed = config(tiny_dataset, tmp_path / "run", data=str(copy), stop_after_steps=4)
    assert train(killed, progress=False)["stopped_early"]
    with pytest.raises(CheckpointMismatchError, match=r"seed 3 -> 4.*restart=True"):
        train(config(tiny_dataset, tmp_path / "run", data=str(copy), seed=4), progress=False)
    # the same path, other bytes: a re-materialized dataset is told by its content, not its name
    part = sorted((copy / "data").glob("*.parquet"))[0]
    table = pq.read_table(part)
    pq.write_table(table.slice(0, table.num_rows - 1), part)
    reseal(copy)  # as a materialize run of other data would record it
    with pytest.raises(CheckpointMismatchError, match="the training data changed"):
        train(config(tiny_dataset, tmp_path / "run", data=str(copy)), progress=False)
    state_file = tmp_path / "run" / "checkpoint" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    del state["data_sha256"]  # as an older kdaug wrote it: its data cannot be checked, so it is not trusted
    state_file.write_text(json.dumps(state))
    with pytest.raises(CheckpointMismatchError, match="does not record its training data"):
        train(config(tiny_dataset, tmp_path / "run", data=str(copy)), progress=False)
    moved = tmp_path / "moved"  # the same bytes elsewhere are the same data: resumed, not refused
    shutil.copytree(copy, moved)
    train(config(tiny_dataset, tmp_path / "moved_run", data=str(copy), stop_after_steps=2), progress=False)
    assert (
        train(config(tiny_dataset, tmp_path / "moved_run", data=str(moved), stop_after_steps=1), progress=False)[
            "global_step"
        ]
        == 3
    )
    fresh = train(config(tiny_dataset, tmp_path / "fresh", data=str(copy)), progress=False)
    restarted = train(config(tiny_dataset, tmp_path / "run", data=str(copy), restart=True), progress=False)
    assert restarted["history"] == fresh["history"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["history"] == fresh["history"]


def test_mse_on_logits_trains_and_older_checkpoints_resume_with_the_default_loss(tiny_dataset, tmp_path):
    kl = train(config(tiny_dataset, tmp_path / "kl"), progress=False)
    mse = train(config(tiny_dataset, tmp_path / "mse", kd_loss="mse"), progress=False)
    assert mse["config"]["kd_loss"] == "mse" and len(mse["history"]) == 2
    assert [h["train_loss"] for h in mse["history"]] != [h["train_loss"] for h in kl["history"]]
    with pytest.raises(TrainConfigError, match="kd_loss= must be one of kl, mse"):
        config(tiny_dataset, tmp_path / "x", kd_loss="l2")
    # A checkpoint written before kd_loss existed ran KL: it resumes as KL and is refused as MSE.
    assert train(config(tiny_dataset, tmp_path / "old", stop_after_steps=3), progress=False)["stopped_early"]
    state_file = tmp_path / "old" / "checkpoint" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    del state["config"]["kd_loss"]
    state_file.write_text(json.dumps(state))
    with pytest.raises(CheckpointMismatchError, match="kd_loss 'kl' -> 'mse'"):
        train(config(tiny_dataset, tmp_path / "old", kd_loss="mse"), progress=False)
    assert train(config(tiny_dataset, tmp_path / "old"), progress=False)["history"] == kl["history"]


def test_linear_schedule_decays_to_zero_and_a_resumed_run_continues_it(tiny_dataset, tmp_path):
    linear = config(tiny_dataset, tmp_path / "x", lr_schedule="linear")
    assert [scheduled_lr(2e-3, linear, step, 10) for step in (0, 5, 10)] == [2e-3, 1e-3, 0.0]
    assert scheduled_lr(2e-3, config(tiny_dataset, tmp_path / "y"), 9, 10) == 2e-3
    with pytest.raises(TrainConfigError, match="lr_schedule= must be one of constant, linear"):
        config(tiny_dataset, tmp_path / "z", lr_schedule="cosine")
    whole = train(config(tiny_dataset, tmp_path / "whole", lr_schedule="linear"), progress=False)
    constant = train(config(tiny_dataset, tmp_path / "constant"), progress=False)
    assert [h["train_loss"] for h in whole["history"]] != [h["train_loss"] for h in constant["history"]]
    killed = config(tiny_dataset, tmp_path / "killed", lr_schedule="linear", stop_after_steps=5)
    assert train(killed, progress=False)["stopped_early"]
    resumed = train(config(tiny_dataset, tmp_path / "killed", lr_schedule="linear"), progress=False)
    assert resumed["history"] == whole["history"]


def test_a_finetuning_checkpoint_ignores_the_kd_settings_it_never_reads(tiny_dataset, tmp_path):
    ft = dict(objective="finetune", methods=["original"])
    assert train(config(tiny_dataset, tmp_path / "ft", **ft, stop_after_steps=2), progress=False)["stopped_early"]
    # another temperature, alpha or KD loss (a changed default too) is the same fine-tuning run: resumed
    resumed = train(config(tiny_dataset, tmp_path / "ft", **ft, temperature=4.0, alpha=0.9, kd_loss="mse"))
    assert resumed["history"] == train(config(tiny_dataset, tmp_path / "whole", **ft), progress=False)["history"]
    killed = config(tiny_dataset, tmp_path / "kd", stop_after_steps=2)
    assert train(killed, progress=False)["stopped_early"]
    with pytest.raises(CheckpointMismatchError, match="temperature 1.0 -> 4.0"):
        train(config(tiny_dataset, tmp_path / "kd", temperature=4.0), progress=False)


def test_a_run_an_older_kdaug_trained_is_neither_resumed_nor_reused(tiny_dataset, tmp_path):
    from kdaug.runs import train_one

    finished = train(config(tiny_dataset, tmp_path / "run"), progress=False)
    state_file = tmp_path / "run" / "checkpoint" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    assert state["revision"] == TRAINING_REVISION
    del state["revision"]  # as kdaug wrote it before it recorded one: its training may differ from today's
    state_file.write_text(json.dumps(state))
    with pytest.raises(CheckpointMismatchError, match=f"training revision 0 -> {TRAINING_REVISION}"):
        train(config(tiny_dataset, tmp_path / "run"), progress=False)
    again = train_one(config(tiny_dataset, tmp_path / "run"), retrain_mismatched=True)
    assert "training revision" in again["retrained_because"] and again["history"] == finished["history"]
    assert json.loads(state_file.read_text())["revision"] == TRAINING_REVISION


def test_more_epochs_continue_a_finished_run_fewer_are_refused(tiny_dataset, tmp_path):
    two = train(config(tiny_dataset, tmp_path / "two"), progress=False)
    train(config(tiny_dataset, tmp_path / "grown", epochs=1), progress=False)
    grown = train(config(tiny_dataset, tmp_path / "grown", epochs=2), progress=False)
    assert grown["history"] == two["history"] and grown["config"]["epochs"] == 2
    with pytest.raises(CheckpointMismatchError, match="trained 2 epochs, more than epochs=1"):
        train(config(tiny_dataset, tmp_path / "grown", epochs=1), progress=False)


def test_filters_and_finetune(tiny_dataset, tmp_path):
    cfg = config(
        tiny_dataset, tmp_path / "f", min_changed_ratio=0.25, max_teacher_entropy=10.0, methods=["original", "synonym"]
    )
    copy = {"aug_method": "synonym", "label": 1, "changed_ratio": 0.2, "teacher_entropy": 0.1}
    assert not row_passes(copy, cfg) and row_passes({**copy, "changed_ratio": 0.3}, cfg)
    assert row_passes({**copy, "aug_method": "original", "changed_ratio": 0.0}, cfg)
    assert not row_passes({**copy, "changed_ratio": 0.3, "aug_method": "knn"}, cfg)
    ft = config(tiny_dataset, tmp_path / "ft", objective="finetune", augmented=False, epochs=1)
    assert not row_passes({**copy, "changed_ratio": 0.3}, ft)
    metrics = train(ft, progress=False)
    assert metrics["history"][0]["epoch"] == 1


def test_cli_distill_and_clear_errors(tiny_dataset, tmp_path, capsys):
    data, heldout = tiny_dataset
    assert (
        kdaug(
            [
                "distill",
                "--data",
                str(data),
                "--student",
                "bilstm:hidden=8,embed_dim=8",
                "--eval",
                str(heldout),
                "--output",
                str(tmp_path / "o"),
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["best"]["epoch"] == 1
    assert (
        kdaug(
            [
                "distill",
                "--data",
                str(tmp_path),
                "--student",
                "bilstm",
                "--eval",
                str(heldout),
                "--output",
                str(tmp_path / "o2"),
            ]
        )
        == 2
    )
    assert "not a materialized dataset" in capsys.readouterr().err
    assert (
        kdaug(
            [
                "distill",
                "--data",
                str(data),
                "--student",
                "bilstm",
                "--eval",
                str(heldout),
                "--output",
                str(tmp_path / "o3"),
                "--split",
                "test",
            ]
        )
        == 2
    )
    assert "no split 'test'" in capsys.readouterr().err
    other = [
        "distill",
        "--data",
        str(data),
        "--student",
        "bilstm:hidden=8,embed_dim=8",
        "--eval",
        str(heldout),
        "--output",
        str(tmp_path / "o"),
        "--epochs",
        "1",
        "--seed",
        "5",
    ]
    assert kdaug(other) == 2  # --output holds the seed-0 run
    assert "holds a checkpoint of another run (seed 0 -> 5)" in capsys.readouterr().err
    assert kdaug(other + ["--restart"]) == 0
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["config"]["seed"] == 5


def test_finetune_a_teacher_on_a_plain_corpus_then_materialize_with_it(tmp_path, mr_rows, tiny_teacher):
    from kdaug.core.recipe import Recipe
    from kdaug.pipelines.materialize import run

    corpus = write_jsonl(tmp_path / "train.jsonl", mr_rows[:20] + mr_rows[-20:])
    dev = write_jsonl(tmp_path / "dev.jsonl", mr_rows[200:210] + mr_rows[-210:-200])
    metrics = train(
        TrainConfig(
            data=str(corpus),
            student=f"hf:model={tiny_teacher}",
            eval=str(dev),
            output=str(tmp_path / "teacher"),
            objective="finetune",
            epochs=1,
            batch_size=8,
        ),
        progress=False,
    )
    assert metrics["best"]["epoch"] == 1
    manifest = run(
        Recipe(input=str(corpus), output=str(tmp_path / "ds"), teacher=str(tmp_path / "teacher" / "best")),
        ["--runner=DirectRunner"],
        command="pytest",
    )
    split = manifest["splits"]["train"]
    assert split["teacher"]["label_names"] == ["negative", "positive"] and split["rows_written"] == 40
    with pytest.raises(Exception, match="not a materialized dataset"):
        train(
            TrainConfig(data=str(corpus), student="bilstm", eval=str(dev), output=str(tmp_path / "x")), progress=False
        )


def test_sweep_writes_a_table_and_a_plot_naming_the_best_degree(tmp_path, mr_rows, tiny_teacher, capsys):
    corpus = write_jsonl(tmp_path / "train.jsonl", mr_rows[:15] + mr_rows[-15:])
    dev = write_jsonl(tmp_path / "dev.jsonl", mr_rows[300:310] + mr_rows[-310:-300])
    test = write_jsonl(tmp_path / "test.jsonl", mr_rows[400:410] + mr_rows[-410:-400])
    assert (
        kdaug(
            [
                "sweep",
                "--input",
                str(corpus),
                "--eval",
                str(dev),
                "--teacher",
                str(tiny_teacher),
                "--output",
                str(tmp_path / "sw"),
                "--degrees",
                "0.1,0.5",
                "--seeds",
                "2",
                "--copies",
                "1",
                "--epochs",
                "1",
                "--student",
                "bilstm:hidden=8,embed_dim=8",
                "--test",
                str(test),
                "--runner=DirectRunner",
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / "sw" / "results.json").read_text())
    assert all(r["scored_on"] == "test" and len(r["dev_accuracy"]) == 2 for r in results["results"])
    metrics = json.loads((tmp_path / "sw" / "runs" / "synonym-0.1-distill-s0" / "metrics.json").read_text())
    [row] = [r for r in results["results"] if (r["degree"], r["objective"]) == (0.1, "distill")]
    assert row["accuracy"][0] == metrics["test"]["accuracy"] and row["dev_accuracy"][0] == metrics["best"]["accuracy"]
    assert {(r["degree"], r["objective"]) for r in results["results"]} == {
        (0.0, "finetune"),  # the reference without augmentation
        (0.0, "distill"),
        (0.1, "finetune"),
        (0.5, "finetune"),
        (0.1, "distill"),
        (0.5, "distill"),
    }
    assert all(len(r["accuracy"]) == 2 for r in results["results"])
    assert results["best"]["distill"]["synonym"]["all"]["degree"] in (0.1, 0.5)  # never the reference
    # each objective's best degree against no augmentation and the other degree; distill also against finetune
    assert len(results["comparisons"]) == 5
    assert (
        "Best degree for distill with synonym, training size all (chosen on dev)"
        in (tmp_path / "sw" / "results.md").read_text()
    )
    assert "| test accuracy (mean ± std) |" in (tmp_path / "sw" / "results.md").read_text()
    assert (tmp_path / "sw" / "sweep.png").stat().st_size > 1000


def test_train_state_round_trips_and_reads_older_checkpoints():
    from kdaug.trainers.checkpoint import TrainState

    state = TrainState(
        epoch=1,
        step_in_epoch=3,
        global_step=9,
        history=[{"epoch": 1}],
        best={"epoch": 1},
        epoch_losses=[0.5],
        config={"seed": 1},
        data_sha256="ab",
    )
    assert TrainState.from_dict({**state.to_dict(), "param_groups": []}) == state
    older = TrainState.from_dict(
        {"epoch": 2, "step_in_epoch": 0, "global_step": 4, "history": [], "best": None, "config": {}}
    )  # no epoch_losses, no data_sha256
    assert older.epoch_losses == [] and older.data_sha256 is None


def test_eval_labels_the_data_does_not_know_fail_before_training(tiny_dataset, tmp_path, mr_rows):
    data, _ = tiny_dataset
    dev = write_jsonl(tmp_path / "dev.jsonl", mr_rows[200:203] + [{"text": "so-so", "label": "neutral"}] * 2)
    with pytest.raises(
        TrainConfigError,
        match=r"labels the training data does not know: 'neutral' \(2 records, "
        r"e\.g\. dev\.jsonl:4\).*\['negative', 'positive'\]",
    ):
        train(config(tiny_dataset, tmp_path / "run", eval=str(dev)), progress=False)
    assert not (tmp_path / "run").exists()  # before any work


def test_incomplete_or_damaged_datasets_are_refused_by_name(tiny_dataset, tmp_path, capsys):
    import shutil

    data, heldout = tiny_dataset
    partial = tmp_path / "partial"  # data files, but the run never committed a manifest
    shutil.copytree(data / "data", partial / "data")
    args = [
        "distill",
        "--student",
        "bilstm:hidden=8,embed_dim=8",
        "--eval",
        str(heldout),
        "--output",
        str(tmp_path / "o"),
    ]
    assert kdaug([*args, "--data", str(partial)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    truncated = tmp_path / "truncated"
    shutil.copytree(data, truncated)
    part = sorted((truncated / "data").glob("*.parquet"))[0]
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    assert kdaug([*args, "--data", str(truncated)]) == 2
    err = capsys.readouterr().err
    assert f"{part} is not a readable Parquet file" in err and "Traceback" not in err
    assert kdaug([*args, "--data", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _rows(lengths):
    return [{"id": str(i), "text": "x" * n, "text_pair": None} for i, n in enumerate(lengths)]


def test_length_pools_cover_every_row_once_with_less_padding():
    import random

    from kdaug.trainers.dataset import batches

    draw = random.Random(0)
    rows = _rows(draw.randint(1, 200) for _ in range(1000))
    plain = list(batches(iter(rows), 16))
    pooled = list(batches(iter(rows), 16, pool=8, rng=random.Random(1)))
    assert sorted(r["id"] for b in pooled for r in b) == sorted(r["id"] for r in rows)
    assert [len(b) for b in plain] == [16] * 62 + [8]
    assert sorted(len(b) for b in pooled) == sorted(len(b) for b in plain)

    def padded(bs):  # what a batch costs when padded to its longest
        return sum(len(b) * max(len(r["text"]) for r in b) for b in bs)

    assert padded(pooled) < 0.7 * padded(plain)
    # the batches' order is drawn: not sorted by length across the epoch, and the same for the same rng
    first_lengths = [len(b[0]["text"]) for b in pooled[:8]]
    assert first_lengths != sorted(first_lengths)
    assert pooled == list(batches(iter(rows), 16, pool=8, rng=random.Random(1)))
    assert plain == list(batches(iter(rows), 16, pool=1, rng=random.Random(1)))


def test_timing_and_threads_are_recorded(tiny_dataset, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        metrics = train(config(tiny_dataset, tmp_path / "run", epochs=1, torch_threads=1), progress=False)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    timing = metrics["timing"]
    import pyarrow.parquet as pq

    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in (tiny_dataset[0] / "data").glob("*.parquet"))
    assert timing["rows"] == rows
    assert timing["startup_s"] > 0 and timing["train_s"] > 0 and timing["eval_s"] > 0
    assert timing["total_s"] >= timing["startup_s"] + timing["train_s"] + timing["eval_s"]
    assert timing["rows_per_s"] == pytest.approx(rows / timing["train_s"])
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["config"]["torch_threads"] == 1


def test_a_resumed_run_may_change_its_threads_but_not_its_batches(tiny_dataset, tmp_path):
    train(config(tiny_dataset, tmp_path / "run", stop_after_steps=2), progress=False)
    resumed = train(config(tiny_dataset, tmp_path / "run", torch_threads=1), progress=False)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    with pytest.raises(CheckpointMismatchError, match="bucket_pool"):
        train(config(tiny_dataset, tmp_path / "run", bucket_pool=1), progress=False)


def test_progress_and_epoch_figures_reach_the_log_without_a_terminal(tiny_dataset, tmp_path, caplog):
    import logging
    import re

    with caplog.at_level(logging.INFO, logger="kdaug"):
        train(config(tiny_dataset, tmp_path / "run", log_every_s=0.0), progress=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "kdaug"]
    steps = [line for line in lines if re.search(r"epoch \d/2: \d+/\d+ steps \(.* steps/s, loss \d", line)]
    assert len(steps) >= 4 and all(str(tmp_path / "run") in line for line in steps)
    epochs = [line for line in lines if "done: train loss" in line]
    assert len(epochs) == 2 and all(re.search(r"eval accuracy 0\.\d{4}, macro-F1 0\.\d{4}", e) for e in epochs)
    assert "(best so far)" in epochs[0]
    # The step total counts only the rows the filters keep: the last line of an epoch reads N/N.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kdaug"):
        train(config(tiny_dataset, tmp_path / "originals", methods=["original"], log_every_s=0.0), progress=False)
    ends = [re.search(r"epoch 1/2: (\d+)/(\d+) steps", r.getMessage()) for r in caplog.records]
    done, total = [int(x) for x in [m for m in ends if m][-1].groups()]
    originals = sum(r["aug_method"] == "original" for r in open_split(str(tiny_dataset[0])).iter_rows())
    assert done == total == math.ceil(originals / 16)


def test_the_best_epoch_picked_on_eval_is_scored_once_on_test(tiny_dataset, tmp_path, mr_rows):
    from kdaug.trainers.evaluation import evaluate, load_eval
    from kdaug.trainers.students import load_student

    test_file = write_jsonl(tmp_path / "test.jsonl", mr_rows[200:230] + mr_rows[-230:-200])
    cfg = config(tiny_dataset, tmp_path / "run", test=str(test_file))
    metrics = train(cfg, progress=False)
    assert metrics["test"]["epoch"] == metrics["best"]["epoch"]
    best = load_student(tmp_path / "run" / "best")
    expected = evaluate(best, *load_eval(cfg.test, ColumnSpec(), ["negative", "positive"], "test"))
    assert metrics["test"]["accuracy"] == expected["accuracy"] and metrics["test"]["macro_f1"] == expected["macro_f1"]
    scores = {k: metrics["test"][k] for k in ("epoch", "accuracy", "macro_f1")}
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"] == scores
    predictions = json.loads((tmp_path / "run" / "test_predictions.json").read_text())["predictions"]
    assert predictions == metrics["test"]["predictions"] and len(predictions) == len(metrics["test"]["gold"]) == 60
    accuracy = sum(p == g for p, g in zip(predictions, metrics["test"]["gold"])) / 60
    assert accuracy == metrics["test"]["accuracy"]
    assert "test" not in train(config(tiny_dataset, tmp_path / "no_test", epochs=1), progress=False)

    bad = write_jsonl(tmp_path / "bad_test.jsonl", [{"text": "fine", "label": "maybe"}])
    with pytest.raises(TrainConfigError, match="test=.* has labels the training data does not know"):
        train(config(tiny_dataset, tmp_path / "bad", test=str(bad)), progress=False)
    assert not (tmp_path / "bad" / "checkpoint").exists()  # refused before any training


def test_a_gold_only_student_builds_its_vocabulary_from_the_gold_rows_alone(tiny_dataset, tmp_path):
    from kdaug.trainers.students import words

    rows = list(open_split(str(tiny_dataset[0])).iter_rows())
    gold = {w.lower() for r in rows if r["aug_method"] == "original" for w in words(r["text"])}
    copies_only = {w.lower() for r in rows if r["aug_method"] != "original" for w in words(r["text"])} - gold
    assert copies_only  # the synonym copies bring words of their own

    def vocabulary(run, **kw):
        train(config(tiny_dataset, tmp_path / run, epochs=1, **kw), progress=False)
        return set((tmp_path / run / "best" / "vocab.txt").read_text(encoding="utf-8").split())

    assert vocabulary("gold", methods=["original"]) == gold | {"[PAD]", "[UNK]", "[SEP]"}
    assert copies_only <= vocabulary("all")
