"""RunInference model handler for any transformers sequence-classification teacher.

Beam's stock PyTorch/HF handlers stack equal-shaped tensors (so users pad everything to 128) and batch by
timing. This handler takes whole chunks of rows (a chunk's composition is fixed by the data, so every
runner labels the same batches and writes the same logits) and hands them to kdaug_core: length-sorted,
token-budget-packed, dynamically padded sub-batches, prefetched and autocast on a GPU. The device is
picked in load_model, on the worker; the model is loaded once per worker process (Beam shares it across
the process's threads), or `model_copies` times per machine when asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from apache_beam.ml.inference.base import ModelHandler

from kdaug.core.labelling import LabelledRows, add_kl_to_source, label_rows
from kdaug.core.progress import Progress
from kdaug.core.teacher import Teacher, TeacherSettings
from kdaug.core.threads import set_torch_threads
from kdaug.pipelines.worker import HeadroomGuard, keep_long_lived_out_of_gc

Chunk = tuple  # (chunk key, [row dicts])


class TeacherModelHandler(ModelHandler[Chunk, tuple, Teacher]):
    """Runs a teacher (TeacherSettings) on chunks of rows. `model_copies` N: Beam loads N copies per
    machine, shared by its worker processes (Beam's own `model_copies` argument); None: one per process."""

    def __init__(
        self,
        settings: TeacherSettings,
        *,
        torch_threads: int | None = None,
        processes_per_machine: int = 1,
        model_copies: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(model_copies=model_copies, **kwargs)
        self.settings = settings
        self.torch_threads, self.processes_per_machine = torch_threads, processes_per_machine
        self.progress: Progress | None = None  # one per worker process, made on its first chunk
        self.memory = HeadroomGuard()  # a worker's peak within a chunk (kdaug.pipelines.worker)

    def load_model(self) -> Teacher:
        # Runs on the worker: the device is chosen where the model runs, not where the job was built.
        set_torch_threads(self.processes_per_machine, self.torch_threads)
        teacher = self.settings.load()
        keep_long_lived_out_of_gc()
        return teacher

    def run_inference(
        self, batch: Sequence[Chunk], model: Teacher, inference_args: dict[str, Any] | None = None
    ) -> Iterable[tuple[str, LabelledRows]]:
        if self.progress is None:
            self.progress = Progress("teacher labelling")
        progress, memory = self.progress, self.memory

        def after_forward(rows: int) -> None:
            progress.update(rows)  # a line per forward pass, not per chunk
            memory.check()

        out = []
        for key, rows in batch:
            memory.begin()
            labelled = label_rows(model, rows, after_forward)
            add_kl_to_source(labelled.rows)
            out.append((key, labelled))
        return out

    def get_num_bytes(self, batch: Sequence[Chunk]) -> int:
        return sum(len(r["text"]) + len(r.get("text_pair") or "") for _, rows in batch for r in rows)

    def get_metrics_namespace(self) -> str:
        return "kdaug_teacher"
