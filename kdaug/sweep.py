"""`kdaug sweep`: which semantic-shift degree is best, for fine-tuning and for distillation, and does the
answer depend on the dataset's size?

A grid over degree (changed-token ratio) x augmentation method x objective (finetune: students on gold
labels, copies inheriting their source's label; distill: KD on the teacher's soft labels) x training-set
size (`--sizes`: nested, label-balanced subsets of --input), several seeds. Degree 0 is the reference
without augmentation (the originals alone, with each objective). Each (method, degree, size) is
materialized once through the Beam pipeline and shared by both objectives and all seeds. Writes
results.json, results.md (mean ± std, the best degree per objective, method and size marked, each
objective's best degree against degree 0 with a paired bootstrap when --test is given) and sweep.png
(accuracy against degree, one line per objective and method, one panel per size). Run again with the
same command, a killed sweep reuses its finished datasets and resumes its trainings.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kdaug sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--input", required=True, help="labelled training corpus")
    p.add_argument(
        "--eval", required=True, help="held-out labelled corpus: picks each run's best epoch and the best degree"
    )
    p.add_argument("--test", help="a second held-out corpus the tables report (default: they report --eval)")
    p.add_argument("--teacher", required=True, help="fine-tuned teacher (directory or hub id)")
    p.add_argument("--output", required=True)
    p.add_argument("--degrees", default="0.1,0.3,0.5", help="changed-token ratios (0, the originals alone, is added)")
    p.add_argument("--methods", default="synonym", help="comma-separated augmenters (synonym, knn, mlm:model=...)")
    p.add_argument("--objectives", default="finetune,distill")
    p.add_argument("--sizes", help="training-set sizes: nested, label-balanced subsets of --input (default: all of it)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--student", default="bilstm:hidden=150,embeddings=glove")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument(
        "--min-steps",
        type=int,
        default=0,
        help="train each run for at least this many batches (more epochs on small data), so a small "
        "training set is not also a short training",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--id-column")
    p.add_argument("--label-column", default="label")
    p.add_argument(
        "--parallel",
        type=int,
        help="trainings at once, each on its own share of the cores (default: one per core)",
    )
    return p


class Cell(NamedTuple):
    """One cell of the grid: its runs' metrics are grouped by it (degree 0: the originals alone)."""

    method: str
    degree: float
    size: int | None  # training-set size (None: all of --input)
    objective: str


@dataclass
class Sweep:
    """One sweep: its settings, and the steps main() runs in order."""

    args: argparse.Namespace
    beam_args: list[str]
    command: str

    @property
    def out(self) -> Path:
        return Path(self.args.output)

    def datasets(self) -> list[tuple[str, float, int | None, Any]]:
        """(method, degree, size, materialize plan) of every dataset, each checked before any work."""
        from kdaug.core.augment import method_of, parse_augment_spec
        from kdaug.core.errors import KdaugError
        from kdaug.core.recipe import Recipe
        from kdaug.experiments import WORKING_DATASET_CARD, stratified_subset
        from kdaug.pipelines.materialize import prepare

        a = self.args
        try:
            degrees = [float(d) for d in a.degrees.split(",")]
            sizes = [int(n) for n in a.sizes.split(",")] if a.sizes else [None]
        except ValueError as err:
            raise KdaugError(f"--degrees and --sizes take comma-separated numbers ({err})") from None
        if any(not 0 < d <= 1 for d in degrees) or any(n is not None and n < 1 for n in sizes):
            raise KdaugError("--degrees take ratios in (0, 1] and --sizes positive counts")
        methods = [m.strip() for m in a.methods.split(";" if ";" in a.methods else ",") if m.strip()]
        jobs = []
        for size in sizes:
            suffix = f"-n{size}" if size else ""
            corpus = a.input
            if size:
                subset = self.out / "inputs" / f"train-n{size}.jsonl"
                corpus = str(stratified_subset(a.input, subset, size, a.id_column, a.label_column))
            grid: list[tuple[str, float, list[str]]] = [("none", 0.0, [])] + [
                (method_of(m), d, [f"{m}{',' if ':' in m else ':'}ratio={d},copies={a.copies}"])
                for m in methods
                for d in degrees
            ]
            for method, degree, augment in grid:
                recipe = Recipe(
                    input=corpus,
                    output=str(self.out / "datasets" / f"{method}-{degree}{suffix}"),
                    teacher=a.teacher,
                    augment=[parse_augment_spec(spec) for spec in augment],
                    id_column=a.id_column,
                    label_column=a.label_column,
                    seed=0,
                    **WORKING_DATASET_CARD,
                )
                jobs.append((method, degree, size, prepare(recipe, self.command)))
        return jobs

    def runs(self, jobs: list, objectives: list[str]) -> list[tuple[Cell, Any]]:
        """Every dataset materialized (or reused), then each cell's training configs, one per seed."""
        from kdaug.experiments import materialize_once
        from kdaug.trainers.config import TrainConfig

        a = self.args
        runs = []
        for method, degree, size, plan in jobs:
            manifest = materialize_once(plan, self.beam_args, self.command)
            rows = manifest["splits"][plan.recipe.split]["rows_written"]
            epochs = max(a.epochs, math.ceil(a.min_steps * a.batch_size / max(rows, 1)))
            name = Path(plan.recipe.output).name
            for objective in objectives:
                for seed in range(a.seeds):
                    cfg = TrainConfig(
                        data=plan.recipe.output,
                        student=a.student,
                        eval=a.eval,
                        test=a.test,
                        objective=objective,
                        output=str(self.out / "runs" / f"{name}-{objective}-s{seed}"),
                        epochs=epochs,
                        batch_size=a.batch_size,
                        seed=seed,
                    )
                    runs.append((Cell(method, degree, size, objective), cfg))
        return runs

    def train(self, runs: list[tuple[Cell, Any]]) -> dict[Cell, list[dict]]:
        """All trainings at once (one per core), each printed as it ends: the metrics, by cell."""
        from kdaug.runs import train_many

        def done(i: int, cfg, metrics: dict) -> None:
            cell = runs[i][0]
            scored = metrics["test"]["accuracy"] if self.args.test else metrics["best"]["accuracy"]
            where = f" n={cell.size}" if cell.size else ""
            print(f"{cell.method} {cell.degree}{where} {cell.objective} seed {cfg.seed}: {scored:.4f}", flush=True)

        trained = train_many([cfg for _, cfg in runs], self.args.parallel, retrain_mismatched=True, on_done=done)
        by_cell: dict[Cell, list[dict]] = {}
        for (cell, _), m in zip(runs, trained):
            by_cell.setdefault(cell, []).append(m)
        return by_cell

    def report(self, by_cell: dict[Cell, list[dict]]) -> None:
        """results.json, results.md and sweep.png, and the table printed."""
        test = bool(self.args.test)
        results = [
            {
                **cell._asdict(),
                "scored_on": "test" if test else "dev",
                "accuracy": [m["test"]["accuracy"] if test else m["best"]["accuracy"] for m in ms],
                "dev_accuracy": [m["best"]["accuracy"] for m in ms],
                "epochs": ms[0]["config"]["epochs"],
            }
            for cell, ms in by_cell.items()
        ]
        summary = summarize(results)
        comparisons = comparisons_at_best_degree(summary, by_cell) if test else []
        (self.out / "results.json").write_text(
            json.dumps({"results": results, "best": summary, "comparisons": comparisons}, indent=2) + "\n"
        )
        text = results_table(results, summary, comparisons)
        (self.out / "results.md").write_text(text + "\n")
        plot(results, self.out / "sweep.png")
        print("\n" + text)


def main(argv: list[str]) -> int:
    from kdaug.core.errors import KdaugError
    from kdaug.pipelines.materialize import parse_job_args

    args, beam_args, command = parse_job_args(parser(), argv)
    objectives = [o.strip() for o in args.objectives.split(",")]
    if not set(objectives) <= {"finetune", "distill"}:
        raise KdaugError("--objectives takes finetune and/or distill")
    sweep = Sweep(args, beam_args, command)
    jobs = sweep.datasets()  # every dataset checked before any work
    sweep.report(sweep.train(sweep.runs(jobs, objectives)))
    return 0


def _size_key(size: int | None) -> str:
    return str(size) if size else "all"


def summarize(results: list[dict]) -> dict:
    """{objective: {method: {size: best degree}}}, the degree (> 0) chosen by mean dev accuracy (never by
    test), with its mean reported accuracy."""
    best: dict = {}
    for r in results:
        if r["degree"] == 0:
            continue
        per_size = best.setdefault(r["objective"], {}).setdefault(r["method"], {})
        dev = statistics.mean(r["dev_accuracy"])
        size = _size_key(r["size"])
        if size not in per_size or dev > per_size[size]["dev_accuracy"]:
            per_size[size] = {"degree": r["degree"], "accuracy": statistics.mean(r["accuracy"]), "dev_accuracy": dev}
    return best


def comparisons_at_best_degree(summary: dict, by_key: dict) -> list[dict]:
    """Paired bootstraps over the test examples, per method and size: each objective's best degree (chosen
    on dev) against no augmentation and against each other degree with the same objective, and the
    distill runs against the finetune runs at the same degree (the best degree for distillation)."""
    from kdaug.experiments import paired

    out = []
    for objective, per_method in summary.items():
        for method, per_size in per_method.items():
            for size_key, b in per_size.items():
                size = None if size_key == "all" else int(size_key)
                where = f" n={size}" if size else ""
                best = by_key[(method, b["degree"], size, objective)]
                name = f"{objective} {method} {b['degree']}{where}"
                base = by_key.get(("none", 0.0, size, objective))
                if base:
                    out.append(paired(name, f"{objective} without augmentation{where}", best, base))
                others = sorted(
                    d for (m, d, n, o) in by_key if (m, n, o) == (method, size, objective) and d != b["degree"]
                )
                for degree in others:
                    other = by_key[(method, degree, size, objective)]
                    out.append(paired(name, f"{objective} {method} {degree}{where}", best, other))
                finetuned = by_key.get((method, b["degree"], size, "finetune"))
                if objective == "distill" and finetuned:
                    out.append(paired(name, f"finetune {method} {b['degree']}{where}", best, finetuned))
    return out


def results_table(results: list[dict], summary: dict, comparisons: Sequence[dict] = ()) -> str:
    from kdaug.core.markdown import table
    from kdaug.experiments import mean_std
    from kdaug.stats import describe

    scored_on = results[0]["scored_on"] if results else "dev"
    order = sorted(
        results, key=lambda r: (r["size"] or 0, r["objective"], r["method"] != "none", r["method"], r["degree"])
    )
    cells = []
    for r in order:
        chosen = summary.get(r["objective"], {}).get(r["method"], {}).get(_size_key(r["size"]), {})
        star = " **best**" if chosen.get("degree") == r["degree"] else ""
        size, accuracy = _size_key(r["size"]), f"{mean_std(r['accuracy'])}{star}"
        cells.append([size, r["method"], r["degree"], r["objective"], accuracy, mean_std(r["dev_accuracy"])])
    header = ["size", "method", "degree", "objective", f"{scored_on} accuracy (mean ± std)", "dev accuracy"]
    lines = table(header, cells, "rlrlrr")
    for objective, per_method in summary.items():
        for method, per_size in per_method.items():
            for size, b in per_size.items():
                lines.append(
                    f"\nBest degree for {objective} with {method}, training size {size} (chosen on dev): "
                    f"{b['degree']} ({100 * b['accuracy']:.1f}% {scored_on} accuracy)"
                )
    if comparisons:
        lines.append("")
        lines += [f"- {describe(c['a'], c['b'], c)}" for c in comparisons]
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["size"] or 0 for r in results})
    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4), squeeze=False, sharey=True)
    for ax, size in zip(axes[0], sizes):
        here = [r for r in results if (r["size"] or 0) == size]
        for objective in sorted({r["objective"] for r in here}):
            for method in sorted({r["method"] for r in here} - {"none"}):
                rows = sorted(
                    (r for r in here if r["objective"] == objective and r["method"] in (method, "none")),
                    key=lambda r: r["degree"],
                )
                means = [statistics.mean(r["accuracy"]) for r in rows]
                errs = [statistics.stdev(r["accuracy"]) if len(r["accuracy"]) > 1 else 0.0 for r in rows]
                ax.errorbar(
                    [r["degree"] for r in rows],
                    means,
                    yerr=errs,
                    marker="o",
                    capsize=3,
                    label=f"{objective} ({method})",
                )
        ax.set_title(f"training set: {size or 'all'}")
        ax.set_xlabel("semantic-shift degree (changed-token ratio; 0: no augmentation)")
        ax.legend()
    axes[0][0].set_ylabel(f"{results[0]['scored_on'] if results else 'dev'} accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
