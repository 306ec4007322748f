"""Label spaces: the teacher's classes, and how a corpus's labels (ints, int strings, names, or values
mapped by --label-map) resolve onto them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kdaug.core.corpus.records import BadRecord, CorpusError
from kdaug.core.flags import option

INTEGRAL = re.compile(r"[+-]?\d+(\.0*)?")  # an integer, possibly written as a float with no fraction


@dataclass
class LabelSpace:
    """The teacher's classes, and how corpus labels (ints, int strings or names) map onto them."""

    id2label: dict[int, str]
    label_map: dict[str, str] = field(default_factory=dict)  # corpus value -> teacher index or name

    def __post_init__(self):
        self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
        self._by_name = {v: k for k, v in self.id2label.items()}
        self._by_folded = {v.casefold(): k for k, v in self.id2label.items()}

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    def names(self) -> list[str]:
        return [self.id2label[i] for i in range(self.num_labels)]

    def resolve(self, value: Any) -> int | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if self.label_map:
            key = _label_key(value)
            if key not in self.label_map:
                raise BadRecord(f"label {value!r} is not in --label-map ({', '.join(self.label_map)})")
            value = self.label_map[key]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise BadRecord(f"label has type {type(value).__name__}; expected an int or a label name")
        if isinstance(value, float):
            if not value.is_integer():
                raise BadRecord(f"label {value!r} is not an integer")
            value = int(value)
        if isinstance(value, str):
            s = value.strip()
            if INTEGRAL.fullmatch(s):  # "1", and "1.0" as pandas writes an int column with gaps
                value = int(s.partition(".")[0])
            elif s in self._by_name:
                return self._by_name[s]
            elif s.casefold() in self._by_folded:
                return self._by_folded[s.casefold()]
            else:
                raise BadRecord(f"unknown label name {s!r}; the teacher's labels are {self.names()}")
        if not 0 <= value < self.num_labels:
            raise BadRecord(f"label {value} is out of range for a teacher with {self.num_labels} classes")
        return value


def _label_key(value: Any) -> str:
    """A corpus label as --label-map keys spell it: 1, 1.0 and "1.0" are all "1"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    key = str(value).strip()
    return key.partition(".")[0] if INTEGRAL.fullmatch(key) else key


def parse_label_map(spec: str | dict | None) -> dict[str, str]:
    """'-1=negative,1=positive' (or a dict from a recipe) -> {'-1': 'negative', '1': 'positive'}."""
    if not spec:
        return {}
    if isinstance(spec, dict):
        return {_label_key(k): str(v) for k, v in spec.items()}
    out = {}
    for item in spec.split(","):
        if "=" not in item:
            raise CorpusError(f"{option('label_map')} item {item!r} is not of the form CORPUS_VALUE=TEACHER_LABEL")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out
