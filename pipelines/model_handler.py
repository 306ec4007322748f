"""RunInference model handler for any transformers sequence-classification teacher.

Beam's stock PyTorch/HF handlers stack equal-shaped tensors (so users pad everything to 128) and pick the
device on the machine that builds the pipeline. This handler takes rows with text, tokenizes with dynamic
padding, sorts each batch by length and packs it under a token budget (kdaug_core.teacher), picks the
GPU in load_model (on the worker), and returns the rows with float32 logits added.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

from apache_beam.ml.inference.base import ModelHandler

from kdaug_core.progress import Progress
from kdaug_core.teacher import Teacher


class TeacherModelHandler(ModelHandler[dict, dict, Teacher]):
    def __init__(self, teacher: str, *, device: str = "auto", max_length: int | None = None,
                 trust_remote_code: bool = False, token_budget: int = 16384,
                 min_batch_size: int = 1, max_batch_size: int = 256, **kwargs: Any):
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size, **kwargs)
        self._teacher_spec = teacher
        self._device = device
        self._max_length = max_length
        self._trust_remote_code = trust_remote_code
        self._token_budget = token_budget
        self._max_forward_batch = max_batch_size

    def load_model(self) -> Teacher:
        # Runs on the worker: the device is chosen where the model runs, not where the job was built.
        return Teacher(self._teacher_spec, device=self._device, max_length=self._max_length,
                       token_budget=self._token_budget, max_batch_size=self._max_forward_batch,
                       trust_remote_code=self._trust_remote_code).load()

    def run_inference(self, batch: Sequence[dict], model: Teacher,
                      inference_args: Optional[dict[str, Any]] = None) -> Iterable[dict]:
        if getattr(self, "_progress", None) is None:  # one per worker process
            self._progress = Progress("teacher labelling")
        out = []
        # A batch may mix single texts and pairs only across corpora; label each kind on its own.
        for has_pair in (False, True):
            idx = [i for i, r in enumerate(batch) if (r.get("text_pair") is not None) == has_pair]
            if not idx:
                continue
            rows = [batch[i] for i in idx]
            labels = model.label([r["text"] for r in rows], [r["text_pair"] for r in rows] if has_pair else None)
            pred, entropy = labels.pred, labels.entropy
            for j, r in enumerate(rows):
                out.append((idx[j], {**r,
                                     "teacher_logits": labels.logits[j].tolist(),
                                     "teacher_pred": int(pred[j]),
                                     "teacher_entropy": float(entropy[j]),
                                     "truncated": bool(labels.truncated[j])}))
        self._progress.update(len(batch))
        return [row for _, row in sorted(out, key=lambda t: t[0])]

    def get_num_bytes(self, batch: Sequence[dict]) -> int:
        return sum(len(r["text"]) + len(r.get("text_pair") or "") for r in batch)

    def get_metrics_namespace(self) -> str:
        return "kdaug_teacher"
