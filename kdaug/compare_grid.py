"""`kdaug compare`'s grid: the built-in entries (each augmenter at the degree and copies the papers
recommend for KD) and a --grid YAML file's, validated into typed entries."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN_OBJECTIVES = ["distill", "finetune"]
KD_ONLY = ["distill"]  # AugPro's mixed or perturbed copies have no gold label of their own: KD only

# The built-in grid: each augmenter at the degree and copies the papers recommend for KD (30% changed
# tokens, 4 copies), copies 8 and 16 for the cheapest, AugPro's variants, and the teacher's filters.
# Degrees against dataset size are `kdaug sweep`'s job.
DEFAULT_GRID: list[dict] = [
    {"name": "no augmentation", "augment": [], "objectives": TOKEN_OBJECTIVES},
    {"name": "synonym 0.3 x4", "augment": ["synonym:ratio=0.3,copies=4"], "objectives": TOKEN_OBJECTIVES},
    {"name": "synonym 0.3 x8", "augment": ["synonym:ratio=0.3,copies=8"], "objectives": KD_ONLY},
    {"name": "synonym 0.3 x16", "augment": ["synonym:ratio=0.3,copies=16"], "objectives": KD_ONLY},
    {"name": "knn glove 0.3 x4", "augment": ["knn:ratio=0.3,copies=4"], "objectives": TOKEN_OBJECTIVES},
    {
        "name": "knn teacher-embeddings 0.3 x4",
        "augment": ["knn:source=teacher,ratio=0.3,copies=4"],
        "objectives": TOKEN_OBJECTIVES,
    },
    {"name": "augpro_mix mu=0.5 x4", "augment": ["augpro_mix:mu=0.5,ties=coin,copies=4"], "objectives": KD_ONLY},
    {"name": "augpro_mix mu~Beta(0.5) x4", "augment": ["augpro_mix:mu=beta:0.5,copies=4"], "objectives": KD_ONLY},
    {"name": "augpro_fgsm x4", "augment": ["augpro_fgsm:copies=4"], "objectives": KD_ONLY},
    {
        "name": "synonym 0.3 x4, teacher KL to source <= median",
        "augment": ["synonym:ratio=0.3,copies=4"],
        "objectives": KD_ONLY,
        "train": {"max_teacher_kl_to_source": "q50"},
    },
    {
        "name": "synonym 0.3 x4, teacher entropy <= median",
        "augment": ["synonym:ratio=0.3,copies=4"],
        "objectives": KD_ONLY,
        "train": {"max_teacher_entropy": "q50"},
    },
]
MLM_ENTRY = {"name": "mlm 0.3 x4", "augment": ["mlm:model={mlm},ratio=0.3,copies=4"], "objectives": TOKEN_OBJECTIVES}
REFERENCE = "no augmentation"
FILTERS = {"max_teacher_kl_to_source": "teacher_kl_to_source", "max_teacher_entropy": "teacher_entropy"}


@dataclass
class GridEntry:
    """One entry of the grid: an augmentation recipe, the objectives it is trained with, and the training
    options (a filter on the copies) it adds."""

    name: str
    augment: list[str]  # --augment specs, in one dataset ([]: the reference)
    objectives: list[str]
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields; qNN: a percentile of the copies
    chosen_on: str | None = None  # "dev": made from the first round's results (the mix), never from test

    @property
    def dataset_key(self) -> str:
        return dataset_key(self.augment)

    @property
    def single_method(self) -> str | None:
        """The method of an entry of one augment spec, unfiltered; else None (the mix considers only these)."""
        from kdaug.core.augment import method_of

        return method_of(self.augment[0]) if len(self.augment) == 1 and not self.train else None


def load_grid(args) -> list[GridEntry]:
    """The entries to run, validated: names unique, objectives known, train options TrainConfig fields."""
    import dataclasses

    import yaml

    from kdaug.core.errors import KdaugError
    from kdaug.trainers.config import TrainConfig

    if args.grid:
        try:
            grid = yaml.safe_load(Path(args.grid).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise KdaugError(f"--grid {args.grid}: {err}") from None
        if not isinstance(grid, list) or not all(isinstance(e, dict) for e in grid):
            raise KdaugError(f"--grid {args.grid}: expected a YAML list of entries (name, augment, ...)")
    else:
        grid = [dict(e) for e in DEFAULT_GRID]
    if args.mlm:
        grid.append({**MLM_ENTRY, "augment": [a.format(mlm=args.mlm) for a in MLM_ENTRY["augment"]]})
    if not any(e.get("name") == REFERENCE for e in grid):
        grid.insert(0, {"name": REFERENCE, "augment": [], "objectives": TOKEN_OBJECTIVES})
    for flag, names in (("--only", args.only), ("--skip", args.skip)):
        unknown = set(names or []) - {e.get("name") for e in grid}
        if unknown:
            raise KdaugError(f"{flag}: no entry named {sorted(unknown)}; the grid has {[e.get('name') for e in grid]}")
    if args.only:
        grid = [e for e in grid if e["name"] in set(args.only) | {REFERENCE}]
    grid = [e for e in grid if e["name"] not in set(args.skip or [])]
    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    if not objectives or not set(objectives) <= set(TOKEN_OBJECTIVES):
        raise KdaugError("--objectives takes distill and/or finetune")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    names = set()
    for e in grid:
        name = e.get("name")
        if not name or name in names:
            raise KdaugError(f"grid entry {e!r}: every entry needs a name of its own")
        names.add(name)
        if not isinstance(e.get("augment", []), list):
            raise KdaugError(f"grid entry {name!r}: augment is a list of --augment specs")
        unknown = set(e.get("train", {})) - fields
        if unknown:
            raise KdaugError(f"grid entry {name!r}: train options {sorted(unknown)} are not training options")
        unknown = set(e) - {f.name for f in dataclasses.fields(GridEntry)}
        if unknown:
            raise KdaugError(f"grid entry {name!r}: unknown keys {sorted(unknown)} (name, augment, objectives, train)")
    entries = [
        GridEntry(
            name=e["name"],
            augment=list(e.get("augment", [])),
            objectives=[o for o in e.get("objectives", objectives) if o in objectives],
            train=dict(e.get("train", {})),
            chosen_on=e.get("chosen_on"),
        )
        for e in grid
    ]
    return [e for e in entries if e.objectives]


def dataset_key(augment: list[str]) -> str:
    return json.dumps(augment)
