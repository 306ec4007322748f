"""The one interface every augmenter has: a batch of source examples in, copies out.

Each copy carries its text, its measured shift (kdaug_core.shift, the same word-level measure for every
method), the augmenter's params and the seed it was drawn with. Copies are deterministic from
(global seed, source id, augment spec, copy index), differ from their source and from each other; where
a source cannot yield as many distinct copies as asked, fewer come back and the shortfall is reported.
The word-replacement methods share their machinery in replacement.py.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from kdaug.core.augment.draw import AugmentResult, Drafter, draw_copies
from kdaug.core.corpus import SourceExample
from kdaug.core.errors import KdaugError

SIDES = ("auto", "text", "pair", "both")


class AugmentSpecError(KdaugError, ValueError):
    """An --augment spec or recipe entry is invalid; the message says which part and why."""


@dataclass(frozen=True)
class Param:
    type: type
    default: Any
    help: str
    check: Any = None  # callable(value) -> error message or None


def _ratio_ok(v: float) -> str | None:
    return None if 0.0 < v <= 1.0 else "must be in (0, 1]"


def _copies_ok(v: int) -> str | None:
    return None if 1 <= v <= 1000 else "must be between 1 and 1000"


def _side_ok(v: str) -> str | None:
    return None if v in SIDES else f"must be one of {SIDES}"


class Augmenter(ABC):
    """Base class: parameter declaration and validation, and the batch interface."""

    method: ClassVar[str]
    # Whether a copy keeps its source's gold label (a few words replaced), so that fine-tuning may train on
    # it: AugPro's copies mix two sentences or move off the data, and have only the teacher's label.
    keeps_gold_label: ClassVar[bool] = False
    # Each declared parameter becomes an attribute of the same name (validated in __init__).
    ratio: float | None  # None where an augmenter's shift follows from another parameter (AugPro's eps)
    copies: int
    side: str
    PARAMS: ClassVar[dict[str, Param]] = {
        "ratio": Param(float, 0.3, "share of word tokens to change", _ratio_ok),
        "copies": Param(int, 4, "copies per source example", _copies_ok),
        "side": Param(str, "auto", "sentence pairs: which side(s) to augment (auto = both)", _side_ok),
    }

    def __init__(self, spec_key: str = "", **params: Any):
        self.params = self.validate_params(params)
        self.spec_key = spec_key or self.method
        self.recorded_params = self.params  # what rows record (aug_params); see recorded_as
        for name, value in self.params.items():
            setattr(self, name, value)

    def recorded_as(self, params: dict[str, Any]) -> Augmenter:
        """Rows record these params instead of the ones it runs with: the spec as the user gave it,
        where a job's workers run with its local paths made absolute (Recipe.with_absolute_paths)."""
        self.recorded_params = self.validate_params(params)
        return self

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        unknown = set(params) - set(cls.PARAMS)
        if unknown:
            raise AugmentSpecError(
                f"{cls.method}: unknown parameter(s) {sorted(unknown)}; it takes {sorted(cls.PARAMS)}"
            )
        out = {}
        for name, p in cls.PARAMS.items():
            value = params.get(name, p.default)
            try:
                value = _coerce(value, p.type)
            except (TypeError, ValueError):
                raise AugmentSpecError(f"{cls.method}: {name}={value!r} is not a valid {p.type.__name__}") from None
            if p.check and value is not None and (msg := p.check(value)):
                raise AugmentSpecError(f"{cls.method}: {name}={value!r} {msg}")
            out[name] = value
        return out

    def aug_params_json(self) -> str:
        return json.dumps({"method": self.method, **self.recorded_params}, sort_keys=True)

    def setup(self) -> None:  # noqa: B027 - a no-op by default: not every augmenter loads anything
        """Loads heavy assets; called once per worker before the first batch."""

    def check(self) -> None:
        """Fails with a clear message when something setup() needs is missing: run before any work, on
        the machine that builds the job. By default a whole setup(); augmenters whose assets are quick
        to find but slow to load (WordNet: ~3 s) override it, since every worker loads them anyway."""
        self.setup()

    def draw(
        self,
        sources: Sequence[SourceExample],
        sides: Sequence[Sequence[int]],
        draft: Drafter,
        seed: int,
        *,
        together: bool,
        max_attempts: int,
        eligible: Sequence[bool] | None = None,
    ) -> list[AugmentResult]:
        """This augmenter's copies of `sources`, drafted by `draft` (see augment/draw.py)."""
        return draw_copies(
            sources,
            sides,
            draft,
            seed=seed,
            spec_key=self.spec_key,
            copies=self.copies,
            max_attempts=max_attempts,
            together=together,
            eligible=eligible,
            short_ratio=self.short_ratio(),
        )

    def short_ratio(self) -> float | None:
        """The ratio whose short texts get copies only with probability ratio x words (draw_copies), or
        None: every copy is drawn."""
        return None

    def sides_of(self, source: SourceExample) -> list[int]:
        """The sides (0 text, 1 text_pair) this augmenter changes: `side`, with auto = both."""
        if source.text_pair is None or self.side == "text":
            return [0]
        return [1] if self.side == "pair" else [0, 1]

    @abstractmethod
    def augment_batch(self, sources: Sequence[SourceExample], seed: int) -> list[AugmentResult]:
        """One AugmentResult per source, in order."""


def _coerce(value: Any, typ: type) -> Any:
    if value is None or isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
        return value
    if typ is bool:
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(value)
    if typ is int:
        f = float(value)
        if not f.is_integer():
            raise ValueError(value)
        return int(f)
    return typ(value)
