import math
import os

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import RunInference
from apache_beam.testing.util import assert_that

from kdaug.core.augment import parse_augment_spec
from kdaug.core.teacher import TeacherSettings
from kdaug.pipelines.model_handler import TeacherModelHandler
from kdaug.pipelines.transforms import AugmentChunkFn
from tests.kdaug_core.test_teacher import direct_logits


def _row(i, text, source=None, pair=None):
    return {
        "id": str(i),
        "source_id": str(source if source is not None else i),
        "text": text,
        "text_pair": pair,
        "aug_method": "original" if source is None else "synonym",
    }


def test_run_inference_labels_a_chunk_in_order_with_kl_to_source(tiny_teacher):
    handler = TeacherModelHandler(TeacherSettings(str(tiny_teacher), device="cpu", token_budget=64))
    model = handler.load_model()
    assert model.device == "cpu" and model.precision == "fp32" and model.attention == "sdpa"
    rows = [
        _row(0, "a long sentence about a film that is long"),
        _row("0/s.0", "a long sentence about a movie", 0),
        _row(1, "short"),
        _row("1/s.0", "brief", 1),
    ]
    [(key, out)] = handler.run_inference([("00000-00000", rows)], model)
    assert key == "00000-00000" and not out.failed
    assert [r["id"] for r in out.rows] == ["0", "0/s.0", "1", "1/s.0"]
    logits = np.stack([r["teacher_logits"] for r in out.rows])
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, direct_logits(tiny_teacher, [r["text"] for r in rows]), atol=1e-5)
    assert all(r["teacher_pred"] == int(np.argmax(r["teacher_logits"])) and r["teacher_entropy"] > 0 for r in out.rows)
    assert out.rows[0]["teacher_kl_to_source"] is None and out.rows[2]["teacher_kl_to_source"] is None
    for copy, source in ((out.rows[1], out.rows[0]), (out.rows[3], out.rows[2])):
        p = [math.exp(v) for v in copy["teacher_logits"]]
        q = [math.exp(v) for v in source["teacher_logits"]]
        p, q = [v / sum(p) for v in p], [v / sum(q) for v in q]
        by_hand = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
        assert copy["teacher_kl_to_source"] == __import__("pytest").approx(by_hand, rel=1e-4, abs=1e-7)
    assert handler.get_num_bytes([("k", rows)]) == sum(len(r["text"]) for r in rows)


def test_mixed_single_and_pair_rows_keep_their_order(tiny_teacher):
    handler = TeacherModelHandler(TeacherSettings(str(tiny_teacher), device="cpu"))
    model = handler.load_model()
    rows = [_row("p", "a man sleeps", pair="someone rests"), _row("s", "a single text")]
    [(_, out)] = handler.run_inference([("k", rows)], model)
    assert [r["id"] for r in out.rows] == ["p", "s"]
    np.testing.assert_allclose(
        out.rows[0]["teacher_logits"], direct_logits(tiny_teacher, ["a man sleeps"], ["someone rests"])[0], atol=1e-5
    )


def test_torch_threads_split_between_worker_processes(tiny_teacher, monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))  # the cores this process is given
    monkeypatch.setenv("RAYON_NUM_THREADS", "")
    monkeypatch.delenv("RAYON_NUM_THREADS")  # (restored after the test, whatever the code sets)
    try:
        TeacherModelHandler(TeacherSettings(str(tiny_teacher), device="cpu"), processes_per_machine=4).load_model()
        assert torch.get_num_threads() == 2
        assert os.environ["RAYON_NUM_THREADS"] == "2"  # the tokenizer's thread pool gets the same share
        TeacherModelHandler(
            TeacherSettings(str(tiny_teacher), device="cpu"), processes_per_machine=0
        ).load_model()  # one per core
        assert torch.get_num_threads() == 1
        TeacherModelHandler(TeacherSettings(str(tiny_teacher), device="cpu"), torch_threads=1).load_model()
        assert torch.get_num_threads() == 1
        # augmentation workers (kNN, masked LM, AugPro use torch) split the cores the same way
        AugmentChunkFn([parse_augment_spec("knn")], seed=0, batch_size=8, processes_per_machine=2).setup()
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)


def test_model_copies_ask_beam_to_share_the_model_across_processes(tiny_teacher):
    assert not TeacherModelHandler(TeacherSettings(str(tiny_teacher))).share_model_across_processes()
    shared = TeacherModelHandler(TeacherSettings(str(tiny_teacher)), model_copies=2)
    assert shared.share_model_across_processes() and shared.model_copies() == 2


def test_inside_beam_run_inference(tiny_teacher):
    texts = [f"review number {i} " + "good " * (i % 7) for i in range(40)]
    expected = dict(zip(texts, direct_logits(tiny_teacher, texts)))

    def check(results):
        assert sorted(k for k, _ in results) == ["a", "b"]
        rows = [r for _, labelled in results for r in labelled.rows]
        assert len(rows) == 40
        for r in rows:
            np.testing.assert_allclose(r["teacher_logits"], expected[r["text"]], atol=1e-5)

    chunks = [
        ("a", [_row(i, t) for i, t in enumerate(texts[:25])]),
        ("b", [_row(i, t) for i, t in enumerate(texts[25:])]),
    ]
    with beam.Pipeline(runner="DirectRunner") as p:
        out = (
            p
            | beam.Create(chunks)
            | beam.Map(lambda c: [c])
            | RunInference(
                TeacherModelHandler(
                    TeacherSettings(str(tiny_teacher), device="cpu", max_batch_size=16)
                ).with_no_batching()
            )
        )
        assert_that(out, check)


def test_the_cores_a_process_is_given_are_its_affinity_not_the_machines(monkeypatch):
    from kdaug.core.threads import available_cores

    monkeypatch.setattr("os.cpu_count", lambda: 64)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 3})  # e.g. taskset -c 0,3
    assert available_cores() == 2


def test_augmentation_logs_its_progress_per_augmenter(caplog):
    from kdaug.core.corpus.records import SourceExample
    from kdaug.pipelines.transforms import ChunkLog

    fn = AugmentChunkFn([parse_augment_spec("synonym:ratio=0.3,copies=2")], seed=0, batch_size=2, log_every_s=0.0)
    fn.setup()
    sources = [SourceExample(str(i), f"a good film with a fine story number {i}", None, 1, f"0:{i}") for i in range(5)]
    with caplog.at_level("INFO", logger="kdaug"):
        [(chunk_log, rows)] = list(fn.process((ChunkLog("00000-00000", "f"), sources)))
    fn.teardown()
    made = sum(r["aug_method"] != "original" for r in rows)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("augmenting synonym.0")]
    assert made > 0 and lines, caplog.text
    # One line per batch of 2 (log_every_s=0): positions 2, 4, 5; the last one counts every copy made.
    assert lines[-1].startswith("augmenting synonym.0: 5 sources") and f"copies {made}" in lines[-1]


def test_labelling_checks_the_workers_headroom_after_every_forward_pass(tiny_teacher, monkeypatch):
    handler = TeacherModelHandler(TeacherSettings(str(tiny_teacher), device="cpu", token_budget=16))
    model = handler.load_model()
    calls = []
    monkeypatch.setattr(handler.memory, "begin", lambda: calls.append("begin"))
    monkeypatch.setattr(handler.memory, "check", lambda: calls.append("check"))
    rows = [_row(i, f"sentence number {i} about a film") for i in range(6)]
    passes = sum(len(list(model.batches([r["text"] for r in chunk]))) for chunk in (rows[:3], rows[3:]))
    handler.run_inference([("a", rows[:3]), ("b", rows[3:])], model)
    assert passes > 2 and calls.count("begin") == 2 and calls.count("check") == passes
    assert calls[0] == "begin" and calls.index("begin", 1) > 1  # a new floor for each chunk
