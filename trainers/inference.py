"""A trained model run on new text: a kdaug student of any kind (a directory `kdaug distill` or `finetune`
wrote) or any transformers sequence classifier (a teacher: a local directory or a hub id).

    model = load_model("runs/bilstm-kd/best")
    model.predict(["a gripping, funny film"])        # ['positive']
    model.predict_proba(["a gripping, funny film"])  # [[0.04, 0.96]], columns in model.label_names

Students run in batches of `batch_size` under inference mode; a teacher runs through the labelling path
materialize uses (length-sorted batches under a token budget), so it gives the logits a dataset records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdaug.core.corpus import ColumnSpec, SourceExample
from kdaug.core.logits import probabilities_of_logits
from kdaug.core.models import ModelError
from kdaug.trainers.students import MARKER, Student, load_student

# logits [n, labels] of texts and their pairs (None: single texts), calling on_batch(n) after each batch
Run = Callable[[Sequence[str], Sequence[str | None] | None, Callable[[int], None] | None], np.ndarray]


@dataclass
class Model:
    """A classifier ready to run: its kind ("teacher" or the student's kind), class names by index, and
    how to get its logits."""

    source: str
    kind: str
    label_names: list[str]
    max_length: int
    run: Run

    def logits(
        self,
        texts: Sequence[str],
        pairs: Sequence[str | None] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """float32 logits [len(texts), len(label_names)], in the texts' order."""
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not one string")
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"{len(pairs)} pairs for {len(texts)} texts")
        if not texts:
            return np.zeros((0, len(self.label_names)), np.float32)
        return self.run(list(texts), list(pairs) if pairs is not None else None, on_batch)

    def predict_proba(self, texts: Sequence[str], pairs: Sequence[str | None] | None = None) -> np.ndarray:
        """Class probabilities [len(texts), len(label_names)]."""
        return probabilities_of_logits(self.logits(texts, pairs))

    def predict(self, texts: Sequence[str], pairs: Sequence[str | None] | None = None) -> list[str]:
        """The predicted class name of each text."""
        return [self.label_names[i] for i in self.logits(texts, pairs).argmax(axis=1)]


def load_model(source: str | Path, device: str = "auto", batch_size: int = 64, precision: str = "fp32") -> Model:
    """A student directory (it has kdaug_student.json), a `kdaug export` directory (export.json: run with
    ONNX Runtime on the CPU) or a transformers classifier (directory or hub id), on `device` (auto: a GPU
    where there is one). A directory that is none of them fails here, naming what it holds."""
    path = Path(source).expanduser()
    if path.is_dir() and (path / MARKER).is_file():
        return _student(path, device, batch_size)
    if path.is_dir() and (path / "export.json").is_file():
        return _onnx(path, batch_size)
    if path.is_dir() and not (path / "config.json").is_file():
        held = sorted(p.name for p in path.iterdir())[:8]
        raise ModelError(
            f"model {str(source)!r} is neither a kdaug student (no {MARKER}), an export (no export.json) nor a "
            f"transformers model (no config.json); it holds {held}. Pass a run's best/ directory, an export or a "
            f"teacher's directory"
        )
    return _teacher(str(source), device, batch_size, precision)


def _student(path: Path, device: str, batch_size: int) -> Model:
    from kdaug.core.models import pick_device

    device = pick_device(device)
    try:
        student = load_student(path).to(device).eval()
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"student {str(path)!r} cannot be loaded: {type(err).__name__}: {err}") from None
    return student_model(student, str(path), device, batch_size)


def student_model(student: Student, source: str, device: str = "cpu", batch_size: int = 64) -> Model:
    """A loaded student (or a teacher held as one, trainers.export.as_student) as a Model."""
    import torch

    id2label = {int(k): v for k, v in student.config["id2label"].items()}

    def run(texts, pairs, on_batch):
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                part_pairs = pairs[i : i + batch_size] if pairs is not None else None
                batch = {k: v.to(device) for k, v in student.encode(texts[i : i + batch_size], part_pairs).items()}
                out.append(student(batch).float().cpu().numpy())
                if on_batch:
                    on_batch(len(out[-1]))
        return np.concatenate(out)

    names = [id2label[i] for i in range(len(id2label))]
    return Model(source, student.kind, names, int(student.config.get("max_length", 128)), run)


def _onnx(path: Path, batch_size: int) -> Model:
    """An export of `kdaug export`, run with ONNX Runtime on the CPU; its texts tokenized as the student's."""
    import onnxruntime as ort

    manifest = json.loads((path / "export.json").read_text(encoding="utf-8"))
    max_length = int(manifest["max_length"])
    if manifest["kind"] == "bilstm":
        from kdaug.trainers.students import WordTokenizer

        words = WordTokenizer.load(path, max_length)

        def encode(texts, pairs):
            return {k: v.numpy() for k, v in words.encode(texts, pairs).items()}
    else:
        from kdaug.core.models import load_tokenizer
        from kdaug.trainers.students import encode_with

        tokenizer = load_tokenizer(path)

        def encode(texts, pairs):
            return encode_with(tokenizer, texts, pairs, max_length, tensors="np")

    session = ort.InferenceSession(str(path / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(texts, pairs, on_batch):
        out = []
        for i in range(0, len(texts), batch_size):
            batch = encode(texts[i : i + batch_size], pairs[i : i + batch_size] if pairs is not None else None)
            out.append(session.run(["logits"], {n: batch[n].astype(np.int64) for n in names})[0])
            if on_batch:
                on_batch(len(out[-1]))
        return np.concatenate(out)

    kind = f"onnx {'int8 ' if manifest.get('int8') else ''}{manifest['kind']}"
    return Model(str(path), kind, list(manifest["label_names"]), max_length, run)


def _teacher(spec: str, device: str, batch_size: int, precision: str) -> Model:
    from kdaug.core.teacher import TeacherSettings

    teacher = TeacherSettings(spec=spec, device=device, max_batch_size=batch_size, precision=precision).load()
    info = teacher.info

    def run(texts, pairs, on_batch):
        if pairs is not None and any(p is None for p in pairs):
            raise ValueError("some texts have a pair and some do not: run them apart")
        return teacher.label(texts, pairs, on_batch=on_batch).logits

    names = [info.id2label[i] for i in range(info.num_labels)]
    return Model(spec, "teacher", names, info.max_length, run)


def read_unlabelled(path: str, columns: ColumnSpec, what: str) -> tuple[list[SourceExample], list[str]]:
    """The records of a corpus to run a model on (any format materialize reads), checked first: a missing
    column, or a file with no readable record, fails naming `what` (e.g. "--input 'new.csv'"). Returns the
    usable records and a message per record left out (no text, unreadable)."""
    from kdaug.core.corpus import BadRecord, CorpusError, check_columns, plan_read_units, read_unit, validate_record

    units = plan_read_units(path)
    check_columns(units, columns, what)
    examples, skipped = [], []
    for unit in units:
        for rec in read_unit(unit):
            try:
                examples.append(validate_record(rec, columns, None))
            except BadRecord as err:
                skipped.append(f"{rec.position}: {err}")
    if not examples:
        raise CorpusError(f"{what} has no usable record ({skipped[0] if skipped else 'it is empty'})")
    return examples, skipped
