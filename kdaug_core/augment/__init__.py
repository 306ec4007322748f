"""Augmenters, and the spec syntax that names them: `METHOD:key=value,key=value`, e.g.
`synonym:ratio=0.3,copies=4`. REGISTRY maps each method name to its class."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kdaug.core.augment.augpro import AugProMix
from kdaug.core.augment.augpro_fgsm import AugProFgsm
from kdaug.core.augment.base import Augmenter, AugmentSpecError
from kdaug.core.augment.draw import AugmentedCopy, AugmentResult
from kdaug.core.augment.knn import KnnAugmenter
from kdaug.core.augment.mlm import MlmAugmenter
from kdaug.core.augment.synonym import SynonymAugmenter
from kdaug.core.flags import given

REGISTRY: dict[str, type[Augmenter]] = {
    cls.method: cls for cls in (SynonymAugmenter, KnnAugmenter, MlmAugmenter, AugProMix, AugProFgsm)
}

__all__ = [
    "REGISTRY",
    "AugmentSpec",
    "Augmenter",
    "AugmentResult",
    "AugmentSpecError",
    "AugmentedCopy",
    "parse_augment_spec",
    "build_augmenters",
    "method_of",
    "keeps_gold_label",
]


@dataclass(frozen=True)
class AugmentSpec:
    method: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"method": self.method, **self.params}


def parse_augment_spec(text: str | dict) -> AugmentSpec:
    """'synonym:ratio=0.3,copies=4' or {'method': 'synonym', 'ratio': 0.3} -> AugmentSpec (validated)."""
    if isinstance(text, dict):
        params = dict(text)
        method = params.pop("method", None)
        if not method:
            raise AugmentSpecError(f"augment entry {text!r} has no 'method'")
    else:
        method, _, rest = text.strip().partition(":")
        params = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise AugmentSpecError(f"{given('augment', text)}: {item!r} is not key=value")
            params[key.strip()] = value.strip()
    method = method.strip()
    if method not in REGISTRY:
        raise AugmentSpecError(f"unknown augmenter {method!r}; known: {sorted(REGISTRY)}")
    return AugmentSpec(method, REGISTRY[method].validate_params(params))


def spec_key(method: str, index: int) -> str:
    """The stable key of the `index`-th spec of a recipe (METHOD.INDEX): part of every copy's id and seed."""
    return f"{method}.{index}"


def spec_keys(specs: list[AugmentSpec]) -> list[str]:
    return [spec_key(s.method, i) for i, s in enumerate(specs)]


def build_augmenters(specs: list[AugmentSpec], recorded: list[AugmentSpec] | None = None) -> list[Augmenter]:
    """The augmenters of `specs`; with `recorded` (the same specs as the user gave them), rows record those."""
    augmenters = [REGISTRY[s.method](spec_key=key, **s.params) for s, key in zip(specs, spec_keys(specs))]
    if recorded is not None:
        if [s.method for s in recorded] != [s.method for s in specs]:
            raise ValueError("recorded specs must name the same augmenters, in the same order")
        augmenters = [aug.recorded_as(given.params) for aug, given in zip(augmenters, recorded)]
    return augmenters


def method_of(spec: str | dict) -> str:
    """The method a spec names ('synonym:ratio=0.3' -> 'synonym'), the spec checked as parse_augment_spec does."""
    return parse_augment_spec(spec).method


def keeps_gold_label(spec: str | dict) -> bool:
    """Whether the copies a spec (or a bare method name) makes keep their source's gold label."""
    return REGISTRY[method_of(spec)].keeps_gold_label
