"""The teacher: any transformers sequence-classification model, from a local directory or a hub id.

resolve_teacher() checks a teacher before any work (config, label names, safetensors weights and their
hash) without building the model. Teacher loads it once per worker and labels batches: sorted by length,
packed into sub-batches under a token budget, padded dynamically, run under inference mode; logits come
back as float32 in the caller's order. Weights load only through safetensors, and remote code only when
the user asks for it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

TOKENIZER_AND_CONFIG = ["*.json", "*.txt", "*.model", "tokenizer*", "*.safetensors"]


class TeacherError(RuntimeError):
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


def _local_dir(spec: str) -> Path:
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise TeacherError(f"teacher {spec!r} is a file; pass the model's directory (with config.json)")
    looks_like_path = spec.startswith((".", "/", "~")) or os.sep in spec.strip("/").split("/", 1)[-1]
    if looks_like_path:
        raise TeacherError(f"teacher directory {spec!r} does not exist")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec, allow_patterns=TOKENIZER_AND_CONFIG))
    except Exception as err:  # offline, unknown repo, gated repo...
        raise TeacherError(
            f"teacher {spec!r} is neither a local model directory nor a hub model id that could be "
            f"fetched ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). Pass the "
            f"directory of a saved transformers model.") from None


def weights_sha256(local_dir: Path) -> str:
    files = sorted(local_dir.glob("*.safetensors"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def resolve_teacher(spec: str, trust_remote_code: bool = False, max_length: int | None = None) -> TeacherInfo:
    """Checks everything about a teacher that can fail, without loading its weights."""
    from transformers import AutoConfig

    local = _local_dir(spec)
    if not (local / "config.json").is_file():
        raise TeacherError(f"teacher {spec!r} has no config.json in {local}")
    if not list(local.glob("*.safetensors")):
        pickled = [p.name for p in local.glob("*.bin")] + [p.name for p in local.glob("*.pt")]
        hint = (f" It has only pickled weights ({', '.join(pickled)}); kdaug loads weights only through "
                f"safetensors. Re-save it with model.save_pretrained(dir, safe_serialization=True).") if pickled else ""
        raise TeacherError(f"teacher {spec!r} has no *.safetensors weights.{hint}")
    try:
        config = AutoConfig.from_pretrained(str(local), trust_remote_code=trust_remote_code)
    except Exception as err:
        raise TeacherError(f"teacher {spec!r}: cannot read its config: {err}") from None
    limit = getattr(config, "max_position_embeddings", None) or 512
    if max_length is not None and max_length > limit:
        raise TeacherError(f"--max-length {max_length} exceeds the teacher's {limit} positions")
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    if len(id2label) < 2:
        raise TeacherError(f"teacher {spec!r} has {len(id2label)} labels; a classifier needs at least 2")
    return TeacherInfo(spec=spec, local_dir=str(local), id2label=id2label,
                       weights_sha256=weights_sha256(local), model_type=config.model_type,
                       max_length=min(max_length or limit, limit))


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise TeacherError(f"device {requested!r} was asked for, but no usable CUDA GPU is visible "
                           f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}). "
                           f"Pass --device cpu to label on the CPU.")
    return requested


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


def entropy_of_logits(logits: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of softmax(logits), computed stably in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return (-(np.exp(logp) * logp).sum(axis=-1)).astype(np.float32)


@dataclass
class Teacher:
    """A loaded teacher. One per worker process; cheap to call many times."""

    spec: str
    device: str = "auto"
    max_length: int | None = None
    token_budget: int = 16384  # padded tokens per forward pass
    max_batch_size: int = 256
    trust_remote_code: bool = False
    _model: object = field(default=None, repr=False)
    _tokenizer: object = field(default=None, repr=False)

    def load(self) -> "Teacher":
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        info = resolve_teacher(self.spec, self.trust_remote_code, self.max_length)
        self.device = pick_device(self.device)
        self.max_length = info.max_length
        self._tokenizer = AutoTokenizer.from_pretrained(info.local_dir, trust_remote_code=self.trust_remote_code)
        model = AutoModelForSequenceClassification.from_pretrained(
            info.local_dir, use_safetensors=True, trust_remote_code=self.trust_remote_code)
        self._model = model.to(self.device).eval()
        self.info = info
        return self

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def model(self):
        return self._model

    def _encode(self, texts, pairs, truncate: bool):
        pairs = list(pairs) if pairs is not None and any(p is not None for p in pairs) else None
        kwargs = dict(truncation=True, max_length=self.max_length) if truncate else dict(truncation=False)
        if pairs is None:
            return self._tokenizer(list(texts), **kwargs)
        return self._tokenizer(list(texts), pairs, **kwargs)

    def label(self, texts: Sequence[str], pairs: Sequence[str | None] | None = None) -> Labels:
        """Teacher logits for a batch of texts (and optional second sentences), in input order."""
        import torch

        n = len(texts)
        if n == 0:
            return Labels(np.zeros((0, self.info.num_labels), np.float32), np.zeros(0, bool))
        if pairs is not None and any((p is None) != (pairs[0] is None) for p in pairs):
            raise ValueError("a batch mixes single texts and sentence pairs")
        # Tokenize once without truncation to learn the true lengths; re-encode only the rare long ones.
        enc = self._encode(texts, pairs, truncate=False)
        ids = enc["input_ids"]
        truncated = np.array([len(x) > self.max_length for x in ids], dtype=bool)
        if truncated.any():
            idx = np.flatnonzero(truncated)
            short = self._encode([texts[i] for i in idx], [pairs[i] for i in idx] if pairs is not None else None,
                                 truncate=True)
            for j, i in enumerate(idx):
                for key in enc.keys():
                    enc[key][i] = short[key][j]
        features = [{k: enc[k][i] for k in enc.keys()} for i in range(n)]
        order = sorted(range(n), key=lambda i: len(features[i]["input_ids"]))
        out = np.empty((n, self.info.num_labels), dtype=np.float32)
        for chunk in _pack_by_budget(order, [len(f["input_ids"]) for f in features],
                                     self.token_budget, self.max_batch_size):
            batch = self._tokenizer.pad([features[i] for i in chunk], padding=True, return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            with torch.inference_mode():
                logits = self._model(**batch).logits
            out[chunk] = logits.float().cpu().numpy()
        return Labels(out, truncated)


def _pack_by_budget(order: list[int], lengths: list[int], token_budget: int, max_batch: int) -> list[list[int]]:
    """Cuts length-sorted indices into batches whose padded size (count x longest) fits the budget."""
    batches, current, longest = [], [], 0
    for i in order:
        new_longest = max(longest, lengths[i])
        if current and (new_longest * (len(current) + 1) > token_budget or len(current) >= max_batch):
            batches.append(current)
            current, new_longest = [], lengths[i]
        current.append(i)
        longest = new_longest
    if current:
        batches.append(current)
    return batches
