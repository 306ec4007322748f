"""A recipe: everything that decides what a materialized dataset contains, as plain values.

It comes from a YAML file (`--config recipe.yaml`), from flags, or both (flags win). The whole recipe is
stored in every Parquet file's metadata and in the manifest, so a dataset says how it was made. Nothing
about *how* it was run (runner, worker count) belongs here: those never change the rows.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from kdaug.core.augment import AugmentSpec, parse_augment_spec
from kdaug.core.corpus import FORMATS, RANGE_BYTES, ColumnSpec, parse_label_map
from kdaug.core.errors import KdaugError
from kdaug.core.flags import check_keywords, given, keyword_checked, option
from kdaug.core.precision import PRECISIONS
from kdaug.core.schema import SoftLabels

SPLIT_RE = r"^[A-Za-z0-9_.]+$"
CARD_FIELDS = ("license", "source_datasets", "language", "pretty_name", "task_ids", "role")


def _whole(value: Any, least: int | None) -> bool:
    """An int (not a bool) of at least `least` (None: any)."""
    return isinstance(value, int) and not isinstance(value, bool) and (least is None or value >= least)


class RecipeError(KdaugError, ValueError):
    """A recipe value is invalid; the message names it."""


def with_teacher_default(spec: AugmentSpec, teacher: str) -> AugmentSpec:
    """Augmenters that use a model's embeddings default to the teacher's, and the context check of
    synonym and kNN candidates to the teacher as encoder (both written into the recipe)."""
    params = dict(spec.params)
    wants_model = "model" in params and params["model"] is None
    if wants_model and (spec.method != "knn" or params.get("source") == "teacher"):
        params["model"] = teacher
    if "context" in params and params["context"] is None:
        params["context"] = teacher
    return spec if params == spec.params else AugmentSpec(spec.method, params)


def _absolute_unless_remote(path: str) -> str:
    """A local path (or glob) made absolute; a URL (gs://, s3://, hf://) as it is."""
    return path if "://" in path else os.path.abspath(os.path.expanduser(path))


def _absolute_if_local(value: Any) -> Any:
    """A string naming an existing local file or directory made absolute; anything else (a hub id, a
    number, a keyword) as it is."""
    if isinstance(value, str) and "://" not in value and os.path.exists(os.path.expanduser(value)):
        return os.path.abspath(os.path.expanduser(value))
    return value


@keyword_checked
@dataclass
class Recipe:
    input: str
    output: str
    teacher: str
    augment: list[AugmentSpec] = field(default_factory=list)
    seed: int = 0
    split: str = "train"
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str | None = "label"
    id_column: str | None = None
    label_map: dict[str, str] = field(default_factory=dict)
    input_format: str | None = None
    input_split: str | None = None  # for a saved DatasetDict: which of its splits to read (default: split)
    csv_header: bool = True
    max_length: int | None = None
    device: str = "auto"
    inference_batch_size: int = 256  # most sequences per forward pass (the token budget usually binds first)
    teacher_precision: str = "auto"  # auto: bf16/fp16 autocast on a GPU, fp32 on the CPU
    # How the teacher's logits are stored: float32 | float16, optionally top-k ("float16,topk:5").
    soft_labels: SoftLabels | str | dict | None = None
    # Source records per chunk: the unit of work, of batching and of output files. Chunks are fixed by
    # the corpus, so batches (and the last bits of batched model outputs) are the same on any runner.
    chunk_size: int = 4096
    # A JSONL/CSV/TSV file larger than this is read as byte ranges of this size (0: never split), so a
    # corpus of one big file still spreads over workers. Ranges end chunks, so this is fixed here too.
    input_range_bytes: int = RANGE_BYTES
    trust_remote_code: bool = False
    # A text with more words than this is written whole and labelled, but augmented only within its first
    # max_words words (the rest follows each copy verbatim): one record's cost stays bounded. None: no limit.
    max_words: int | str | None = 2000
    notes: list[str] = field(default_factory=list)  # shown in the dataset card
    # Role-wise augmentation (Fu et al.): {role: {recipe key: value}}, e.g. a light policy for the
    # teacher's fine-tuning data and a heavy one for the student's distillation data. Each role is
    # materialized as its own dataset, OUTPUT/ROLE, with its overrides applied to this recipe.
    roles: dict[str, dict] | None = None
    # The dataset card's metadata (CARD_FIELDS: never the rows, so not part of the job): the data's licence
    # (a Hub licence id; None: "unknown", with a warning), the datasets it comes from (Hub ids or URLs),
    # its languages (the augmenters' assets are English), a display name, the Hub task ids.
    license: str | None = None
    source_datasets: list[str] = field(default_factory=list)
    language: list[str] = field(default_factory=lambda: ["en"])
    pretty_name: str | None = None
    task_ids: list[str] = field(default_factory=list)
    # Which role's dataset of a role-wise recipe this is (role_recipes sets it; the card names the role and
    # cites the role-wise paper). Card metadata: the rows do not depend on it.
    role: str | None = None

    def __post_init__(self):
        self._check_card_fields()
        self._parse_given_forms()
        self._check_values()
        self._check_roles()

    def _check_card_fields(self) -> None:
        from kdaug.core.publishing.card import check_card_fields

        for name in ("source_datasets", "language", "task_ids"):
            if isinstance(getattr(self, name), str):
                setattr(self, name, [getattr(self, name)])
        try:
            check_card_fields(self.license, self.language, self.task_ids)
        except ValueError as err:
            raise RecipeError(str(err)) from None

    def _parse_given_forms(self) -> None:
        """Every accepted form (a spec string, 'none', '-1=negative', ...) into the one the job uses."""
        if isinstance(self.augment, (str, AugmentSpec, dict)):
            self.augment = [self.augment]  # one spec given alone, not in a list
        self.augment = [
            with_teacher_default(a if isinstance(a, AugmentSpec) else parse_augment_spec(a), self.teacher)
            for a in self.augment
        ]
        self.label_map = parse_label_map(self.label_map)
        if self.label_column in ("", "none", "None"):
            self.label_column = None
        try:
            self.soft_labels = SoftLabels.parse(self.soft_labels)
        except ValueError as err:
            raise RecipeError(f"{option('soft_labels')}: {err}") from None
        if isinstance(self.max_words, str) and self.max_words.lower() == "none":
            self.max_words = None

    def _check_values(self) -> None:
        if not re.match(SPLIT_RE, self.split or ""):
            raise RecipeError(f"{given('split', self.split)} must be letters, digits, '_' or '.'")
        if self.input_format is not None and self.input_format not in FORMATS:
            raise RecipeError(f"{given('input_format', self.input_format)} is not one of {FORMATS}")
        if self.teacher_precision not in PRECISIONS:
            raise RecipeError(f"{given('teacher_precision', self.teacher_precision)} is not one of {PRECISIONS}")
        if not _whole(self.chunk_size, 1):
            raise RecipeError(f"{option('chunk_size')} must be a positive integer")
        if not _whole(self.input_range_bytes, 0):
            raise RecipeError(f"{option('input_range_bytes')} must be a whole number of bytes (0: never split a file)")
        if self.max_words is not None and not _whole(self.max_words, 1):
            raise RecipeError(f"{option('max_words')} must be a positive whole number of words (or none for no limit)")
        if self.inference_batch_size < 1:
            raise RecipeError(f"{option('inference_batch_size')} must be at least 1")
        if self.max_length is not None and self.max_length < 8:
            raise RecipeError(f"{option('max_length')} must be at least 8")
        if not _whole(self.seed, None):
            raise RecipeError(f"{option('seed')} must be an integer, got {self.seed!r}")

    def _check_roles(self) -> None:
        if self.roles is None:
            return
        if not isinstance(self.roles, dict) or not self.roles:
            raise RecipeError("roles must be a mapping of role name to recipe overrides")
        for role, overrides in self.roles.items():
            if not re.match(SPLIT_RE, str(role)) or not isinstance(overrides, dict):
                raise RecipeError(f"role {role!r}: needs a simple name and a mapping of overrides")
            bad = set(overrides) - {f.name for f in dataclasses.fields(self)} | (
                {"roles", "role", "input", "output"} & set(overrides)
            )
            if bad:
                raise RecipeError(f"role {role!r}: cannot override {sorted(bad)}")

    def role_recipes(self) -> list[tuple[str, Recipe]]:
        """[(role, recipe)] with each role's overrides applied and output OUTPUT/ROLE; [] without roles."""
        if not self.roles:
            return []
        base = {k: v for k, v in self.to_dict().items() if k != "roles"}
        out = []
        for role, overrides in self.roles.items():
            values = {
                **base,
                **{k.replace("-", "_"): v for k, v in overrides.items()},
                "output": f"{self.output.rstrip('/')}/{role}",
                "role": role,
            }
            out.append((role, Recipe(**values)))
        return out

    def jobs(self) -> list[tuple[str | None, Recipe]]:
        """What materializing the recipe runs: (role, recipe) per role, or [(None, self)] without roles."""
        return [*self.role_recipes()] or [(None, self)]

    @property
    def soft_label_format(self) -> SoftLabels:
        """soft_labels as __post_init__ parsed it (a string, dict or None given)."""
        assert isinstance(self.soft_labels, SoftLabels)
        return self.soft_labels

    @property
    def word_window(self) -> int | None:
        """max_words as __post_init__ checked it (None: no limit)."""
        assert self.max_words is None or isinstance(self.max_words, int)
        return self.max_words

    @property
    def columns(self) -> ColumnSpec:
        return ColumnSpec(self.text_column, self.text_pair_column, self.label_column, self.id_column)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["augment"] = [a.to_dict() for a in self.augment]
        d["soft_labels"] = SoftLabels.parse(self.soft_labels).to_dict()
        return d

    def dataset_recipe(self) -> dict[str, Any]:
        """The part that decides the rows (no output path, no card metadata): what goes into the Parquet
        metadata and the job's fingerprint."""
        d = self.to_dict()
        for key in ("output", *CARD_FIELDS):
            d.pop(key)
        return d

    def with_absolute_paths(self) -> Recipe:
        """The recipe as the job's workers must see it: every local path it names (input, output, a
        local teacher, an augmenter's model or reference directory) made absolute. A worker of a
        portable runner (Flink, Spark, Dataflow, Beam's worker pool) runs in its own working directory,
        where a relative path names another file or none. What a dataset records stays the recipe as
        given (`dataset_recipe`), so its bytes do not depend on the directory the job was started in
        and a published dataset does not carry the author's home directory."""
        augment = [AugmentSpec(a.method, {k: _absolute_if_local(v) for k, v in a.params.items()}) for a in self.augment]
        return dataclasses.replace(
            self,
            input=_absolute_unless_remote(self.input),
            output=_absolute_unless_remote(self.output),
            teacher=_absolute_if_local(self.teacher),
            augment=augment,
        )

    def card_info(self) -> dict[str, Any]:
        """The dataset card's metadata, as the manifest keeps it."""
        return {key: getattr(self, key) for key in CARD_FIELDS}

    @classmethod
    def from_sources(cls, config_path: str | None = None, **overrides: Any) -> Recipe:
        """A recipe from a YAML file (`config_path`) with `overrides` on top (None values are not given)."""
        known = [f.name for f in dataclasses.fields(cls)]
        values: dict[str, Any] = {}
        if config_path:
            try:
                with open(config_path, encoding="utf-8") as f:
                    loaded = yaml.safe_load(f) or {}
            except OSError as err:
                raise RecipeError(f"cannot read {given('config', config_path)}: {err.strerror}") from None
            if not isinstance(loaded, dict):
                raise RecipeError(f"{given('config', config_path)} must be a YAML mapping")
            values.update({k.replace("-", "_"): v for k, v in loaded.items()})
            check_keywords(values, known, f"the recipe file {config_path!r}")
        keywords = {k: v for k, v in overrides.items() if v is not None}
        check_keywords(keywords, known, "kdaug.materialize()")
        values.update(keywords)
        for required in ("input", "output", "teacher"):
            if not values.get(required):
                where = "a flag" if option(required).startswith("--") else "a keyword"
                raise RecipeError(f"{option(required)} is required (as {where} or in {option('config')} YAML)")
        return cls(**values)
