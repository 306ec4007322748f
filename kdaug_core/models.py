"""Model directories: where a model's files are, and loading them the one way kdaug loads models.

Every model kdaug runs (the teacher, a masked LM, AugPro's embedding model, a teacher's embedding table,
pretrained students) is named by a local directory or a hub id. local_model_dir() turns either into a
directory on this machine; load_pretrained() loads weights from it through safetensors only (never a
pickled checkpoint) and runs a repository's own code only when the user asked for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kdaug.core.errors import KdaugError
from kdaug.core.flags import option

# What a labelling or augmenting job needs of a hub repository: config, tokenizer, safetensors weights.
HUB_FILES = ["*.json", "*.txt", "*.model", "tokenizer*", "*.safetensors"]


class ModelError(KdaugError, RuntimeError):
    """A model cannot be used as given; the message says which, why, and what to do."""


def local_model_dir(spec: str, role: str = "model", error: type[ModelError] = ModelError) -> Path:
    """The directory holding the files of `spec`: a local directory as it is, or a hub id downloaded
    (config, tokenizer and safetensors weights only). `role` names the model in messages ("teacher")."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise error(f"{role} {spec!r} is a file; pass the model's directory (with config.json)")
    looks_like_path = spec.startswith((".", "/", "~")) or os.sep in spec.strip("/").split("/", 1)[-1]
    if looks_like_path:
        raise error(f"{role} directory {spec!r} does not exist")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec, allow_patterns=HUB_FILES))
    except Exception as err:  # offline, unknown repo, gated repo...
        first_line = str(err).splitlines()[0] if str(err) else ""
        raise error(
            f"{role} {spec!r} is neither a local model directory nor a hub model id that could be "
            f"fetched ({type(err).__name__}: {first_line}). Pass the directory of a saved transformers model."
        ) from None


def weights_sha256(local_dir: Path) -> str:
    """sha256 over the names and bytes of a directory's safetensors files: which weights these are."""
    h = hashlib.sha256()
    for f in sorted(local_dir.glob("*.safetensors")):
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def load_tokenizer(local_dir: str | Path, trust_remote_code: bool = False):
    """A tokenizer that reads text as text: a literal "[SEP]", "[CLS]" or "[MASK]" in the data is split
    into ordinary tokens, never taken for a control token (split_special_tokens)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(local_dir), trust_remote_code=trust_remote_code, split_special_tokens=True)


def load_pretrained(auto_class: Any, local_dir: str | Path, trust_remote_code: bool = False, **kwargs: Any):
    """`auto_class.from_pretrained` from safetensors weights only, remote code only when asked. Quiet:
    transformers' weight-loading bar and its table of missing weights are not shown, since every caller
    checks the weights itself (a teacher refuses missing ones; a student's new head is expected) and says
    so in kdaug's words."""
    with quiet_transformers():
        return auto_class.from_pretrained(
            str(local_dir), use_safetensors=True, trust_remote_code=trust_remote_code, **kwargs
        )


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off within, as they were after."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def pick_device(requested: str = "auto", error: type[ModelError] = ModelError) -> str:
    """'auto' is the GPU where there is one, else the CPU; asking for a GPU where none is usable fails
    (never a silent fall back to the CPU)."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise error(
            f"device {requested!r} was asked for, but no usable CUDA GPU is visible "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}). "
            f"Pass {option('device')} cpu to run on the CPU."
        )
    return requested
