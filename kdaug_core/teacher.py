"""The teacher: any transformers sequence-classification model, from a local directory or a hub id.

resolve_teacher() checks a teacher before any work (config, label names, safetensors weights and their
hash) without building the model. TeacherSettings say how to run it; their load() gives a Teacher, the
loaded model that labels batches: sorted by length, packed into sub-batches under a token budget,
padded dynamically, run under inference mode; logits come back as float32 in the caller's order.
Weights load only through safetensors, and remote code only when the user asks for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kdaug.core.flags import option
from kdaug.core.logits import entropy_of_logits
from kdaug.core.models import ModelError, load_pretrained, load_tokenizer, local_model_dir, pick_device, weights_sha256
from kdaug.core.precision import PRECISIONS, torch_dtype
from kdaug.core.precision import resolve_precision as resolve
from kdaug.core.teacher_batches import Encoder, pack_by_budget, prefetched


class TeacherError(ModelError):
    """The teacher cannot be used as given; the message says why and what to do."""


@dataclass(frozen=True)
class TeacherInfo:
    spec: str  # what the user passed: a local path or a hub id
    local_dir: str  # where its files are on the machine that resolved it
    id2label: dict[int, str]
    weights_sha256: str
    model_type: str
    max_length: int

    @property
    def num_labels(self) -> int:
        return len(self.id2label)


def resolve_teacher(spec: str, trust_remote_code: bool = False, max_length: int | None = None) -> TeacherInfo:
    """Checks everything about a teacher that can fail, without loading its weights."""
    from transformers import AutoConfig

    local = local_model_dir(spec, "teacher", TeacherError)
    if not (local / "config.json").is_file():
        raise TeacherError(f"teacher {spec!r} has no config.json in {local}")
    if not list(local.glob("*.safetensors")):
        pickled = [p.name for p in local.glob("*.bin")] + [p.name for p in local.glob("*.pt")]
        hint = (
            (
                f" It has only pickled weights ({', '.join(pickled)}); kdaug loads weights only through "
                f"safetensors. Re-save it with model.save_pretrained(dir, safe_serialization=True)."
            )
            if pickled
            else ""
        )
        raise TeacherError(f"teacher {spec!r} has no *.safetensors weights.{hint}")
    try:
        config = AutoConfig.from_pretrained(str(local), trust_remote_code=trust_remote_code)
    except Exception as err:
        raise TeacherError(f"teacher {spec!r}: cannot read its config: {err}") from None
    limit = getattr(config, "max_position_embeddings", None) or 512
    if max_length is not None and max_length > limit:
        raise TeacherError(f"{option('max_length')} {max_length} exceeds the teacher's {limit} positions")
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    if len(id2label) < 2:
        raise TeacherError(f"teacher {spec!r} has {len(id2label)} labels; a classifier needs at least 2")
    missing = missing_head_weights(local, config, trust_remote_code)
    if missing:
        raise untrained_head_error(spec, missing)
    return TeacherInfo(
        spec=spec,
        local_dir=str(local),
        id2label=id2label,
        weights_sha256=weights_sha256(local),
        model_type=config.model_type,
        max_length=min(max_length or limit, limit),
    )


def missing_head_weights(local: Path, config, trust_remote_code: bool = False) -> list[str]:
    """The classifier weights a sequence-classification model of this config has and the directory's
    safetensors lack, read from the files' headers (no weights loaded): a bare encoder's config still
    says 2 labels. Only the head is checked (its names are stable; the encoder's are renamed on load)."""
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForSequenceClassification

    try:
        with torch.device("meta"):  # the architecture's parameter names, without allocating them
            model = AutoModelForSequenceClassification.from_config(config, trust_remote_code=trust_remote_code)
    except Exception:  # no sequence-classification class for it: loading says so, with transformers' words
        return []
    prefix = model.base_model_prefix + "."
    head = [k for k in model.state_dict() if not k.startswith(prefix)]
    stored: set[str] = set()
    for f in Path(local).glob("*.safetensors"):
        with safe_open(str(f), "pt") as fh:
            stored.update(fh.keys())
    return sorted(k for k in head if k not in stored)


def untrained_head_error(spec: str, missing: list[str]) -> TeacherError:
    return TeacherError(
        f"teacher {spec!r} has no trained weights for {', '.join(missing[:4])} (a bare encoder has no "
        f"classifier): transformers would draw them at random, anew on every load, so its labels would mean "
        f"nothing; give a fine-tuned sequence classifier (kdaug finetune makes one)"
    )


@dataclass
class Labels:
    logits: np.ndarray  # float32 [n, num_labels]
    truncated: np.ndarray  # bool [n]: the teacher saw only the first max_length tokens

    @property
    def pred(self) -> np.ndarray:
        return self.logits.argmax(axis=-1)

    @property
    def entropy(self) -> np.ndarray:
        return entropy_of_logits(self.logits)


def resolve_precision(precision: str, device: str) -> str:
    """The teacher's precision on `device` (precision.py: fp32 on a CPU, bf16 or fp16 autocast on CUDA)."""
    try:
        return resolve(precision, device)
    except ValueError:
        raise TeacherError(f"teacher precision {precision!r} is not one of {PRECISIONS}") from None


@dataclass(frozen=True)
class TeacherSettings:
    """How to run a teacher, as the user gave it ("auto" and None are decided by load(), on the worker)."""

    spec: str  # a local directory or a hub id
    device: str = "auto"
    max_length: int | None = None  # None: the model's limit
    token_budget: int | None = None  # padded tokens per forward pass; None: by device (Teacher.token_budget)
    max_batch_size: int = 256
    trust_remote_code: bool = False
    precision: str = "auto"
    prefetch: bool | None = None  # None: on a GPU only (on the CPU a second thread steals the model's cores)

    def load(self) -> Teacher:
        return Teacher.load(self)


class Teacher:
    """A loaded teacher. One per worker process; cheap to call many times.

    label() keeps the model busy: texts are ordered by length, tokenized a slice at a time, packed into
    sub-batches under a padded-token budget and padded only to their own longest. On a GPU the
    tokenizing, packing and host-to-device copies run in a background thread (the Rust tokenizer
    releases the GIL), so the next sub-batch is ready when the model finishes the current one; the
    forward runs under bf16/fp16 autocast with scaled-dot-product attention, and logits come back float32.
    """

    SLICE = 1024  # texts tokenized per step; batches never span two slices
    # Padded tokens per forward pass. A GPU wants big batches. On a CPU a batch of 4,096 tokens already
    # keeps the matrix products efficient, and the budget bounds the activations' block sizes: glibc
    # keeps the freed blocks of each forward in its heap and reuses them only for requests no bigger,
    # so with 16,384 (and max_batch_size binding) a worker's heap grew by up to 850 MB within a chunk of
    # 20k rows against 360 MB at 4,096; a 100k-source job's largest worker peaked at 1.26 GB against
    # 2.10 GB, in 0.93x the time (docs/benchmarks.md, "At scale").
    GPU_TOKEN_BUDGET, CPU_TOKEN_BUDGET = 16384, 4096

    def __init__(
        self,
        settings: TeacherSettings,
        info: TeacherInfo,
        model: Any,
        tokenizer: Any,
        device: str,
        precision: str,
        attention: str,
    ):
        self.settings, self.info = settings, info
        self.model, self.tokenizer = model, tokenizer
        self.device, self.precision, self.attention = device, precision, attention  # as decided on this worker
        self.max_length = info.max_length
        on_gpu = device.startswith("cuda")
        self.prefetch = on_gpu if settings.prefetch is None else settings.prefetch
        self.token_budget = settings.token_budget or (self.GPU_TOKEN_BUDGET if on_gpu else self.CPU_TOKEN_BUDGET)
        self._encoder = Encoder(tokenizer, info.max_length)

    @classmethod
    def load(cls, settings: TeacherSettings) -> Teacher:
        from transformers import AutoModelForSequenceClassification

        info = resolve_teacher(settings.spec, settings.trust_remote_code, settings.max_length)
        device = pick_device(settings.device, TeacherError)
        precision = resolve_precision(settings.precision, device)
        tokenizer = load_tokenizer(info.local_dir, settings.trust_remote_code)
        auto, remote = AutoModelForSequenceClassification, settings.trust_remote_code
        try:
            model, loading = load_pretrained(
                auto, info.local_dir, remote, attn_implementation="sdpa", output_loading_info=True
            )
            attention = "sdpa"
        except (ValueError, ImportError):  # an architecture without an SDPA path: its own attention
            model, loading = load_pretrained(auto, info.local_dir, remote, output_loading_info=True)
            attention = getattr(model.config, "_attn_implementation", "eager")
        missing = sorted(loading.get("missing_keys", []))
        if missing:  # transformers drew these at random (resolve_teacher checks the head; this, every weight)
            raise untrained_head_error(settings.spec, missing)
        return cls(settings, info, model.to(device).eval(), tokenizer, device, precision, attention)

    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> tuple[list[dict], np.ndarray]:
        """Token ids per text (cut to max_length), and whether each was cut. Safe from several threads."""
        return self._encoder.encode(texts, pairs)

    def pad(self, features: list[dict]) -> dict:
        """`tokenizer.pad(features, padding=True, return_tensors="pt")`, without the per-call checks that
        made it a tenth of a CPU job's time: one int64 array per key, filled row by row."""
        import torch

        tok = self.tokenizer
        values = {
            "input_ids": tok.pad_token_id,
            "attention_mask": 0,
            "token_type_ids": tok.pad_token_type_id,
            "special_tokens_mask": 1,
        }
        if tok.pad_token_id is None or not set(features[0]) <= set(values):
            return tok.pad(features, padding=True, return_tensors="pt")  # its own message, or keys it knows
        width = max(len(f["input_ids"]) for f in features)
        left = tok.padding_side == "left"
        batch = {}
        for key in features[0]:
            array = np.full((len(features), width), values[key], dtype=np.int64)
            for i, f in enumerate(features):
                row = f[key]
                if left:
                    array[i, width - len(row) :] = row
                else:
                    array[i, : len(row)] = row
            batch[key] = torch.from_numpy(array)
        return batch

    def batches(self, texts: Sequence[str], pairs: Sequence[str] | None = None):
        """Yields (indices, padded tensors, truncated flags) sub-batches covering every text once.
        The composition depends only on the texts, never on timing: same inputs, same batches."""
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]) + len(pairs[i] if pairs else ""), i))
        pin = self.device.startswith("cuda")
        budget, most = self.token_budget, self.settings.max_batch_size
        for start in range(0, len(order), self.SLICE):
            piece = order[start : start + self.SLICE]
            features, truncated = self.encode([texts[i] for i in piece], [pairs[i] for i in piece] if pairs else None)
            lengths = [len(f["input_ids"]) for f in features]
            local = sorted(range(len(piece)), key=lambda j: (lengths[j], j))
            for chunk in pack_by_budget(local, lengths, budget, most):
                batch = self.pad([features[j] for j in chunk])
                if pin:
                    batch = {k: v.pin_memory() for k, v in batch.items()}
                yield [piece[j] for j in chunk], batch, truncated[chunk]

    def label(
        self,
        texts: Sequence[str],
        pairs: Sequence[str | None] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> Labels:
        """Teacher logits (float32) for a batch of texts (and optional second sentences), in input order.
        on_batch(n) is called after each forward pass with the number of texts it labelled (progress)."""
        import torch

        n = len(texts)
        if n == 0:
            return Labels(np.zeros((0, self.info.num_labels), np.float32), np.zeros(0, bool))
        if pairs is not None and any((p is None) != (pairs[0] is None) for p in pairs):
            raise ValueError("a batch mixes single texts and sentence pairs")
        second: list[str] | None = [p or "" for p in pairs] if pairs is not None and pairs[0] is not None else None
        out = np.empty((n, self.info.num_labels), dtype=np.float32)
        truncated = np.zeros(n, dtype=bool)
        dtype = None if self.precision == "fp32" else torch_dtype(self.precision)  # autocast's
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        batches = self.batches(texts, second)
        if self.prefetch:
            batches = prefetched(batches, depth=4)
        autocast = torch.autocast(device_type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            for idx, batch, cut in batches:
                batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
                out[idx] = self.model(**batch).logits.float().cpu().numpy()
                truncated[idx] = cut
                if on_batch is not None:
                    on_batch(len(idx))
        return Labels(out, truncated)
