"""`kdaug compare`: which augmentation makes the best student? A leaderboard on one corpus and teacher.

Each entry of a grid is an augmentation recipe (one or more --augment specs, optionally a filter on the
copies the student trains on) trained with each objective that applies (distill: KD on the teacher's
soft labels; finetune: gold labels, copies inheriting their source's), over several seeds. The entry
without augmentation is the reference: with finetune it is the gold-labels-only student, with distill
plain KD. Every entry is scored on --test (epochs picked on --eval) and compared with the reference of
its objective and with the gold-labels-only student by a paired bootstrap over the test examples.

Two entries depend on the first round's results:
  - mix: the best `--mix` single augmenters (by mean dev accuracy with distill, never by test), their
    copies together in one dataset;
  - augpro_fgsm, second round (`--fgsm-reference-student`): a student with the teacher's tokenizer is
    distilled on the first round's AugPro-FGSM dataset and becomes the reference whose virtual-adversarial
    direction the second round's copies follow (as in AugPro's iterative variant).

Writes results.md (the leaderboard and every comparison), results.json (every seed) and compare.png.
Each dataset is materialized once and shared by every objective and seed; run again with the same
command, a killed comparison reuses the finished datasets and resumes the trainings where they stopped.

The grid is a YAML list (`--grid FILE`) of entries:

    - name: synonym 0.3 x4
      augment: ["synonym:ratio=0.3,copies=4"]
      objectives: [distill, finetune]        # default: every --objectives
      train: {max_teacher_kl_to_source: q50}  # TrainConfig fields; qNN: that percentile over the copies
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from kdaug.compare_grid import FILTERS, REFERENCE, GridEntry, dataset_key, load_grid
from kdaug.experiments import slug


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kdaug compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--input", required=True, help="labelled training corpus")
    p.add_argument("--eval", required=True, help="held-out labelled corpus: picks each run's best epoch and the mix")
    p.add_argument("--test", required=True, help="a second held-out corpus: what the leaderboard reports")
    p.add_argument("--teacher", required=True, help="fine-tuned teacher (directory or hub id)")
    p.add_argument("--output", required=True)
    p.add_argument("--grid", help="a YAML list of entries (default: the built-in grid; see above)")
    p.add_argument(
        "--only", action="append", metavar="NAME", help="run only this entry (repeatable; the reference always runs)"
    )
    p.add_argument("--skip", action="append", metavar="NAME", help="leave this entry out (repeatable)")
    p.add_argument("--objectives", default="distill,finetune", help="the objectives entries may use")
    p.add_argument("--mlm", help="a masked LM (directory or hub id): adds the mlm entry")
    p.add_argument("--mix", type=int, default=2, help="mix the best N single augmenters in one dataset (0: no mix)")
    p.add_argument(
        "--fgsm-reference-student",
        help="a student spec with the teacher's tokenizer (e.g. bert_from_teacher:layers=2): adds AugPro-FGSM's "
        "second round, whose reference is that student distilled on the first round's dataset",
    )
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--student", default="bilstm:hidden=150,embeddings=glove")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--teacher-precision",
        default="auto",
        help="labelling precision: auto (fp32 on a CPU), fp32, bf16 (on a CPU with native bf16 ~2x faster, "
        "soft labels within ~1e-6 KL of fp32), fp16",
    )
    p.add_argument("--id-column")
    p.add_argument("--label-column", default="label")
    p.add_argument(
        "--parallel", type=int, help="trainings at once, each on its own share of the cores (default: one per core)"
    )
    return p


def percentile_threshold(dataset: str, column: str, spec) -> float:
    """A filter value: a number as given, or 'qNN', that percentile of `column` over the dataset's copies
    (so a filter means the same share of copies on any corpus and teacher)."""
    from kdaug.core.errors import KdaugError

    if not (isinstance(spec, str) and spec.startswith("q")):
        return float(spec)
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    table = pads.dataset(str(Path(dataset) / "data"), format="parquet").to_table(columns=["aug_method", column])
    values = table.filter(pc.not_equal(table["aug_method"], "original"))[column].drop_null().to_numpy()
    if values.size == 0:
        raise KdaugError(f"{dataset}: no copies with {column}: a filter at {spec} has nothing to select from")
    return float(np.percentile(values, float(spec[1:])))


def main(argv: list[str]) -> int:
    from kdaug.pipelines.materialize import parse_job_args

    args, beam_args, command = parse_job_args(parser(), argv)
    grid = load_grid(args)
    return Comparison(args, beam_args, command, grid).run()


class Comparison:
    """The comparison's state: its datasets (by augment list), its trainings (by entry and objective)."""

    def __init__(self, args, beam_args: list[str], command: str, grid: list[GridEntry]):
        self.args, self.beam_args, self.command, self.grid = args, beam_args, command, grid
        self.out = Path(args.output)
        self.plans: dict[str, Any] = {}  # dataset key -> materialize plan
        self.trained: dict[tuple[str, str], list[dict]] = {}  # (entry name, objective) -> metrics per seed
        self.train_options: dict[str, dict] = {}  # entry name -> its train options, percentiles resolved
        self.datasets: dict[str, dict] = {}  # entry name -> its dataset: path, rows and shift per method

    def plan(self, augment: list[str]):
        """The dataset of an augment list (prepared once: every check before any work)."""
        from kdaug.core.augment import parse_augment_spec
        from kdaug.core.recipe import Recipe
        from kdaug.experiments import WORKING_DATASET_CARD
        from kdaug.pipelines.materialize import prepare

        key = dataset_key(augment)
        if key not in self.plans:
            recipe = Recipe(
                input=self.args.input,
                output=str(self.out / "datasets" / slug(key if augment else "no augmentation")),
                teacher=self.args.teacher,
                augment=[parse_augment_spec(spec) for spec in augment],
                id_column=self.args.id_column,
                label_column=self.args.label_column,
                teacher_precision=self.args.teacher_precision,
                seed=0,
                **WORKING_DATASET_CARD,
            )
            self.plans[key] = prepare(recipe, self.command)
        return self.plans[key]

    def run(self) -> int:
        for entry in self.grid:  # every dataset checked before the first is made
            self.plan(entry.augment)
        self.train_entries(self.grid)
        second = []
        if self.args.fgsm_reference_student:
            second += self.fgsm_second_round()
        if self.args.mix:
            mix = self.mix_entry()
            if mix:
                second.append(mix)
        if second:
            for entry in second:
                self.plan(entry.augment)
            self.grid += second
            self.train_entries(second)
        self.report()
        return 0

    def train_entries(self, entries: list[GridEntry]) -> None:
        from kdaug.experiments import materialize_once
        from kdaug.runs import train_many
        from kdaug.trainers.config import TrainConfig

        manifests = {}
        for entry in entries:
            plan = self.plan(entry.augment)
            if entry.dataset_key not in manifests:
                print(f"dataset for {entry.name}: {plan.recipe.output}", flush=True)
                manifests[entry.dataset_key] = materialize_once(plan, self.beam_args, self.command)
        runs = []
        for entry in entries:
            data = self.plan(entry.augment).recipe.output
            options = dict(entry.train)
            for option, column in FILTERS.items():
                if option in options:
                    options[option] = percentile_threshold(data, column, options[option])
            self.train_options[entry.name] = options
            for objective in entry.objectives:
                for seed in range(self.args.seeds):
                    cfg = TrainConfig(
                        data=data,
                        student=self.args.student,
                        eval=self.args.eval,
                        test=self.args.test,
                        objective=objective,
                        output=str(self.out / "runs" / f"{slug(entry.name)}-{objective}-s{seed}"),
                        epochs=self.args.epochs,
                        batch_size=self.args.batch_size,
                        seed=seed,
                        **options,
                    )
                    runs.append(((entry.name, objective), cfg))

        def done(i: int, cfg, metrics: dict) -> None:
            (name, objective), _ = runs[i]
            print(f"{name} / {objective} / seed {cfg.seed}: test accuracy {100 * metrics['test']['accuracy']:.1f}")

        trained = train_many([cfg for _, cfg in runs], self.args.parallel, retrain_mismatched=True, on_done=done)
        for (key, _), metrics in zip(runs, trained):
            self.trained.setdefault(key, []).append(metrics)
        for entry in entries:
            split = manifests[entry.dataset_key]["splits"]["train"]
            self.datasets[entry.name] = {
                "path": self.plan(entry.augment).recipe.output,
                "rows_per_method": split["rows_per_method"],
                "corpus_changed_ratio": split.get("corpus_changed_ratio", {}),
                "teacher_kl_to_source_mean": split.get("teacher_kl_to_source_mean", {}),
            }

    def dev_mean(self, name: str, objective: str = "distill") -> float:
        return statistics.mean(m["best"]["accuracy"] for m in self.trained[(name, objective)])

    def mix_entry(self) -> GridEntry | None:
        """The best `--mix` single-augmenter entries (distill, mean dev accuracy; unfiltered, one augment
        spec each, distinct methods), their specs in one dataset."""
        singles = [e for e in self.grid if e.single_method and (e.name, "distill") in self.trained]
        best: list[GridEntry] = []
        for e in sorted(singles, key=lambda e: -self.dev_mean(e.name)):
            if e.single_method not in {b.single_method for b in best}:
                best.append(e)
        if len(best) < 2 or self.args.mix < 2:
            return None
        best = best[: self.args.mix]
        return GridEntry(
            name="mix: " + " + ".join(e.name for e in best),
            augment=[e.augment[0] for e in best],
            objectives=["distill"],
            chosen_on="dev",
        )

    def fgsm_second_round(self) -> list[GridEntry]:
        """Distills the reference student on the first round's AugPro-FGSM dataset; returns the second
        round's entry, whose copies follow that student's virtual-adversarial direction."""
        from kdaug.core.augment import method_of
        from kdaug.core.errors import KdaugError
        from kdaug.runs import train_one
        from kdaug.trainers.config import TrainConfig

        first = next((e for e in self.grid if e.augment and method_of(e.augment[0]) == "augpro_fgsm"), None)
        if first is None:
            raise KdaugError("--fgsm-reference-student needs an augpro_fgsm entry in the grid (its first round)")
        reference = self.out / "reference-student"
        train_one(
            TrainConfig(
                data=self.plan(first.augment).recipe.output,
                student=self.args.fgsm_reference_student,
                eval=self.args.eval,
                output=str(reference),
                objective="distill",
                epochs=self.args.epochs,
                batch_size=32,
                seed=0,
            ),
            retrain_mismatched=True,
        )
        spec = first.augment[0]
        sep = "," if ":" in spec else ":"
        return [
            GridEntry(
                name=f"{first.name}, second round (student reference)",
                augment=[f"{spec}{sep}reference={reference / 'best'}"],
                objectives=["distill"],
            )
        ]

    def teacher_on_test(self) -> dict:
        """The teacher scored on --test (what the students' gap is measured against)."""
        from kdaug.core.corpus import ColumnSpec
        from kdaug.core.teacher import Teacher, TeacherSettings
        from kdaug.trainers.evaluation import load_eval

        plan = self.plan([])
        columns = ColumnSpec(plan.recipe.text_column, plan.recipe.text_pair_column, self.args.label_column)
        texts, pairs, gold = load_eval(self.args.test, columns, plan.labels.names(), "test")
        teacher = Teacher.load(TeacherSettings(self.args.teacher, precision=plan.recipe.teacher_precision))
        predictions = teacher.label(texts, pairs if any(p is not None for p in pairs) else None).pred.tolist()
        return {"test_accuracy": sum(int(p == g) for p, g in zip(predictions, gold)) / max(len(gold), 1)}

    def report(self) -> None:
        from kdaug.experiments import gap_closed, paired, scores, teacher_headroom

        rows = []
        for entry in self.grid:
            for objective in entry.objectives:
                ms = self.trained[(entry.name, objective)]
                rows.append(
                    {
                        "name": entry.name,
                        "objective": objective,
                        "augment": entry.augment,
                        "train": self.train_options.get(entry.name, {}),
                        "dataset": self.datasets.get(entry.name, {}),
                        **scores(ms),
                    }
                )
        comparisons = []
        gold = self.trained.get((REFERENCE, "finetune"))
        for r in rows:
            if r["name"] == REFERENCE:
                continue
            ms = self.trained[(r["name"], r["objective"])]
            base = self.trained.get((REFERENCE, r["objective"]))
            label = f"{r['name']} ({r['objective']})"
            if base:
                comparisons.append(paired(label, f"{REFERENCE} ({r['objective']})", ms, base))
            if gold and r["objective"] == "distill":
                comparisons.append(paired(label, f"{REFERENCE} (finetune)", ms, gold))
        if gold and (REFERENCE, "distill") in self.trained:
            comparisons.append(
                paired(f"{REFERENCE} (distill)", f"{REFERENCE} (finetune)", self.trained[(REFERENCE, "distill")], gold)
            )
        comparisons += self.method_claims(rows)
        rows.sort(key=lambda r: -statistics.mean(r["test_accuracy"]))
        teacher = self.teacher_on_test()
        reference = gold or self.trained.get((REFERENCE, "distill"))
        if reference:  # the teacher beside the students, said plainly when it is not clearly ahead
            name = "the gold-labels-only student" if gold else "the student distilled without augmentation"
            teacher["headroom"] = teacher_headroom(
                teacher["test_accuracy"], [m["test"]["accuracy"] for m in reference], name
            )
        if gold:  # the share of the teacher-student gap each entry closes, from the gold-labels-only student
            base = statistics.mean(m["test"]["accuracy"] for m in gold)
            for r in rows:
                r["gap_closed"] = gap_closed(statistics.mean(r["test_accuracy"]), base, teacher["test_accuracy"])
        text = leaderboard(rows, comparisons, self.args, teacher)
        (self.out / "results.json").write_text(
            json.dumps(
                {"command": self.command, "teacher": teacher, "results": rows, "comparisons": comparisons}, indent=2
            )
            + "\n"
        )
        (self.out / "results.md").write_text(text + "\n")
        plot(rows, self.out / "compare.png")
        print("\n" + text)

    def method_claims(self, rows: list[dict]) -> list[dict]:
        """The papers' claims, each as paired tests: KD gains more from the same copies than fine-tuning
        (every augmentation run with both objectives, distill vs finetune); AugPro beats token replacement
        for KD (every AugPro entry vs the unfiltered token-replacement KD entry with the best dev accuracy,
        picked without looking at test)."""
        from kdaug.core.augment import keeps_gold_label
        from kdaug.experiments import paired

        def pair(a: tuple[str, str], b: tuple[str, str]) -> dict:  # (name, objective) of each side
            return paired(f"{a[0]} ({a[1]})", f"{b[0]} ({b[1]})", self.trained[a], self.trained[b])

        out = []
        for r in rows:
            if r["name"] != REFERENCE and r["objective"] == "distill" and (r["name"], "finetune") in self.trained:
                out.append(pair((r["name"], "distill"), (r["name"], "finetune")))
        kd = [r for r in rows if r["objective"] == "distill" and r["augment"]]
        # Token replacement (copies that keep their gold label) against AugPro (copies that do not).
        replacement = [r for r in kd if not r["train"] and all(keeps_gold_label(s) for s in r["augment"])]
        if replacement:
            best = max(replacement, key=lambda r: statistics.mean(r["dev_accuracy"]))
            for r in kd:
                if not any(keeps_gold_label(s) for s in r["augment"]):
                    out.append(pair((r["name"], "distill"), (best["name"], "distill")))
        return out


def leaderboard(rows: list[dict], comparisons: list[dict], args, teacher: dict) -> str:
    from kdaug.core.markdown import table
    from kdaug.experiments import scored_cells
    from kdaug.stats import describe

    vs = {(c["a"], c["b"]): c for c in comparisons}
    lines = [
        f"Test accuracy (mean ± std over {args.seeds} seed(s); each run's epoch picked on dev), best first. "
        "Δ: against the same objective without augmentation, paired bootstrap over the test examples. Gap: the "
        f"share of the gap between the gold-labels-only student and the teacher ({100 * teacher['test_accuracy']:.1f} "
        "test accuracy) that the entry closes.",
        "",
        *([teacher["headroom"], ""] if teacher.get("headroom") else []),
    ]
    header = ["#", "augmentation", "objective", "test accuracy", "test macro-F1", "dev accuracy"]
    header += ["Δ vs no augmentation [95% CI]", "p", "gap closed", "copies", "changed ratio"]
    cells = []
    for i, r in enumerate(rows, 1):
        c = vs.get((f"{r['name']} ({r['objective']})", f"{REFERENCE} ({r['objective']})"))
        delta = f"{c['difference']:+.1f} [{c['low']:+.1f}, {c['high']:+.1f}]" if c else ""
        p = ("< 0.001" if c["p"] < 0.001 else f"{c['p']:.3f}") if c else ""
        per_method = r["dataset"].get("rows_per_method", {})
        copies = sum(n for m, n in per_method.items() if m != "original")
        ratios = r["dataset"].get("corpus_changed_ratio", {})
        ratio = ", ".join(f"{v:.2f}" for v in ratios.values()) if ratios else ""
        gap = f"{100 * r['gap_closed']:.0f}%" if r.get("gap_closed") is not None else ""
        cells.append([i, r["name"], r["objective"], *scored_cells(r), delta, p, gap, copies, ratio])
    lines += table(header, cells, "rllrrrlrrrr")
    lines += ["", "Every comparison (one-sided: p is the share of resamples where A is not better than B):", ""]
    lines += [f"- {describe(c['a'], c['b'], c)}" for c in comparisons]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = list(reversed(rows))  # best at the top
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(shown) + 1.5))
    colors = {"distill": "tab:blue", "finetune": "tab:orange"}
    means = [100 * statistics.mean(r["test_accuracy"]) for r in shown]
    errs = [100 * statistics.stdev(r["test_accuracy"]) if len(r["test_accuracy"]) > 1 else 0.0 for r in shown]
    ax.barh(range(len(shown)), means, xerr=errs, capsize=3, color=[colors.get(r["objective"], "gray") for r in shown])
    ax.set_yticks(range(len(shown)), [f"{r['name']} ({r['objective']})" for r in shown], fontsize=8)
    low = min(m - e for m, e in zip(means, errs)) if means else 0
    ax.set_xlim(max(0, low - 3), max(m + e for m, e in zip(means, errs)) + 1 if means else 100)
    for objective, color in colors.items():
        ref = [m for m, r in zip(means, shown) if r["name"] == REFERENCE and r["objective"] == objective]
        if ref:
            ax.axvline(ref[0], color=color, linestyle="--", linewidth=1, label=f"{objective}, no augmentation")
    ax.set_xlabel("test accuracy (%), mean ± std over seeds")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
