"""Training a student from a materialized dataset: distillation (`kdaug distill`) or fine-tuning on gold
labels (`kdaug finetune`). One readable loop, driven by a TrainConfig of plain values.

The dataset streams from Parquet through a seeded shuffle buffer (never loaded whole); batches are cut from
pools of the shuffled stream sorted by length, so a batch pads little (as the teacher's do). Each epoch ends
with an evaluation on a held-out labelled corpus (accuracy, macro-F1); the best student is kept. A
checkpoint (student weights, optimizer state, torch RNG state, position in the epoch's stream; all
safetensors or JSON, nothing pickled) is written every `save_every` steps, so a killed run resumes
exactly where it stopped and ends with the same metrics as one that was never interrupted.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from kdaug.core.corpus import (
    BadRecord,
    ColumnSpec,
    LabelSpace,
    check_columns,
    plan_read_units,
    read_unit,
    validate_record,
)
from kdaug.core.errors import KdaugError
from kdaug.core.flags import given, keyword_checked, option, switch
from kdaug.core.progress import Progress
from kdaug.core.threads import set_torch_threads
from kdaug.trainers.dataset import open_split, open_training_data
from kdaug.trainers.losses import KD_LOSSES, ce_loss, kd_loss
from kdaug.trainers.students import Student, StudentSpec, build_student, load_student

OBJECTIVES = ("distill", "finetune")
log = logging.getLogger("kdaug")
COLUMNS = [
    "id",
    "text",
    "text_pair",
    "label",
    "aug_method",
    "changed_ratio",
    "teacher_logits",
    "teacher_entropy",
    "teacher_kl_to_source",
]


class TrainConfigError(KdaugError, ValueError):
    """A training option is invalid or the inputs do not fit together; one clear message."""


class CheckpointMismatchError(TrainConfigError):
    """The output directory holds a checkpoint of another run (other settings or other data)."""

    def __init__(self, output: Path, why: str):
        self.why = why
        super().__init__(
            f"{output} holds a checkpoint of another run ({why}); resuming it would mix the two. "
            f"Give another {option('output')}, or {switch('restart')} to train from the start"
        )


LR_SCHEDULES = ("constant", "linear")


@keyword_checked
@dataclass
class TrainConfig:
    data: str
    student: str
    eval: str
    output: str
    objective: str = "distill"
    split: str = "train"
    epochs: int = 3
    batch_size: int = 64
    lr: float | None = None  # None: the student kind's own (students.KINDS: BiLSTM 2e-3, BERT 1e-4, hf 5e-5)
    lr_schedule: str = "constant"  # "linear": decays to 0 at the end of the last epoch (HF Trainer's default)
    temperature: float = 1.0  # T 1 as TinyBERT's prediction-layer KD; on MR dev it beat 2 (docs/results.md)
    alpha: float = 0.5
    kd_loss: str = "kl"  # the soft term: "kl" (Hinton, T^2-scaled) or "mse" on logits (Tang et al.)
    aug_weight: float = 1.0  # weight of augmented rows relative to originals
    methods: list[str] | None = None  # keep only these aug_method values ("original" included)
    min_changed_ratio: float | None = None  # copies only; originals always pass
    max_changed_ratio: float | None = None
    max_teacher_entropy: float | None = None  # copies only
    max_teacher_kl_to_source: float | None = None  # copies only: drop those the teacher sees as drifted
    augmented: bool = True  # finetune: also train on copies, with their source's label
    seed: int = 0
    max_length: int = 128
    shuffle_buffer: int = 10_000
    bucket_pool: int = 32  # batches cut from pools of this many batches' rows sorted by length (1: no sorting)
    save_every: int = 200
    text_column: str = "text"  # for a plain corpus as --data (fine-tuning a teacher)
    text_pair_column: str | None = None
    label_column: str = "label"
    labels: list[str] | None = None  # a plain corpus's label names, by index (default: from the data)
    # The held-out sets' columns; None: the training data's (the columns its corpus was read with).
    eval_text_column: str | None = None
    eval_text_pair_column: str | None = None
    eval_label_column: str | None = None
    test: str | None = None  # a held-out corpus (eval's columns) the best epoch, picked on eval, is scored on once
    device: str = "cpu"
    torch_threads: int | None = None  # None: one per core this process is given (its CPU affinity)
    log_every_s: float = 30.0  # without a terminal: a progress line in the log this often (epochs always)
    stop_after_steps: int | None = None  # for tests and smoke runs: end the run early, as a kill would
    restart: bool = False  # discard a checkpoint in `output` and train from the start

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise TrainConfigError(f"objective must be one of {OBJECTIVES}")
        if self.epochs < 1 or self.batch_size < 1 or self.bucket_pool < 1:
            raise TrainConfigError(
                f"{option('epochs')}, {option('batch_size')} and {option('bucket_pool')} must be at least 1"
            )
        if self.torch_threads is not None and self.torch_threads < 1:
            raise TrainConfigError(f"{option('torch_threads')} must be at least 1")
        if not 0.0 <= self.alpha <= 1.0 or self.temperature <= 0:
            raise TrainConfigError(f"{option('alpha')} must be in [0, 1] and {option('temperature')} > 0")
        if self.lr_schedule not in LR_SCHEDULES:
            raise TrainConfigError(
                f"{option('lr_schedule')} must be one of {', '.join(LR_SCHEDULES)}, not {self.lr_schedule!r}"
            )
        if self.kd_loss not in KD_LOSSES:
            raise TrainConfigError(f"{option('kd_loss')} must be one of {', '.join(KD_LOSSES)}, not {self.kd_loss!r}")


CONFIG_DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}

# Bumped whenever kdaug changes what the same settings on the same data train to (a student's
# initialisation, its vocabulary, the loss): a checkpoint or finished run of another revision is not
# this run, so it is never resumed or reused as one. 0: unrecorded (before 2026-12-02). 1: recorded; since
# the BiLSTM's GloVe initialisation fix and vocabularies built from the trained rows.
TRAINING_REVISION = 1


@dataclass
class TrainState:
    """Where a run stands; saved with every checkpoint (trainer_state.json) and resumed from it."""

    epoch: int = 0  # epochs finished
    step_in_epoch: int = 0  # batches of the current epoch trained
    global_step: int = 0
    history: list[dict] = field(default_factory=list)  # one entry per finished epoch: loss and eval metrics
    best: dict | None = None  # the history entry with the best eval macro-F1
    epoch_losses: list[float] = field(default_factory=list)  # the current epoch's batch losses so far
    config: dict = field(default_factory=dict)  # the TrainConfig of the run that wrote it
    data_sha256: str | None = None  # the training data's fingerprint (None: written before kdaug kept one)
    revision: int = TRAINING_REVISION  # the kdaug training revision that trained it

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: dict) -> TrainState:
        known = {f.name for f in fields(cls)}
        return cls(**{"revision": 0, **{k: v for k, v in saved.items() if k in known}})  # none recorded: 0


# ------------------------------------------------------------------------------------------------ data


def row_passes(row: dict, cfg: TrainConfig) -> bool:
    original = row["aug_method"] == "original"
    if cfg.methods is not None and row["aug_method"] not in cfg.methods:
        return False
    if cfg.objective == "finetune" and (row["label"] is None or (not original and not cfg.augmented)):
        return False
    if original:
        return True
    if cfg.min_changed_ratio is not None and row["changed_ratio"] < cfg.min_changed_ratio:
        return False
    if cfg.max_changed_ratio is not None and row["changed_ratio"] > cfg.max_changed_ratio:
        return False
    if cfg.max_teacher_kl_to_source is not None and (
        row["teacher_kl_to_source"] is None or row["teacher_kl_to_source"] > cfg.max_teacher_kl_to_source
    ):
        return False  # a copy without the value (source unlabelled) cannot show it stayed close
    return cfg.max_teacher_entropy is None or row["teacher_entropy"] <= cfg.max_teacher_entropy


# What row_passes reads, plus the texts a new student's vocabulary is built from.
SELECTION_COLUMNS = [c for c in COLUMNS if c not in ("id", "teacher_logits")]


def trained_rows(split, cfg: TrainConfig) -> Iterator[dict]:
    """The rows an epoch trains on (unshuffled): the split's, less those the filters drop."""
    return (row for row in split.iter_rows(columns=SELECTION_COLUMNS) if row_passes(row, cfg))


def stream_rows(split, cfg: TrainConfig, epoch: int) -> Iterator[dict]:
    """The epoch's rows in a shuffled order that depends only on (seed, epoch)."""
    rng = random.Random(f"{cfg.seed}/{epoch}")
    buffer: list[dict] = []
    for row in split.iter_rows(columns=COLUMNS):
        if not row_passes(row, cfg):
            continue
        if len(buffer) < cfg.shuffle_buffer:
            buffer.append(row)
            continue
        i = rng.randrange(len(buffer))
        yield buffer[i]
        buffer[i] = row
    rng.shuffle(buffer)
    yield from buffer


def batches(rows: Iterator[dict], size: int, pool: int = 1, rng: random.Random | None = None) -> Iterator[list[dict]]:
    """Batches of `size` rows. With pool > 1, every `pool` batches' worth of the (shuffled) stream is sorted
    by text length, cut into batches, and those batches are yielded in an order drawn from `rng`: rows of
    similar length share a batch, so little of a batch is padding, while the pools keep the epoch's
    order random at the scale of the pool."""
    group: list[dict] = []
    for row in rows:
        group.append(row)
        if len(group) == size * pool:
            yield from _cut(group, size, pool, rng)
            group = []
    if group:
        yield from _cut(group, size, pool, rng)


def _cut(rows: list[dict], size: int, pool: int, rng: random.Random | None) -> list[list[dict]]:
    if pool > 1:
        rows = sorted(rows, key=_length)  # stable: ties keep the shuffled order
    cut = [rows[i : i + size] for i in range(0, len(rows), size)]
    if pool > 1 and rng is not None:
        rng.shuffle(cut)
    return cut


def _length(row: dict) -> int:
    return len(row["text"]) + len(row["text_pair"] or "")


def epoch_batches(split, cfg: TrainConfig, epoch: int) -> Iterator[list[dict]]:
    """The epoch's batches: a function of (data, seed, epoch, settings) only, so a resumed run skips
    exactly the batches it trained before."""
    rng = random.Random(f"{cfg.seed}/{epoch}/batches")
    return batches(stream_rows(split, cfg, epoch), cfg.batch_size, cfg.bucket_pool, rng)


def eval_columns(cfg: TrainConfig, split) -> ColumnSpec:
    """The columns --eval and --test are read with: the training data's (the corpus columns a dataset was
    materialized from, or a plain corpus's own), each replaced by its eval_* setting where one is given.
    A student trained on single texts and scored on pairs (or the reverse) would report a figure of
    something else, so that mismatch is refused."""
    data = split.source_columns
    columns = ColumnSpec(
        cfg.eval_text_column or data.text,
        cfg.eval_text_pair_column or data.text_pair,
        cfg.eval_label_column or data.label or "label",
    )
    if columns.text_pair and not data.text_pair:
        raise TrainConfigError(
            f"{given('eval_text_pair_column', columns.text_pair)} reads {option('eval')} as sentence pairs, but "
            f"{cfg.data!r} holds single texts (no text pair column): a student is scored on what it was "
            f"trained on; drop {option('eval_text_pair_column')}"
        )
    return columns


def load_eval(
    path: str, columns: ColumnSpec, label_names: list[str], which: str = "eval"
) -> tuple[list[str], list[str | None], list[int]]:
    """A held-out set (`which` names its setting: eval or test), read with `columns` (eval_columns()).
    Its columns are checked first (a missing one fails naming the file's columns and the setting to
    change); labels the training data does not know fail the run before any training (scoring on the
    rest would report accuracy on part of the set); other unusable records are left out, and said."""
    where = given(which, path)
    units = plan_read_units(path)
    check_columns(units, columns, where, prefix="eval_")
    labels = LabelSpace(dict(enumerate(label_names)))
    texts, pairs, gold = [], [], []
    unknown: dict[str, list[str]] = {}  # label value -> positions
    skipped: list[str] = []
    for unit in units:
        for rec in read_unit(unit):
            try:
                ex = validate_record(rec, columns, None)
            except BadRecord as err:
                skipped.append(f"{rec.position}: {err}")
                continue
            raw_label = (rec.fields or {}).get(columns.label)
            try:
                label = labels.resolve(raw_label)
            except BadRecord:
                unknown.setdefault(repr(raw_label), []).append(rec.position)
                continue
            if label is not None:
                texts.append(ex.text)
                pairs.append(ex.text_pair)
                gold.append(label)
    if unknown:
        examples = "; ".join(f"{value} ({len(at)} records, e.g. {at[0]})" for value, at in unknown.items())
        raise TrainConfigError(
            f"{where} has labels the training data does not know: {examples}. The data's labels are "
            f"{label_names}; map or remove those records"
        )
    if skipped:
        log.warning(
            "%s: %d unusable records left out (%s%s)",
            where,
            len(skipped),
            skipped[0],
            ", ..." if len(skipped) > 1 else "",
        )
    if not gold:
        raise TrainConfigError(
            f"{where} has no labelled records in column {columns.label!r} ({option('eval_label_column')})"
        )
    return texts, pairs, gold


def evaluate(student: Student, texts, pairs, gold, batch_size: int = 256, predictions: bool = False) -> dict:
    """Accuracy and macro-F1 on a labelled set (with `predictions`, also each example's predicted class,
    for paired comparisons between students)."""
    student.eval()
    preds = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            logits = student(student.encode(texts[i : i + batch_size], pairs[i : i + batch_size]))
            preds += logits.argmax(-1).tolist()
    student.train()
    gold_a, pred_a = np.array(gold), np.array(preds)
    f1s = []
    for c in sorted(set(gold) | set(preds)):
        tp = np.sum((pred_a == c) & (gold_a == c))
        fp, fn = np.sum((pred_a == c) & (gold_a != c)), np.sum((pred_a != c) & (gold_a == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    scores = {"accuracy": float(np.mean(gold_a == pred_a)), "macro_f1": float(np.mean(f1s))}
    return {**scores, "predictions": preds} if predictions else scores


# ----------------------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, student: Student, optimizer, state: TrainState) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    student.save(tmp / "student")
    opt = optimizer.state_dict()
    tensors = {
        f"{i}.{k}": (v if torch.is_tensor(v) else torch.tensor(v)).contiguous()
        for i, st in opt["state"].items()
        for k, v in st.items()
    }
    tensors["torch_rng"] = torch.get_rng_state()
    save_file(tensors, str(tmp / "optimizer_and_rng.safetensors"))
    (tmp / "trainer_state.json").write_text(
        json.dumps({**state.to_dict(), "param_groups": opt["param_groups"]}, indent=2)
    )
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


def load_checkpoint(path: Path, optimizer) -> TrainState:
    from safetensors.torch import load_file

    tensors = load_file(str(path / "optimizer_and_rng.safetensors"))
    state = json.loads((path / "trainer_state.json").read_text())
    torch.set_rng_state(tensors.pop("torch_rng"))
    opt_state: dict[int, dict] = {}
    for key, value in tensors.items():
        i, name = key.split(".", 1)
        opt_state.setdefault(int(i), {})[name] = value
    optimizer.load_state_dict({"state": opt_state, "param_groups": state.pop("param_groups")})
    return TrainState.from_dict(state)


# ------------------------------------------------------------------------------------------------ train

# Settings a resumed run may change: where and how it runs, how long (more epochs continue the run), and
# the data's path (its content is checked by fingerprint: a moved dataset is the same data).
RESUMABLE_CHANGES = (
    "output",
    "epochs",
    "save_every",
    "stop_after_steps",
    "device",
    "torch_threads",
    "log_every_s",
    "test",
    "restart",
    "data",
)

DISTILL_ONLY = ("temperature", "alpha", "kd_loss")  # the KD term's settings: a fine-tuning run's differ freely


def checkpoint_mismatch(saved: TrainState, cfg: TrainConfig, data_sha256: str) -> str | None:
    """Why a checkpoint's run is not this one (None when it is): a setting or the training data differ."""
    now = asdict(cfg)
    before = {**CONFIG_DEFAULTS, **saved.config}  # a setting an older kdaug did not have yet ran at its default
    unused = DISTILL_ONLY if cfg.objective == "finetune" else ()  # fine-tuning never reads these
    changed = [
        f"{key} {before.get(key)!r} -> {now[key]!r}"
        for key in now
        if key not in RESUMABLE_CHANGES and key not in unused and before.get(key) != now[key]
    ]
    if saved.revision != TRAINING_REVISION:
        changed.append(
            f"an older kdaug trained it, whose training gives other results (training revision "
            f"{saved.revision} -> {TRAINING_REVISION})"
        )
    if saved.epoch > cfg.epochs:
        changed.append(f"it has trained {saved.epoch} epochs, more than epochs={cfg.epochs}")
    if saved.data_sha256 is None:
        changed.append("it does not record its training data (an older kdaug wrote it)")
    elif saved.data_sha256 != data_sha256:
        changed.append(f"the training data changed (sha256 {saved.data_sha256[:12]}... -> {data_sha256[:12]}...)")
    return "; ".join(changed) or None


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
    student = build_student(spec, dict(enumerate(split.label_names)), split.teacher, words, cfg.max_length)
    for _ in words:  # a student without a vocabulary of its own reads no text: finish the count
        pass
    return student, rows


def train(cfg: TrainConfig, progress: bool | None = None) -> dict:
    """Trains (or resumes) the run `cfg` describes; returns its metrics. `progress`: a bar (None: on a
    terminal only); without one, progress lines go to the log every `log_every_s`, and every epoch's
    figures always do."""
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
    total_steps = math.ceil(rows_per_epoch / cfg.batch_size)
    steps_this_run = 0
    timing.startup_s = time.perf_counter() - timing.started
    for epoch in range(state.epoch, cfg.epochs):
        bar = Progress(
            f"{cfg.output}: epoch {epoch + 1}/{cfg.epochs}",
            "steps",
            total=total_steps,
            initial=state.step_in_epoch,
            bar=progress,
            log_every_s=cfg.log_every_s,
        )
        tick = time.perf_counter()
        for step, rows in enumerate(epoch_batches(split, cfg, epoch)):
            if step < state.step_in_epoch:
                continue  # resuming: these batches were trained before the interruption
            set_lr(optimizer, scheduled_lr(base_lr, cfg, state.global_step, total_steps * cfg.epochs))
            state.epoch_losses.append(_step(student, optimizer, rows, cfg))
            state.step_in_epoch, state.global_step, state.epoch = step + 1, state.global_step + 1, epoch
            bar.update(1, loss=f"{state.epoch_losses[-1]:.4f}")
            steps_this_run += 1
            timing.rows += len(rows)
            stop = cfg.stop_after_steps is not None and steps_this_run >= cfg.stop_after_steps
            if state.global_step % cfg.save_every == 0 or stop:
                timing.train_s += time.perf_counter() - tick
                tick = _timed_checkpoint(timing, ckpt, student, optimizer, state)
            if stop:
                bar.close()
                return {"stopped_early": True, **state.to_dict(), "timing": timing.to_dict()}
        timing.train_s += time.perf_counter() - tick
        bar.close()
        tick = time.perf_counter()
        metrics = evaluate(student, *eval_set)
        timing.eval_s += time.perf_counter() - tick
        losses = state.epoch_losses
        entry = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else None, **metrics}
        state.history.append(entry)
        tick = time.perf_counter()
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
            student.save(out / "best")
        state.epoch, state.step_in_epoch, state.epoch_losses = epoch + 1, 0, []
        save_checkpoint(ckpt, student, optimizer, state)
        _write_metrics(out, state, timing)
        timing.checkpoint_s += time.perf_counter() - tick
    if test_set is None or state.best is None:
        return _write_metrics(out, state, timing)
    # The best epoch, picked on eval, scored once on test. metrics.json keeps the scores; the predictions
    # go to test_predictions.json and, with the gold labels, into what train() returns (paired comparisons).
    scored = evaluate(load_student(out / "best").to(cfg.device), *test_set, predictions=True)
    predictions = scored.pop("predictions")
    (out / "test_predictions.json").write_text(json.dumps({"predictions": predictions}) + "\n")
    test = {"epoch": state.best["epoch"], **scored}
    log.info(
        "%s: test accuracy %.4f, macro-F1 %.4f (epoch %d)",
        cfg.output,
        scored["accuracy"],
        scored["macro_f1"],
        test["epoch"],
    )
    metrics = _write_metrics(out, state, timing, test)
    return {**metrics, "test": {**test, "predictions": predictions, "gold": test_set[2]}}


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

    def to_dict(self) -> dict:
        spent = {k: v for k, v in asdict(self).items() if k != "started"}
        rate = self.rows / self.train_s if self.train_s else None
        return {**spent, "total_s": time.perf_counter() - self.started, "rows_per_s": rate}


def _timed_checkpoint(timing: Timing, ckpt: Path, student, optimizer, state: TrainState) -> float:
    tick = time.perf_counter()
    save_checkpoint(ckpt, student, optimizer, state)
    now = time.perf_counter()
    timing.checkpoint_s += now - tick
    return now


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
