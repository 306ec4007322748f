"""kdaug's Python API: the same three jobs as the command line, as functions.

    kdaug.materialize(recipe)            -> the manifest (with roles: {role: manifest})
    kdaug.distill(data, student=..., eval=..., output=...)   -> metrics
    kdaug.finetune(data, student=..., eval=..., output=...)  -> metrics

Each raises a KdaugError subclass, before any work, when an argument, a model, a column or an asset is
wrong; the message says which and why.
"""

from __future__ import annotations

import logging
from typing import Any

from kdaug.core.recipe import Recipe

log = logging.getLogger("kdaug")


def materialize(
    recipe: Recipe | None = None,
    /,
    *,
    config: str | None = None,
    beam_args: list[str] | tuple = (),
    scale: Any = None,
    **fields: Any,
) -> dict | None:
    """Augments a corpus, labels every row with the teacher and writes the dataset (Parquet, manifest,
    card). Give a Recipe, or its fields as keywords (`input=`, `output=`, `teacher=`, `augment=[...]`,
    ...), optionally on top of a recipe YAML (`config=`). `beam_args` are Apache Beam pipeline options
    (default: the DirectRunner in this process); `scale` a kdaug.pipelines.materialize.Scale (threads,
    teacher copies, right fitting). Returns the manifest, or {role: manifest} for a recipe with roles."""
    from kdaug.pipelines.materialize import materialize_recipe

    if recipe is None:
        recipe = Recipe.from_sources(config, **fields)
    elif config is not None or fields:
        raise TypeError("materialize() takes a Recipe or recipe fields, not both")
    manifests = materialize_recipe(recipe, list(beam_args), command="kdaug.materialize()", scale=scale)
    for role, job in recipe.jobs():
        entry = (manifests.get(role) or {}).get("splits", {}).get(job.split, {})
        if entry.get("records_dead_lettered"):
            log.warning(
                "%s: %d of %d records rejected, each with its position, reason and the record as read, in %s",
                job.output,
                entry["records_dead_lettered"],
                entry["records_read"],
                ", ".join(f"{job.output}/{name}" for name in entry.get("dead_letter_files", [])),
            )
    return manifests[None] if list(manifests) == [None] else manifests


def distill(data: str, *, student: str, eval: str, output: str, **options: Any) -> dict:
    """Distills `student` from a materialized dataset (KD on the teacher's logits, CE on the originals'
    gold labels); `options` are kdaug.trainers.config.TrainConfig fields (epochs, temperature, alpha,
    methods, eval_text_column, ...; every field is listed in docs/training.md and help(kdaug.TrainConfig)).
    Returns the metrics (per epoch, and the best epoch)."""
    return _train("distill", data, student, eval, output, options)


def finetune(data: str, *, student: str, eval: str, output: str, **options: Any) -> dict:
    """Fine-tunes `student` on gold labels: of a materialized dataset (copies inherit their source's
    label), or of a plain labelled corpus (how a teacher is made: student="hf:model=minilm")."""
    return _train("finetune", data, student, eval, output, options)


def _train(objective: str, data: str, student: str, eval: str, output: str, options: dict) -> dict:
    from dataclasses import fields

    from kdaug.core.flags import check_keywords
    from kdaug.trainers.config import TrainConfig
    from kdaug.trainers.train import train

    own = ("data", "student", "eval", "output", "objective")
    check_keywords(
        options, [f.name for f in fields(TrainConfig) if f.name not in own] + ["progress"], f"kdaug.{objective}()"
    )
    options.setdefault("progress", False)
    progress = options.pop("progress")
    return train(
        TrainConfig(data=data, student=student, eval=eval, output=output, objective=objective, **options),
        progress=progress,
    )
