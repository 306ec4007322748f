"""The settings of a training run: TrainConfig, its defaults and its checks, in one place (the CLI and
the API read the defaults from here)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields

from kdaug.core.errors import KdaugError
from kdaug.core.flags import keyword_checked, option
from kdaug.trainers.losses import KD_LOSSES

OBJECTIVES = ("distill", "finetune")


class TrainConfigError(KdaugError, ValueError):
    """A training option is invalid or the inputs do not fit together; one clear message."""


LR_SCHEDULES = ("constant", "linear")
QUANTIZE_BITS = (8, 4, 2)  # trainers/quantize.py's BITS (kept here so the config loads without torch)


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
    # Quantization-aware training (trainers/quantize.py): weights fake-quantized to this many bits (8, 4 or
    # 2: ternary) per output channel, straight-through gradients; None: a float student.
    quantize: int | None = None
    quantize_activations: bool = False  # also each Linear's input, to 8 bits per tensor

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
        if self.quantize is not None and self.quantize not in QUANTIZE_BITS:
            raise TrainConfigError(f"{option('quantize')} takes 8, 4 or 2 bits, not {self.quantize!r}")
        if self.quantize_activations and self.quantize is None:
            raise TrainConfigError(f"{option('quantize_activations')} needs {option('quantize')} BITS")


CONFIG_DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
