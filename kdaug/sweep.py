"""`kdaug sweep`: which semantic-shift degree is best, for fine-tuning and for distillation?

A grid over degree (changed-token ratio) x augmentation method x objective (finetune: students on gold
labels, copies inheriting their source's label; distill: KD on the teacher's soft labels), several seeds.
Each (method, degree) is materialized once through the Beam pipeline and shared by both objectives and
all seeds. Writes results.json, results.md (mean ± std, the best degree per objective and method marked)
and sweep.png (dev accuracy against degree, one line per objective and method).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


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
    p.add_argument("--degrees", default="0.1,0.3,0.5")
    p.add_argument("--methods", default="synonym", help="comma-separated augmenters (synonym, knn, mlm:model=...)")
    p.add_argument("--objectives", default="finetune,distill")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--student", default="bilstm:hidden=150,embeddings=glove")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--id-column")
    p.add_argument(
        "--parallel",
        type=int,
        help="trainings at once, each on its own share of the cores (default: one per core)",
    )
    return p


def main(argv: list[str]) -> int:
    from kdaug.core.errors import KdaugError
    from kdaug.core.flags import flags_of
    from kdaug.core.recipe import Recipe
    from kdaug.pipelines.materialize import check_beam_args, prepare
    from kdaug.pipelines.materialize import run as materialize
    from kdaug.runs import train_many
    from kdaug.trainers.train import TrainConfig

    p = parser()
    args, beam_args = p.parse_known_args(argv)
    try:
        check_beam_args(beam_args, flags_of(p))
    except KdaugError as err:
        print(f"kdaug sweep: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.output)
    degrees = [float(d) for d in args.degrees.split(",")]
    methods = [m.strip() for m in args.methods.split(";" if ";" in args.methods else ",") if m.strip()]
    objectives = [o.strip() for o in args.objectives.split(",")]
    if not set(objectives) <= {"finetune", "distill"}:
        print("kdaug sweep: error: --objectives takes finetune and/or distill", file=sys.stderr)
        return 2
    jobs = []
    try:
        for method in methods:
            for degree in degrees:
                sep = "," if ":" in method else ":"
                spec = f"{method}{sep}ratio={degree},copies={args.copies}"
                name = f"{method.split(':')[0]}-{degree}"
                recipe = Recipe(
                    input=args.input,
                    output=str(out / "datasets" / name),
                    teacher=args.teacher,
                    augment=[spec],
                    id_column=args.id_column,
                    seed=0,
                )
                jobs.append((method.split(":")[0], degree, recipe, prepare(recipe)))
    except KdaugError as err:
        print(f"kdaug sweep: error: {err}", file=sys.stderr)
        return 2

    runs = []  # ((method, degree, objective), config): every dataset first, then all trainings at once
    for method, degree, recipe, plan in jobs:
        materialize(recipe, beam_args, "kdaug sweep", plan=plan)
        for objective in objectives:
            for seed in range(args.seeds):
                cfg = TrainConfig(
                    data=recipe.output,
                    student=args.student,
                    eval=args.eval,
                    test=args.test,
                    objective=objective,
                    output=str(out / "runs" / f"{method}-{degree}-{objective}-s{seed}"),
                    epochs=args.epochs,
                    seed=seed,
                )
                runs.append(((method, degree, objective), cfg))

    def done(i: int, cfg: TrainConfig, metrics: dict) -> None:
        method, degree, objective = runs[i][0]
        scored = metrics["test"]["accuracy"] if args.test else metrics["best"]["accuracy"]
        print(f"{method} {degree} {objective} seed {cfg.seed}: {scored:.4f}", flush=True)

    trained = train_many([cfg for _, cfg in runs], args.parallel, on_done=done)
    scores: dict[tuple, dict[str, list[float]]] = {}
    for (key, _), m in zip(runs, trained):
        entry = scores.setdefault(key, {"accuracy": [], "dev_accuracy": []})
        entry["accuracy"].append(m["test"]["accuracy"] if args.test else m["best"]["accuracy"])
        entry["dev_accuracy"].append(m["best"]["accuracy"])
    scored_on = "test" if args.test else "dev"
    results = [
        {"method": method, "degree": degree, "objective": objective, "scored_on": scored_on, **entry}
        for (method, degree, objective), entry in scores.items()
    ]
    summary = summarize(results)
    (out / "results.json").write_text(json.dumps({"results": results, "best": summary}, indent=2) + "\n")
    (out / "results.md").write_text(table(results, summary) + "\n")
    plot(results, out / "sweep.png")
    print("\n" + table(results, summary))
    return 0


def summarize(results: list[dict]) -> dict:
    """{objective: {method: best degree}}, the degree chosen by mean dev accuracy (never by test), with its
    mean reported accuracy."""
    best: dict = {}
    for r in results:
        key = best.setdefault(r["objective"], {})
        dev = statistics.mean(r["dev_accuracy"])
        if r["method"] not in key or dev > key[r["method"]]["dev_accuracy"]:
            key[r["method"]] = {"degree": r["degree"], "accuracy": statistics.mean(r["accuracy"]), "dev_accuracy": dev}
    return best


def table(results: list[dict], summary: dict) -> str:
    scored_on = results[0]["scored_on"] if results else "dev"
    lines = [f"| method | degree | objective | {scored_on} accuracy (mean ± std) |", "|---|---:|---|---:|"]
    for r in results:
        xs = r["accuracy"]
        spread = f" ± {100 * statistics.stdev(xs):.1f}" if len(xs) > 1 else ""
        star = " **best**" if summary[r["objective"]][r["method"]]["degree"] == r["degree"] else ""
        lines.append(
            f"| {r['method']} | {r['degree']} | {r['objective']} | {100 * statistics.mean(xs):.1f}{spread}{star} |"
        )
    for objective, per_method in summary.items():
        for method, b in per_method.items():
            lines.append(
                f"\nBest degree for {objective} with {method} (chosen on dev): {b['degree']} "
                f"({100 * b['accuracy']:.1f}% {scored_on} accuracy)"
            )
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for objective in sorted({r["objective"] for r in results}):
        for method in sorted({r["method"] for r in results}):
            rows = sorted(
                (r for r in results if r["objective"] == objective and r["method"] == method), key=lambda r: r["degree"]
            )
            means = [statistics.mean(r["accuracy"]) for r in rows]
            errs = [statistics.stdev(r["accuracy"]) if len(r["accuracy"]) > 1 else 0.0 for r in rows]
            ax.errorbar(
                [r["degree"] for r in rows], means, yerr=errs, marker="o", capsize=3, label=f"{objective} ({method})"
            )
    ax.set_xlabel("semantic-shift degree (changed-token ratio)")
    ax.set_ylabel("dev accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
