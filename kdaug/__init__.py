"""kdaug: materialize knowledge-distillation datasets offline, and distill small students from them.

    import kdaug

    recipe = kdaug.Recipe(input="train.jsonl", output="out/kd", teacher="runs/teacher/best",
                          augment=["synonym:ratio=0.3,copies=4"], seed=13)
    manifest = kdaug.materialize(recipe)                       # the Beam pipeline; DirectRunner by default
    metrics = kdaug.distill("out/kd", student="bilstm", eval="dev.jsonl", output="runs/bilstm-kd")
    teacher = kdaug.finetune("train.jsonl", student="hf:model=minilm", eval="dev.jsonl", output="runs/teacher")
    model = kdaug.load_model("runs/bilstm-kd/best")           # a student or a teacher, run on new text
    model.predict(["a gripping, funny film"])                  # ['positive']; predict_proba: probabilities

The package is layered: `kdaug.core` (augmenters, shift, teacher inference, schema access, assets),
`kdaug.pipelines` (Beam, over core), `kdaug.trainers` (PyTorch, over core), `kdaug.schemas` (the
versioned dataset schema both read); this package's own modules (the API below, the CLI, the demo and
the sweep) are the only ones that drive both sides. Names are imported on first use, so `import kdaug`
stays cheap.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = _metadata.version("kdaug")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["KdaugError", "Recipe", "TrainConfig", "__version__", "distill", "finetune", "load_model", "materialize"]

if TYPE_CHECKING:
    from kdaug.api import distill, finetune, materialize
    from kdaug.core.errors import KdaugError
    from kdaug.core.recipe import Recipe
    from kdaug.trainers.config import TrainConfig
    from kdaug.trainers.inference import load_model

_LAZY = {
    "Recipe": "kdaug.core.recipe",
    "TrainConfig": "kdaug.trainers.config",
    "KdaugError": "kdaug.core.errors",
    "materialize": "kdaug.api",
    "distill": "kdaug.api",
    "finetune": "kdaug.api",
    "load_model": "kdaug.trainers.inference",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kdaug' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
