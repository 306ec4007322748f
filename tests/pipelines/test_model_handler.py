import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import RunInference
from apache_beam.testing.util import assert_that

from pipelines.model_handler import TeacherModelHandler
from tests.kdaug_core.test_teacher import direct_logits


def test_run_inference_adds_float32_logits_in_order(tiny_teacher):
    handler = TeacherModelHandler(str(tiny_teacher), device="cpu", token_budget=64)
    model = handler.load_model()
    assert model.device == "cpu"
    rows = [{"id": str(i), "text": t, "text_pair": None} for i, t in
            enumerate(["a long sentence about a film that is long", "short", "medium size text"])]
    out = handler.run_inference(rows, model)
    assert [r["id"] for r in out] == ["0", "1", "2"]
    np.testing.assert_allclose([r["teacher_logits"] for r in out], direct_logits(tiny_teacher, [r["text"] for r in rows]),
                               atol=1e-5)
    assert all(isinstance(v, float) for r in out for v in r["teacher_logits"])
    assert all(r["teacher_pred"] == int(np.argmax(r["teacher_logits"])) and r["teacher_entropy"] > 0 for r in out)
    assert handler.get_num_bytes(rows) == sum(len(r["text"]) for r in rows)


def test_mixed_single_and_pair_rows_keep_their_order(tiny_teacher):
    handler = TeacherModelHandler(str(tiny_teacher), device="cpu")
    model = handler.load_model()
    rows = [{"id": "p", "text": "a man sleeps", "text_pair": "someone rests"},
            {"id": "s", "text": "a single text", "text_pair": None}]
    out = handler.run_inference(rows, model)
    assert [r["id"] for r in out] == ["p", "s"]
    np.testing.assert_allclose(out[0]["teacher_logits"],
                               direct_logits(tiny_teacher, ["a man sleeps"], ["someone rests"])[0], atol=1e-5)


def test_inside_beam_run_inference(tiny_teacher):
    texts = [f"review number {i} " + "good " * (i % 7) for i in range(40)]
    expected = {t: e for t, e in zip(texts, direct_logits(tiny_teacher, texts))}

    def check(rows):
        assert len(rows) == 40
        for r in rows:
            np.testing.assert_allclose(r["teacher_logits"], expected[r["text"]], atol=1e-5)

    with beam.Pipeline(runner="DirectRunner") as p:
        out = (p | beam.Create([{"id": str(i), "text": t, "text_pair": None} for i, t in enumerate(texts)])
               | RunInference(TeacherModelHandler(str(tiny_teacher), device="cpu", max_batch_size=16)))
        assert_that(out, check)
