import json

import numpy as np
import pytest
import torch

from kdaug.cli import main as kdaug
from kdaug.trainers.export import FP32_TOLERANCE, export_onnx
from kdaug.trainers.inference import load_model
from kdaug.trainers.students import load_student

# Not the export's own probes: lengths and words it has not checked on, and a batch padded to the longest.
TEXTS = [
    "what a bore",
    "an odd , tender little film that earns every one of its laughs and most of its tears",
    "the plot is thin , the dialogue thinner , and the ending makes no sense whatsoever",
    "brilliant",
]


@pytest.mark.parametrize("kind", ["bilstm", "bert", "bert_from_teacher", "hf"])
def test_every_student_kind_exports_to_onnx_and_runs_as_in_pytorch(tmp_path, tiny_students, kind):
    manifest = export_onnx(tiny_students[kind], tmp_path / "onnx")
    assert manifest["kind"] == kind and manifest["label_names"] == ["negative", "positive"]
    assert manifest["inputs"][:2] == ["input_ids", "attention_mask"] and manifest["opset"] == 17
    assert manifest["check"]["fp32"]["max_abs_logit_difference"] <= FP32_TOLERANCE
    saved = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert saved["source_sha256"] and saved["onnx_bytes"] == (tmp_path / "onnx" / "model.onnx").stat().st_size
    student = load_student(tiny_students[kind]).eval()
    with torch.inference_mode():
        expected = student(student.encode(TEXTS)).numpy()
    exported = load_model(tmp_path / "onnx", batch_size=3)  # ONNX Runtime; batches of 3 and 1: dynamic axes
    assert exported.kind == f"onnx {kind}"
    np.testing.assert_allclose(exported.logits(TEXTS), expected, atol=FP32_TOLERANCE)
    assert not (tmp_path / ".onnx.partial").exists()


@pytest.mark.parametrize("kind", ["bilstm", "hf"])
def test_int8_export_is_smaller_and_stays_near_the_fp32_model(tmp_path, tiny_students, kind):
    fp32 = export_onnx(tiny_students[kind], tmp_path / "fp32")
    int8 = export_onnx(tiny_students[kind], tmp_path / "int8", int8=True)
    assert int8["int8"] and int8["onnx_bytes"] < fp32["onnx_bytes"]
    check = int8["check"]["int8"]
    assert 0 < check["max_abs_logit_difference"] < 0.05  # quantized: close, not equal
    a, b = load_model(tmp_path / "fp32").logits(TEXTS), load_model(tmp_path / "int8").logits(TEXTS)
    assert np.abs(a - b).max() < 0.05 and load_model(tmp_path / "int8").kind == f"onnx int8 {kind}"


def test_a_teacher_and_a_pair_model_export_with_their_token_types(tmp_path, tiny_pair_teacher):
    manifest = export_onnx(tiny_pair_teacher, tmp_path / "t")
    assert manifest["kind"] == "teacher" and manifest["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    teacher, exported = load_model(tiny_pair_teacher, device="cpu"), load_model(tmp_path / "t")
    pairs = ["nobody is here", "a man sleeps", "it rains", "the sun is out"]
    np.testing.assert_allclose(exported.logits(TEXTS, pairs), teacher.logits(TEXTS, pairs), atol=1e-4)


def test_a_transformer_student_is_a_directory_transformers_pipelines_load(tiny_students):
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(tiny_students["hf"]), device="cpu")
    got = [r["label"] for r in classify(TEXTS)]
    assert got == load_model(tiny_students["hf"], device="cpu").predict(TEXTS)


def test_the_export_command_says_how_it_checked_and_refuses_a_foreign_output(tmp_path, tiny_students, capsys):
    out = tmp_path / "served"
    assert kdaug(["export", "--model", str(tiny_students["bilstm"]), "--output", str(out), "--int8"]) == 0
    said = capsys.readouterr().out
    assert "int8: largest logit difference" in said and "model.onnx" in said
    assert kdaug(["export", "--model", str(tiny_students["bilstm"]), "--output", str(out)]) == 0  # replaced
    assert not json.loads((out / "export.json").read_text())["int8"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    for argv, says in (
        (["--model", str(tiny_students["bilstm"]), "--output", str(tmp_path / "notes")], "is not an export"),
        (["--model", str(tmp_path / "runs" / "none" / "best"), "--output", str(tmp_path / "x")], "does not exist"),
    ):
        assert kdaug(["export", *argv]) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
