"""What the sweep and the comparison share: training subsets, datasets materialized once and reused by a
rerun, and per-seed scores with paired bootstraps against baselines.

Both are long jobs of many datasets and many trainings. A killed one is run again with the same command:
every dataset whose materialization finished (same recipe, teacher and input bytes) is reused as it is,
and every training resumes from its last checkpoint (or returns at once when it had finished).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("kdaug")

# A dataset an experiment makes for its own trainings is not one to publish: its card says licence "unknown"
# (the source corpus's terms still apply) without materialize's reminder for each of them.
WORKING_DATASET_CARD: dict[str, Any] = {"license": "unknown"}

MARKER = ".kdaug-experiment.json"  # beside a dataset: what it was materialized from (the experiment's own record)


def stratified_subset(src: str, dest: Path, size: int, id_column: str | None, label_column: str = "label") -> Path:
    """The first `size` records of `src` in a stable order, in each label's share of the corpus: per label,
    records ordered by a sha256 of their id (of their position where there is no id column). So subsets
    of one corpus are nested (the 500 are among the 1,000) and the same on every machine. Written as JSONL
    (the records' fields as read), once; returns `dest`."""
    from kdaug.core.corpus.plan import plan_read_units
    from kdaug.core.corpus.read import read_unit
    from kdaug.core.errors import KdaugError

    if dest.is_file():
        return dest
    records = [
        (rec.fields, rec.position)
        for unit in plan_read_units(src)
        for rec in read_unit(unit)
        if isinstance(rec.fields, dict)
    ]
    if size > len(records):
        raise KdaugError(f"a training subset of {size} records asked of {src}, which has {len(records)}")
    if any(label_column not in fields for fields, _ in records):
        raise KdaugError(f"{src}: a record has no {label_column!r} column, so a subset cannot keep the label shares")
    by_label: dict[str, list[tuple[dict, str]]] = {}
    for rec in records:
        by_label.setdefault(json.dumps(rec[0][label_column], sort_keys=True), []).append(rec)

    def key(rec: tuple[dict, str]) -> str:
        fields, position = rec
        ident = str(fields[id_column]) if id_column and fields.get(id_column) is not None else position
        return hashlib.sha256(ident.encode("utf-8")).hexdigest()

    # Each label's quota by largest remainder, so the quotas add up to `size` exactly.
    shares = {label: size * len(rows) / len(records) for label, rows in by_label.items()}
    quota = {label: int(s) for label, s in shares.items()}
    for label in sorted(shares, key=lambda lb: (quota[lb] - shares[lb], lb))[: size - sum(quota.values())]:
        quota[label] += 1
    kept = {id(rec) for label, rows in by_label.items() for rec in sorted(rows, key=key)[: quota[label]]}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for rec in records:  # in the corpus's own order
            if id(rec) in kept:
                f.write(json.dumps(rec[0], ensure_ascii=False) + "\n")
    os.replace(tmp, dest)
    return dest


def input_digest(plan) -> str:
    """sha256 over the bytes of every file the plan reads (the experiments' corpora are local and small)."""
    import fsspec

    h = hashlib.sha256()
    for path in sorted({unit.path for unit in plan.units}):
        h.update(path.encode("utf-8"))
        with fsspec.open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def materialize_once(plan, beam_args: list[str], command: str) -> dict:
    """The plan's dataset: reused when an earlier run of the same job (recipe, teacher, kdaug version) on
    the same input bytes completed it, else materialized (an interrupted run's staged chunks reused)."""
    from kdaug.core.dataset import COMPLETE, DatasetDir
    from kdaug.pipelines.materialize import run as materialize

    recipe = plan.recipe
    marker = Path(recipe.output) / MARKER
    want = {"job": plan.job, "input_sha256": input_digest(plan)}
    manifest = DatasetDir(recipe.output).read_manifest()
    split = (manifest or {}).get("splits", {}).get(recipe.split, {})
    if marker.is_file() and split.get("state") == COMPLETE:
        seen = json.loads(marker.read_text())
        if {k: seen.get(k) for k in want} == want and seen.get("created") == split.get("created"):
            log.info("%s: complete from an earlier run of the same job; reused", recipe.output)
            return manifest  # type: ignore[return-value]
    manifest = materialize(recipe, beam_args, command, plan=plan)
    created = manifest["splits"][recipe.split]["created"]  # type: ignore[index]
    marker.write_text(json.dumps({**want, "created": created}, indent=2) + "\n")
    return manifest  # type: ignore[return-value]


def scores(metrics: list[dict]) -> dict:
    """Per seed: test and dev (best-epoch) accuracy and macro-F1."""
    return {
        "test_accuracy": [m["test"]["accuracy"] for m in metrics],
        "test_macro_f1": [m["test"]["macro_f1"] for m in metrics],
        "dev_accuracy": [m["best"]["accuracy"] for m in metrics],
        "dev_macro_f1": [m["best"]["macro_f1"] for m in metrics],
    }


def gap_closed(student: float, gold_only: float, teacher: float) -> float | None:
    """The share of the teacher's lead over the gold-labels-only student that `student` closes (None when
    the teacher is not ahead)."""
    return (student - gold_only) / (teacher - gold_only) if teacher > gold_only else None


def teacher_headroom(teacher: float, reference: Sequence[float], name: str = "the gold-labels-only student") -> str:
    """One line on the teacher beside a reference student (test accuracies): the lead distillation can close
    or, said plainly, that there is none to speak of. Clearly ahead: by more than 2 points (on a few hundred
    test examples, about the standard error of a paired difference of two models twice over) and more than
    twice the reference's spread over seeds."""
    mean = statistics.mean(reference)
    spread = statistics.stdev(reference) if len(reference) > 1 else 0.0
    lead = teacher - mean
    if lead > max(0.02, 2 * spread):
        return (
            f"The teacher ({100 * teacher:.1f} test accuracy) leads {name} ({mean_std(reference)}) by "
            f"{100 * lead:.1f} points: the gap distillation can close."
        )
    return (
        f"Note: the teacher ({100 * teacher:.1f} test accuracy) is not clearly better than {name} "
        f"({mean_std(reference)}). A student learns from the teacher's soft labels only what the teacher knows "
        "beyond the gold labels, so KD, and augmentation with it, have little to add here: fine-tune the teacher "
        "longer or from a larger model, and check its accuracy before distilling."
    )


def mean_std(xs: Sequence[float]) -> str:
    """'77.1 ± 2.5' in points (one value: no spread)."""
    if len(xs) == 1:
        return f"{100 * xs[0]:.1f}"
    return f"{100 * statistics.mean(xs):.1f} ± {100 * statistics.stdev(xs):.1f}"


SCORED = ("test_accuracy", "test_macro_f1", "dev_accuracy")  # the columns a results table shows, in order


def scored_cells(scored: dict) -> list[str]:
    """A model's SCORED columns as a table shows them (mean ± std over seeds), from scores()."""
    return [mean_std(scored[k]) for k in SCORED]


def paired(name_a: str, name_b: str, runs_a: list[dict], runs_b: list[dict]) -> dict:
    """A's and B's runs (metrics with test predictions) compared by a paired bootstrap over the test
    examples (kdaug.stats)."""
    from kdaug import stats

    gold = runs_a[0]["test"]["gold"]
    result = stats.paired_bootstrap(
        stats.correctness([m["test"]["predictions"] for m in runs_a], gold),
        stats.correctness([m["test"]["predictions"] for m in runs_b], gold),
    )
    return {"a": name_a, "b": name_b, **result}


def slug(text: str) -> str:
    """A directory name for an entry or a dataset: readable, with a hash so two never collide."""
    shown = re.sub(r"=[^,\"]*/[^,\"]*", "=path", text)  # a reference's path would crowd out the rest
    readable = re.sub(r"[^a-z0-9.]+", "-", shown.lower()).strip("-")[:40]
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
