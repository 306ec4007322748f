"""Training a student from a materialized dataset: distillation (`kdaug distill`) or fine-tuning on gold
labels (`kdaug finetune`), driven by a TrainConfig of plain values (config.py). The loop reads top to
bottom: setup, then each epoch (its batches, an evaluation, a checkpoint), then the finish (the best
epoch scored on the test set).

The dataset streams from Parquet through a seeded shuffle buffer (never loaded whole); batches are cut from
pools of the shuffled stream sorted by length, so a batch pads little (dataset.py). Each epoch ends with an
evaluation on a held-out labelled corpus (accuracy, macro-F1; evaluation.py); the best student is kept. A
checkpoint (student weights, optimizer state, torch RNG state, position in the epoch's stream; all
safetensors or JSON, nothing pickled; checkpoint.py) is written every `save_every` steps, so a killed run
resumes exactly where it stopped and ends with the same metrics as one that was never interrupted.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from kdaug.core.corpus import ColumnSpec
from kdaug.core.flags import option
from kdaug.core.progress import Progress
from kdaug.core.threads import set_torch_threads
from kdaug.trainers.checkpoint import (
    CheckpointMismatchError,
    TrainState,
    checkpoint_mismatch,
    load_checkpoint,
    save_checkpoint,
)
from kdaug.trainers.config import TrainConfig, TrainConfigError
from kdaug.trainers.dataset import epoch_batches, open_split, open_training_data, trained_rows
from kdaug.trainers.evaluation import EvalSet, eval_columns, evaluate, load_eval
from kdaug.trainers.losses import ce_loss, kd_loss
from kdaug.trainers.students import Student, StudentSpec, build_student, load_student

log = logging.getLogger("kdaug")
T = TypeVar("T")


@dataclass
class Timing:
    """Where this run's time went (seconds; a resumed run counts its own): start-up (reading and
    fingerprinting the data, the eval set, building or loading the student), the training steps (with
    the data's streaming), evaluation, and checkpoints with metrics and plots."""

    startup_s: float = 0.0
    train_s: float = 0.0
    eval_s: float = 0.0
    checkpoint_s: float = 0.0
    rows: int = 0  # rows trained in this run
    started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Adds the time the `with` block takes to the phase `name` (train_s, eval_s, checkpoint_s)."""
        tick = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, name, getattr(self, name) + time.perf_counter() - tick)

    def timed(self, items: Iterable[T], name: str) -> Iterator[T]:
        """`items`, each one's production (reading, shuffling, batching the data) timed as phase `name`."""
        it = iter(items)
        while True:
            with self.phase(name):
                item = next(it, _END)
            if item is _END:
                return
            yield item  # type: ignore[misc]

    def to_dict(self) -> dict:
        spent = {k: v for k, v in asdict(self).items() if k != "started"}
        rate = self.rows / self.train_s if self.train_s else None
        return {**spent, "total_s": time.perf_counter() - self.started, "rows_per_s": rate}


_END = object()


@dataclass
class Run:
    """What a run holds while it trains."""

    cfg: TrainConfig  # with the held-out sets' columns resolved
    split: Any  # the training data (dataset.MaterializedSplit or CorpusSplit)
    eval_set: EvalSet  # (texts, pairs, gold) of --eval
    test_set: EvalSet | None  # the same of --test
    student: Student
    optimizer: torch.optim.Optimizer
    state: TrainState
    base_lr: float
    steps_per_epoch: int
    timing: Timing
    steps_this_run: int = 0

    @property
    def out(self) -> Path:
        return Path(self.cfg.output)

    @property
    def checkpoint(self) -> Path:
        return self.out / "checkpoint"


def train(cfg: TrainConfig, progress: bool | None = None) -> dict:
    """Trains (or resumes) the run `cfg` describes; returns its metrics. `progress`: a bar (None: on a
    terminal only); without one, progress lines go to the log every `log_every_s`, and every epoch's
    figures always do."""
    run = setup(cfg)
    for epoch in range(run.state.epoch, run.cfg.epochs):
        if not train_epoch(run, epoch, progress):
            return {"stopped_early": True, **run.state.to_dict(), "timing": run.timing.to_dict()}
        end_epoch(run, epoch)
    return finish(run)


def setup(cfg: TrainConfig) -> Run:
    """Opens the data and the held-out sets, checks a checkpoint in the output directory belongs to this
    run (or clears it on `restart`), and builds the student, or loads it with its optimizer to resume."""
    timing = Timing()
    set_torch_threads(threads=cfg.torch_threads)
    out = Path(cfg.output)
    if cfg.objective == "distill":  # needs teacher logits: a materialized dataset only
        split = open_split(cfg.data, cfg.split)
    else:
        columns = ColumnSpec(cfg.text_column, cfg.text_pair_column, cfg.label_column)
        split = open_training_data(cfg.data, cfg.split, columns, cfg.labels)
    if cfg.max_teacher_kl_to_source is not None and not split.has_column("teacher_kl_to_source"):
        raise TrainConfigError(
            f"{option('max_teacher_kl_to_source')} needs teacher_kl_to_source, which {cfg.data!r} does not "
            f"have (kdaug schema v2+; re-materialize it)"
        )
    label_names = split.label_names
    columns = eval_columns(cfg, split)
    # The resolved columns are the run's settings (a checkpoint records what was read, not "the default").
    cfg = replace(
        cfg, eval_text_column=columns.text, eval_text_pair_column=columns.text_pair, eval_label_column=columns.label
    )
    eval_set = load_eval(cfg.eval, columns, label_names)
    test_set = load_eval(cfg.test, columns, label_names, "test") if cfg.test else None
    spec = StudentSpec.parse(cfg.student)
    ckpt = out / "checkpoint"
    data_sha256 = split.fingerprint()
    if cfg.restart:
        for stale in (ckpt, out / "best"):
            shutil.rmtree(stale, ignore_errors=True)
    elif (ckpt / "trainer_state.json").is_file():
        saved = TrainState.from_dict(json.loads((ckpt / "trainer_state.json").read_text()))
        why = checkpoint_mismatch(saved, cfg, data_sha256)
        if why:
            raise CheckpointMismatchError(out, why)
    resuming = (ckpt / "trainer_state.json").is_file()
    torch.manual_seed(cfg.seed)
    if resuming:
        student, rows_per_epoch = load_student(ckpt / "student"), sum(1 for _ in trained_rows(split, cfg))
    else:
        student, rows_per_epoch = new_student(split, cfg, spec)
    student.to(cfg.device).train()
    base_lr = cfg.lr or spec.learning_rate
    optimizer = torch.optim.AdamW(student.parameters(), lr=base_lr)
    state = load_checkpoint(ckpt, optimizer) if resuming else TrainState()
    state.config, state.data_sha256 = asdict(cfg), data_sha256  # this run's: a resumed run may add epochs
    timing.startup_s = time.perf_counter() - timing.started
    steps = math.ceil(rows_per_epoch / cfg.batch_size)
    return Run(cfg, split, eval_set, test_set, student, optimizer, state, base_lr, steps, timing)


def train_epoch(run: Run, epoch: int, progress: bool | None) -> bool:
    """Trains the epoch's batches (skipping those a resumed run trained before), checkpointing every
    `save_every` steps; False where `stop_after_steps` ended the run early."""
    cfg, state, timing = run.cfg, run.state, run.timing
    bar = Progress(
        f"{cfg.output}: epoch {epoch + 1}/{cfg.epochs}",
        "steps",
        total=run.steps_per_epoch,
        initial=state.step_in_epoch,
        bar=progress,
        log_every_s=cfg.log_every_s,
    )
    run_steps = run.steps_per_epoch * cfg.epochs
    for step, rows in enumerate(timing.timed(epoch_batches(run.split, cfg, epoch), "train_s")):
        if step < state.step_in_epoch:
            continue  # resuming: these batches were trained before the interruption
        with timing.phase("train_s"):
            set_lr(run.optimizer, scheduled_lr(run.base_lr, cfg, state.global_step, run_steps))
            state.epoch_losses.append(_step(run.student, run.optimizer, rows, cfg))
            state.step_in_epoch, state.global_step, state.epoch = step + 1, state.global_step + 1, epoch
            bar.update(1, loss=f"{state.epoch_losses[-1]:.4f}")
            run.steps_this_run += 1
            timing.rows += len(rows)
        stop = cfg.stop_after_steps is not None and run.steps_this_run >= cfg.stop_after_steps
        if state.global_step % cfg.save_every == 0 or stop:
            with timing.phase("checkpoint_s"):
                save_checkpoint(run.checkpoint, run.student, run.optimizer, state)
        if stop:
            bar.close()
            return False
    bar.close()
    return True


def end_epoch(run: Run, epoch: int) -> None:
    """Scores the epoch on --eval, keeps the student if it is the best so far, and checkpoints."""
    cfg, state = run.cfg, run.state
    with run.timing.phase("eval_s"):
        metrics = evaluate(run.student, *run.eval_set)
    with run.timing.phase("checkpoint_s"):
        losses = state.epoch_losses
        entry = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else None, **metrics}
        state.history.append(entry)
        improved = state.best is None or metrics["macro_f1"] > state.best["macro_f1"]
        log.info(
            "%s: epoch %d/%d done: train loss %s, eval accuracy %.4f, macro-F1 %.4f%s",
            cfg.output,
            epoch + 1,
            cfg.epochs,
            "n/a" if entry["train_loss"] is None else f"{entry['train_loss']:.4f}",
            metrics["accuracy"],
            metrics["macro_f1"],
            " (best so far)" if improved else "",
        )
        if improved:
            state.best = entry
            run.student.save(run.out / "best")
        state.epoch, state.step_in_epoch, state.epoch_losses = epoch + 1, 0, []
        save_checkpoint(run.checkpoint, run.student, run.optimizer, state)
        _write_metrics(run.out, state, run.timing)


def finish(run: Run) -> dict:
    """The run's metrics; with --test, the best epoch (picked on eval) scored once on it. metrics.json keeps
    the scores; the predictions go to test_predictions.json and, with the gold labels, into what train()
    returns (for paired comparisons)."""
    out, state = run.out, run.state
    if run.test_set is None or state.best is None:
        return _write_metrics(out, state, run.timing)
    scored = evaluate(load_student(out / "best").to(run.cfg.device), *run.test_set, predictions=True)
    predictions = scored.pop("predictions")
    (out / "test_predictions.json").write_text(json.dumps({"predictions": predictions}) + "\n")
    test = {"epoch": state.best["epoch"], **scored}
    log.info(
        "%s: test accuracy %.4f, macro-F1 %.4f (epoch %d)",
        run.cfg.output,
        scored["accuracy"],
        scored["macro_f1"],
        test["epoch"],
    )
    metrics = _write_metrics(out, state, run.timing, test)
    return {**metrics, "test": {**test, "predictions": predictions, "gold": run.test_set[2]}}


def new_student(split, cfg: TrainConfig, spec: StudentSpec) -> tuple[Student, int]:
    """A fresh student for this run and the number of rows an epoch trains on. A BiLSTM's vocabulary
    comes from the rows the run trains on, not the whole split: a gold-only run on an augmented
    dataset gets the vocabulary it would get from the gold data alone, so baselines do not borrow
    words from the copies they are compared against."""
    rows = 0

    def texts() -> Iterator[str]:
        nonlocal rows
        for row in trained_rows(split, cfg):
            rows += 1
            yield from (t for t in (row["text"], row["text_pair"]) if t)

    words = texts()
    quantize = {"bits": cfg.quantize, "activations": cfg.quantize_activations} if cfg.quantize else None
    student = build_student(spec, dict(enumerate(split.label_names)), split.teacher, words, cfg.max_length, quantize)
    for _ in words:  # a student without a vocabulary of its own reads no text: finish the count
        pass
    return student, rows


def scheduled_lr(base_lr: float, cfg: TrainConfig, step: int, run_steps: int) -> float:
    """The learning rate of step `step` (0-based) of a run of `run_steps`: a function of the step alone, so
    a resumed run continues the same schedule."""
    if cfg.lr_schedule == "linear":
        return base_lr * max(0.0, 1.0 - step / max(run_steps, 1))
    return base_lr


def set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _step(student: Student, optimizer, rows: list[dict], cfg: TrainConfig) -> float:
    batch = {
        k: v.to(cfg.device)
        for k, v in student.encode([r["text"] for r in rows], [r["text_pair"] for r in rows]).items()
    }
    logits = student(batch)
    original = torch.tensor([r["aug_method"] == "original" for r in rows], device=cfg.device)
    labels = torch.tensor([r["label"] if r["label"] is not None else -1 for r in rows], device=cfg.device)
    weights = torch.where(original, 1.0, cfg.aug_weight).to(cfg.device)
    if cfg.objective == "distill":
        teacher = torch.tensor([r["teacher_logits"] for r in rows], device=cfg.device)
        gold = original & (labels >= 0)
        loss = kd_loss(logits, teacher, labels, gold, weights, cfg.temperature, cfg.alpha, cfg.kd_loss)
    else:
        loss = ce_loss(logits, labels, weights)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
    optimizer.step()
    return loss.item()


def _write_metrics(out: Path, state: TrainState, timing: Timing, test: dict | None = None) -> dict:
    metrics = {"history": state.history, "best": state.best, "config": state.config, "timing": timing.to_dict()}
    if test is not None:
        metrics["test"] = test  # the best epoch's scores on --test
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_curve(state.history, out / "training_curve.png")
    return metrics


def plot_curve(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss")
    ax2 = ax.twinx()
    ax2.plot(epochs, [h["accuracy"] for h in history], "s--", color="tab:green", label="eval accuracy")
    ax2.plot(epochs, [h["macro_f1"] for h in history], "^:", color="tab:red", label="eval macro-F1")
    ax2.set_ylabel("eval")
    fig.legend(loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
