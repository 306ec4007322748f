"""A student (or a teacher) exported for serving: an ONNX graph with dynamic batch and sequence axes, the
tokenizer files beside it, and export.json (labels, max length, opset, inputs, the source weights'
sha256, how the export was checked).

    OUT/model.onnx     the graph: inputs input_ids, attention_mask (and token_type_ids for BERT-like
                       models), int64 [batch, sequence]; output logits, float32 [batch, labels]
    OUT/export.json    what a server needs to feed it and read it
    OUT/tokenizer.json, ... (transformers) or OUT/vocab.txt (BiLSTM: kdaug's lower-cased words,
                       id 0 padding, 1 unknown, 2 between the two sentences of a pair)

Every export is run with ONNX Runtime on probe sentences against the PyTorch model before it is kept:
an fp32 graph whose logits differ by more than FP32_TOLERANCE is refused. `int8=True` quantizes the
graph's weights to int8 (ONNX Runtime's dynamic quantization: MatMul, Gemm, LSTM; activations are
quantized per batch at run time); its logit difference and agreement on the probes are recorded. The
directory is written beside OUT and renamed into place, so a killed export leaves no half model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

from kdaug.core.models import ModelError, weights_sha256
from kdaug.trainers.quantize import bake, packed_bytes
from kdaug.trainers.students import MARKER, Student, TransformersStudent, load_student

EXPORT_MANIFEST = "export.json"
ONNX_FILE = "model.onnx"
OPSET = 17
FP32_TOLERANCE = 1e-4  # largest |logit difference| of an fp32 export against PyTorch on the probes
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
PROBES = [
    "a gripping, funny and moving film",
    "dull, lifeless and far too long",
    "the acting is fine but the story goes nowhere",
    "ok",
    "one of the best films of the year, with a cast that makes every scene worth watching twice",
    "I expected more",
]


LOW_BIT_NOTE = {
    8: "int8 weights (ONNX Runtime's dynamic quantization, per channel: the student's own grid)",
    4: "float32 weights on the 4-bit grid: ONNX Runtime has no 4-bit kernel for every op here (its MatMulNBits "
    "takes 4-bit MatMul weights); packed_bytes is the size a 4-bit runtime would hold",
    2: "float32 weights on the ternary grid: no common runtime serves 2-bit weights on a CPU; packed_bytes is "
    "the size at 2 bits a weight (ternary kernels would hold)",
}


class ExportError(ModelError):
    """A model cannot be exported as asked; the message says why."""


class _Logits(torch.nn.Module):
    """The student as the graph's function: named int64 inputs -> logits."""

    def __init__(self, student: Student, names: list[str]):
        super().__init__()
        self.student, self.names = student, names

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return self.student({n: given[n] for n in self.names})


def as_student(source: str | Path) -> Student:
    """A student directory as it loads, or a teacher (a transformers classifier) held the same way."""
    path = Path(source)
    if (path / MARKER).is_file():
        return load_student(path)
    from transformers import AutoModelForSequenceClassification

    from kdaug.core.models import load_pretrained, load_tokenizer, local_model_dir
    from kdaug.core.teacher import resolve_teacher

    info = resolve_teacher(str(source))
    local = local_model_dir(str(source), "model")
    model = load_pretrained(AutoModelForSequenceClassification, local)
    config = {"max_length": info.max_length, "id2label": {str(k): v for k, v in info.id2label.items()}}
    return TransformersStudent("teacher", config, model, load_tokenizer(local))


def export_onnx(source: str | Path, output: str | Path, int8: bool = False, opset: int = OPSET) -> dict:
    """Exports `source` (a student or teacher directory) to `output`; returns export.json's content."""
    student = as_student(source).eval()
    quantized = student.config.get("quantize")
    low_bit = None
    if quantized:  # a quantization-aware student: its quantized weights, as plain weights
        bits = int(quantized["bits"])
        low_bit = {**quantized, "packed_bytes": packed_bytes(student.model, bits), "served_as": LOW_BIT_NOTE[bits]}
        bake(student.model)
        int8 = int8 or bits == 8  # its weights are on an int8 grid already: stored as int8, nothing lost
    out = Path(output)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    sample = student.encode(PROBES[:2])
    names = [n for n in INPUTS if n in sample]
    graph = staging / ONNX_FILE
    # The TorchScript exporter (dynamo=False): the dynamo exporter cannot trace the BiLSTM's packed
    # sequences; this one maps them onto ONNX's LSTM with sequence lengths, and exports the transformers
    # students alike, so every kind goes one way.
    with warnings.catch_warnings():
        # The tracer warns of Python branches it fixes (transformers' "is_causal" with a mask given: an
        # encoder's, never causal) and of negative gather indices (none here); the check below is the test.
        warnings.simplefilter("ignore")
        _trace(student, names, sample, graph, opset)
    fp32_check = check_export(student, graph, names)
    if fp32_check["max_abs_logit_difference"] > FP32_TOLERANCE:
        shutil.rmtree(staging)
        raise ExportError(
            f"the ONNX export of {str(source)!r} gives logits {fp32_check['max_abs_logit_difference']:.2e} away "
            f"from PyTorch's on the probe sentences (tolerance {FP32_TOLERANCE}); not kept"
        )
    checks: dict[str, dict] = {"fp32": fp32_check}
    manifest = {
        "format": "onnx",
        "kind": student.kind,
        "label_names": [student.config["id2label"][str(i)] for i in range(len(student.config["id2label"]))],
        "max_length": int(student.config.get("max_length", 128)),
        "inputs": names,
        "output": "logits",
        "opset": opset,
        "int8": int8,
        "source": str(source),
        "source_sha256": weights_sha256(Path(source)) if Path(source).is_dir() else None,
        "check": checks,
        "quantization_aware": low_bit,
        "tokenizer": _save_tokenizer(student, staging),
        "versions": {"torch": torch.__version__, "onnxruntime": _ort_version()},
    }
    if int8:
        checks["int8"] = _quantize(student, graph, names)
    manifest["onnx_bytes"] = graph.stat().st_size
    manifest["onnx_sha256"] = hashlib.sha256(graph.read_bytes()).hexdigest()
    (staging / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return manifest


def _trace(student: Student, names: list[str], sample: dict, graph: Path, opset: int) -> None:
    torch.onnx.export(
        _Logits(student, names).eval(),
        tuple(sample[n] for n in names),
        str(graph),
        input_names=names,
        output_names=["logits"],
        dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "logits": {0: "batch"}},
        opset_version=opset,
        dynamo=False,
    )


def _save_tokenizer(student: Student, directory: Path) -> str:
    if student.kind == "bilstm":
        student.tokenizer.save(directory)
        return "vocab.txt: kdaug's lower-cased words; id 0 padding, 1 unknown, 2 between the sentences of a pair"
    student.tokenizer.save_pretrained(directory)
    return "transformers tokenizer files (AutoTokenizer.from_pretrained(OUT))"


def _quantize(student: Student, graph: Path, names: list[str]) -> dict:
    """Replaces the graph by its dynamic int8 quantization; returns how far it moved from PyTorch."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = graph.with_name("model.int8.onnx")
    # Per channel, symmetric: the grid of an 8-bit quantization-aware student exactly.
    quantize_dynamic(str(graph), str(quantized), weight_type=QuantType.QInt8, per_channel=True)
    quantized.replace(graph)
    return check_export(student, graph, names)


def check_export(student: Student, graph: Path, names: list[str]) -> dict:
    """The graph under ONNX Runtime against the PyTorch model on PROBES (one batch, padded, and one by one):
    the largest logit difference and the share of probes whose predicted class agrees."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    worst, agree, total = 0.0, 0, 0
    for texts in [PROBES] + [[t] for t in PROBES]:
        batch = student.encode(texts)
        with torch.inference_mode():
            expected = student(batch).float().numpy()
        got = session.run(["logits"], {n: batch[n].numpy().astype(np.int64) for n in names})[0]
        worst = max(worst, float(np.abs(got - expected).max()))
        agree += int((got.argmax(1) == expected.argmax(1)).sum())
        total += len(texts)
    return {"max_abs_logit_difference": worst, "prediction_agreement": agree / total, "probes": total}


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
