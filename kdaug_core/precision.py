"""The floating-point precision a model runs in: one rule for the teacher and the masked LM.

fp32, bf16 and fp16 are taken as given; `auto` is decided on the worker that runs the model, from its
device: bf16 on a CUDA GPU that supports it, else fp16 there; fp32 on a CPU, except for a model whose
outputs only rank candidates (the masked LM: half precision keeps the ranking of its top words) on a CPU
that computes bf16 natively (AVX512-BF16 or AMX), where bf16 runs about 4x faster. The teacher stays
fp32 on a CPU: autocast buys little for encoder inference there and would change the logits.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively, by the instruction-set flags Linux reports (False where
    it reports none: another system, or a CPU without them)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: str, *, half_on_cpu: bool = False) -> str:
    """fp32, bf16 or fp16 for `precision` (one of PRECISIONS) on `device` ("cpu", "cuda", "cuda:1", ...);
    `half_on_cpu`: a model whose outputs only rank candidates, which may run in bf16 on a CPU with native
    bf16. Raises ValueError for a precision that is not one of PRECISIONS."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if half_on_cpu and cpu_has_native_bf16() else "fp32"


def torch_dtype(precision: str):
    """The torch dtype of a resolved precision (fp32, bf16 or fp16)."""
    import torch

    return getattr(torch, _DTYPES[precision])
