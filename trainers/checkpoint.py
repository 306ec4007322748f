"""A run's checkpoint: where it stands (TrainState), writing and reading it (safetensors and JSON, nothing
pickled), and the rules for resuming it: which settings a resumed run may change, and why a checkpoint
in the output directory belongs to another run."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from kdaug.core.flags import option, switch
from kdaug.trainers.config import CONFIG_DEFAULTS, TrainConfig, TrainConfigError
from kdaug.trainers.students import Student


class CheckpointMismatchError(TrainConfigError):
    """The output directory holds a checkpoint of another run (other settings or other data)."""

    def __init__(self, output: Path, why: str):
        self.why = why
        super().__init__(
            f"{output} holds a checkpoint of another run ({why}); resuming it would mix the two. "
            f"Give another {option('output')}, or {switch('restart')} to train from the start"
        )


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
