"""Low-precision students: quantization-aware distillation (`kdaug distill --quantize BITS`).

Each weight matrix of a student (its Linear, Embedding and LSTM weights; biases and LayerNorms stay
float) is fake-quantized in the forward pass: per output channel, symmetric, to 2^(bits-1) - 1 levels on
each side of zero (8 bits: 127; 4 bits: 7; 2 bits: -1, 0, 1 times the channel's scale, TernaryBERT's
ternary weights), the scale the channel's largest |weight| over that count. The backward pass is the
straight-through estimator: the gradient reaches the float weights as if rounding were the identity, so
training moves the float ("latent") weights and the forward always sees their quantized values. With
activations, each Linear's input is also fake-quantized to 8 bits per tensor (its batch's range).

It is done with torch's parametrizations, so the parameters keep their names; a checkpoint holds the
latent float weights (what resume continues from) and the student's config says how to quantize them
again when it loads. `packed_bytes` is the model's size with each quantized weight packed at `bits`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from kdaug.trainers.config import QUANTIZE_BITS as BITS

ACTIVATION_BITS = 8


def _fake_quantize(w: torch.Tensor, bits: int) -> torch.Tensor:
    """w quantized per output channel (dim 0), symmetric; the straight-through estimator's backward."""
    levels = 2 ** (bits - 1) - 1
    scale = w.detach().abs().amax(dim=tuple(range(1, w.dim())), keepdim=True).clamp_min(1e-12) / levels
    quantized = torch.clamp(torch.round(w / scale), -levels, levels) * scale
    return w + (quantized - w).detach()


class FakeQuantize(nn.Module):
    """A parametrization: the module's weight as the forward pass sees it."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = bits

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return _fake_quantize(w, self.bits)


def _quantize_input(module: nn.Module, args: tuple) -> tuple:
    """A Linear's input fake-quantized to ACTIVATION_BITS per tensor, asymmetric over its batch's range."""
    x = args[0]
    low, high = x.detach().min(), x.detach().max()
    scale = (high - low).clamp_min(1e-12) / (2**ACTIVATION_BITS - 1)
    quantized = torch.round((x - low) / scale) * scale + low
    return (x + (quantized - x).detach(), *args[1:])


def _parametrization(module: nn.Module, name: str) -> Any:
    """The ParametrizationList of module.<name> (its `original` and its FakeQuantize)."""
    return getattr(module, "parametrizations")[name]  # noqa: B009 - torch adds it at run time


def quantized_weights(model: nn.Module) -> Iterator[tuple[nn.Module, str]]:
    """(module, parameter name) of every weight matrix quantization covers."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            yield module, "weight"
        elif isinstance(module, nn.LSTM):  # by name: once parametrized they are no longer its own parameters
            for layer in range(module.num_layers):
                for direction in ("", "_reverse") if module.bidirectional else ("",):
                    yield module, f"weight_ih_l{layer}{direction}"
                    yield module, f"weight_hh_l{layer}{direction}"


def quantize(model: nn.Module, bits: int, activations: bool = False) -> nn.Module:
    """Fake-quantizes `model`'s weights (and, with activations, its Linear inputs) in place; returns it."""
    if bits not in BITS:
        raise ValueError(f"quantization to {bits} bits: one of {BITS}")
    for module, name in list(quantized_weights(model)):
        if not parametrize.is_parametrized(module, name):
            parametrize.register_parametrization(module, name, FakeQuantize(bits))
    if activations:
        hooks = [m.register_forward_pre_hook(_quantize_input) for m in model.modules() if isinstance(m, nn.Linear)]
        model.kdaug_activation_hooks = hooks  # type: ignore[assignment]
    return model


def bake(model: nn.Module) -> nn.Module:
    """The model with its quantized weights as plain parameters (the values the forward pass used) and no
    activation hooks: what an export writes, so that the graph holds the quantized weights themselves."""
    for module, name in list(quantized_weights(model)):
        if parametrize.is_parametrized(module, name):
            parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    for hook in getattr(model, "kdaug_activation_hooks", []):
        hook.remove()
    return model


@contextlib.contextmanager
def latent_weights(model: nn.Module) -> Iterator[None]:
    """Within: the model's parameters are its plain latent float weights under their own names (to save
    them as any model's); after: quantized again as before."""
    parametrized = [
        (module, name, _parametrization(module, name)[0].bits)
        for module, name in list(quantized_weights(model))
        if parametrize.is_parametrized(module, name)
    ]
    for module, name, _ in parametrized:
        parametrize.remove_parametrizations(module, name, leave_parametrized=False)
    try:
        yield
    finally:
        for module, name, bits in parametrized:
            parametrize.register_parametrization(module, name, FakeQuantize(bits))


def packed_bytes(model: nn.Module, bits: int) -> int:
    """Bytes of the model with each quantized weight packed at `bits` bits (plus a float32 scale per
    channel) and every other parameter as float32: the size a low-bit runtime would hold."""
    quantized = {
        id(_parametrization(module, name).original)
        for module, name in quantized_weights(model)
        if parametrize.is_parametrized(module, name)
    }
    total = 0
    for p in model.parameters():
        if id(p) in quantized:
            total += (p.numel() * bits + 7) // 8 + 4 * p.shape[0]
        else:
            total += 4 * p.numel()
    return total
