"""`kdaug demo`: the whole story on real data, offline, on a CPU.

  1. MR sentence polarity (fetched from PyPI at set-up time), split 3,000 train / 500 dev / 500 test by a
     hash of the ids (dev picks each model's best epoch; test reports it).
  2. Fine-tune a teacher: all-MiniLM-L6-v2 (a PyPI package) with a classification head.
  3. Materialize the training split through the Beam pipeline: originals + synonym copies at 30%
     changed tokens, every row labelled by the teacher.
  4. Distill BiLSTM students (GloVe-initialised, as in Tang et al.) three ways, over several seeds:
     gold labels only (originals), KD without augmentation (originals), KD with augmentation.
  5. Print and write the table (test accuracy, mean and spread over seeds) and, beside it, each claim's
     paired bootstrap over the test sentences (kdaug.stats).

The default took 14 minutes on 2 CPU cores from an empty --output (students trained one per core at once);
it says before it starts what it will do and roughly what it will cost. --full trains longer and
materializes AugPro-Mix copies instead (8 per sentence), the comparison's leader on MR.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# --full: AugPro-Mix, the augmentation the AugPro paper proposes for KD, led `kdaug compare` on MR test
# (docs/results.md); twice the default's copies, since KD asks for as much augmented data as it gets.
FULL_AUGMENT = "augpro_mix:mu=0.5,ties=coin,copies=8"  # coin: ties split as when --full was measured

# What the plan's estimate scales from: the demo measured from an empty --output on 2 CPU cores, minutes
# per part (3,000 sentences, 3 seeds). The default: 2026-12-07, 13.9 minutes in all. --full: 2026-12-02,
# 36 minutes in all on cores shared with a test run, its parts as the default's scale (3 teacher epochs,
# 8 AugPro-Mix copies that need no context check, 10 student epochs on twice the rows).
MEASURED_CORES = 2
MR_TRAIN_SENTENCES = 3000
MEASURED_MINUTES = {
    False: {"teacher": 1.2, "dataset": 10.2, "students": 2.5},
    True: {"teacher": 3.0, "dataset": 5.0, "students": 28.0},
}
MEASURED = {
    False: "3,000 sentences and 3 seeds took teacher 1.2, dataset 10.2, students 2.5 minutes on 2 cores",
    True: "a --full run of 3,000 sentences and 3 seeds took 36 minutes on 2 cores shared with a test run",
}

VARIANTS = [  # (name, objective, methods)
    ("student, gold labels only", "finetune", ["original"]),
    ("student, KD", "distill", ["original"]),
    ("student, KD + augmentation", "distill", None),
]


def main(argv: list[str]) -> int:
    demo = Demo.parse(argv)
    print(demo.plan(), flush=True)
    teacher = demo.fine_tune_teacher()
    demo.materialize_dataset()
    students = demo.distill_students()
    demo.report(teacher, students)
    return 0


@dataclass
class Demo:
    """One demo run: its settings, the MR split's files, and the steps main() runs in order."""

    args: argparse.Namespace
    beam_args: list[str]
    augment: str
    teacher_epochs: int
    student_epochs: int
    train_path: Path
    dev_path: Path
    test_path: Path
    out: Path
    argv: list[str]
    started: float = field(default_factory=time.time)

    @classmethod
    def parse(cls, argv: list[str]) -> Demo:
        """The settings, checked before any work (a bad flag or --augment fails here)."""
        from kdaug.core.assets.mr import mr_three_way_splits
        from kdaug.core.augment import parse_augment_spec
        from kdaug.core.flags import flags_of
        from kdaug.pipelines.materialize import check_beam_args

        p = argparse.ArgumentParser(
            prog="kdaug demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        p.add_argument("--output", default="demo_output")
        p.add_argument("--seeds", type=int, default=3, help="student seeds (mean and spread are reported)")
        p.add_argument(
            "--full",
            action="store_true",
            help=f"full size: 3 teacher epochs, {FULL_AUGMENT}, 10 student epochs",
        )
        p.add_argument("--limit", type=int, help="use only the first N training sentences (smoke runs)")
        p.add_argument("--ratio", type=float, default=0.3, help="the default synonym copies' changed-token ratio")
        p.add_argument("--augment", help="the augmentation, as materialize's --augment takes it (overrides --ratio)")
        p.add_argument(
            "--parallel",
            type=int,
            help="students trained at once, each on its own share of the cores (default: one per core)",
        )
        p.add_argument(
            "--quantize",
            type=int,
            choices=(8, 4, 2),
            metavar="BITS",
            help="low-precision students (quantization-aware distillation at 8, 4 or 2 bits), as the role-wise "
            "paper distils into; the teacher and dataset are the float demo's, the students and results go to "
            "students-qBITS/ and results-qBITS.md",
        )
        args, beam_args = p.parse_known_args(argv)
        teacher_epochs, student_epochs = (3, 10) if args.full else (1, 5)
        augment = args.augment or (FULL_AUGMENT if args.full else f"synonym:ratio={args.ratio},copies=4")
        check_beam_args(beam_args, flags_of(p))
        parse_augment_spec(augment)  # a bad --augment fails here, not after the teacher's training
        train_path, dev_path, test_path = mr_three_way_splits()
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        if args.limit:
            limited = out / f"mr_train_first{args.limit}.jsonl"
            lines = train_path.read_text(encoding="utf-8").splitlines()
            # Both classes: MR's file lists positives first.
            half = args.limit // 2
            limited.write_text("\n".join(lines[:half] + lines[-(args.limit - half) :]) + "\n", encoding="utf-8")
            train_path = limited
        return cls(args, beam_args, augment, teacher_epochs, student_epochs, train_path, dev_path, test_path, out, argv)

    @property
    def suffix(self) -> str:
        """Low-precision students' directory and results name suffix (-q2), so they sit beside the float ones."""
        return f"-q{self.args.quantize}" if self.args.quantize else ""

    def step(self, msg: str) -> None:
        print(f"[{time.time() - self.started:6.0f}s] {msg}", flush=True)

    def plan(self) -> str:
        """What the demo will do and roughly what it costs here, said before it starts: the measured run's
        parts scaled by the sentences, the seeds and (students, one per core) the cores."""
        from kdaug.core.threads import available_cores

        sentences = sum(1 for _ in self.train_path.open(encoding="utf-8"))
        cores = available_cores()
        part = MEASURED_MINUTES[self.args.full]
        size = sentences / MR_TRAIN_SENTENCES
        students = part["students"] * size * self.args.seeds / 3 * MEASURED_CORES / min(cores, 3 * self.args.seeds)
        minutes = (part["teacher"] + part["dataset"]) * size + students
        cost = f"{minutes:.0f} minutes" if minutes >= 1.5 else "a minute"
        return (
            f"kdaug demo: fine-tune a MiniLM teacher ({self.teacher_epochs} epoch(s) on {sentences} MR sentences), "
            f"materialize them with {self.augment} (Beam, every row labelled by the teacher), distill "
            f"{3 * self.args.seeds} BiLSTM students ({self.student_epochs} epochs; gold labels, KD, KD + "
            f"augmentation; {self.args.seeds} seed(s)) and score all on 500 test sentences, into {self.out}.\n"
            f"Roughly {cost} on this machine's {cores} core(s) ({MEASURED[self.args.full]}); parts an earlier "
            f"demo in {self.out} finished are reused."
        )

    def fine_tune_teacher(self) -> dict:
        """MiniLM with a new classification head, fine-tuned on the training split (resumed or reused)."""
        from kdaug.runs import train_one
        from kdaug.trainers.config import TrainConfig

        # Runs an earlier demo left in --output are resumed, or trained again when their data or settings
        # changed (another --ratio, a re-materialized dataset), so the table always describes this demo's dataset.
        self.step(
            f"fine-tuning the teacher (all-MiniLM-L6-v2, {self.teacher_epochs} epoch(s)) on {self.train_path.name}"
        )
        metrics = train_one(
            TrainConfig(
                data=str(self.train_path),
                student="hf:model=minilm",
                eval=str(self.dev_path),
                test=str(self.test_path),
                output=str(self.out / "teacher"),
                objective="finetune",
                epochs=self.teacher_epochs,
                batch_size=32,
                seed=0,
            ),
            retrain_mismatched=True,
            progress=sys.stderr.isatty(),
        )
        if "retrained_because" in metrics:
            self.step(
                f"  the teacher: an earlier demo's run differed ({metrics['retrained_because']}): trained it again"
            )
        return metrics

    def materialize_dataset(self) -> None:
        """The training split through the Beam pipeline, labelled by the teacher (a dataset an earlier demo
        completed with the same job is reused), and its report."""
        from kdaug.core.augment import parse_augment_spec
        from kdaug.core.publishing.report import write_report
        from kdaug.core.recipe import Recipe
        from kdaug.experiments import materialize_once
        from kdaug.pipelines.materialize import prepare

        self.step(f"materializing the training split with {self.augment} (Beam)")
        command = "kdaug demo " + " ".join(shlex.quote(a) for a in self.argv)
        recipe = Recipe(
            input=str(self.train_path),
            output=str(self.out / "dataset"),
            teacher=str(self.out / "teacher" / "best"),
            augment=[parse_augment_spec(self.augment)],
            id_column="id",
            seed=0,
            # The card of a dataset one could publish (kdaug publish): MR's authors state no licence.
            pretty_name="MR sentence polarity, augmented and labelled by a MiniLM teacher (kdaug demo)",
            source_datasets=["cornell-movie-review-data/rotten_tomatoes"],
            license="unknown",
            task_ids=["sentiment-classification"],
        )
        manifest = materialize_once(prepare(recipe, command), self.beam_args, command)
        split = manifest["splits"]["train"]
        ratios = [f"{m} {r:.3f}" for m, r in split["mean_changed_ratio"].items() if m != "original"]
        self.step(
            f"  {split['rows_written']} rows ({split['rows_per_method']}), mean changed_ratio " + ", ".join(ratios)
        )
        self.step(f"  what the augmenter did, in plots and highlighted copies: {write_report(recipe.output)}")

    def distill_students(self) -> dict[str, list[dict]]:
        """Each variant's students over the seeds, trained in parallel on their own cores: their metrics."""
        from kdaug.runs import default_parallel, train_many
        from kdaug.trainers.config import TrainConfig

        runs = [
            (
                name,
                seed,
                TrainConfig(
                    data=str(self.out / "dataset"),
                    student="bilstm:hidden=150,embeddings=glove",
                    eval=str(self.dev_path),
                    test=str(self.test_path),
                    output=str(self.out / f"students{self.suffix}" / f"{objective}-{len(methods or [])}-s{seed}"),
                    objective=objective,
                    methods=methods,
                    epochs=self.student_epochs,
                    batch_size=64,
                    seed=seed,
                    quantize=self.args.quantize,
                ),
            )
            for seed in range(self.args.seeds)
            for name, objective, methods in VARIANTS
        ]
        parallel = self.args.parallel or default_parallel(len(runs))
        self.step(f"distilling {len(runs)} students, {parallel} at a time")

        def done(i: int, cfg: TrainConfig, metrics: dict) -> None:
            if "retrained_because" in metrics:
                self.step(
                    f"  {cfg.output}: an earlier demo's run differed ({metrics['retrained_because']}): trained it again"
                )
            self.step(f"  {runs[i][0]}, seed {runs[i][1]}: test accuracy {100 * metrics['test']['accuracy']:.1f}")

        trained = train_many([cfg for _, _, cfg in runs], parallel, retrain_mismatched=True, on_done=done)
        return {name: [m for (n, _, _), m in zip(runs, trained) if n == name] for name, _, _ in VARIANTS}

    def report(self, teacher: dict, students: dict[str, list[dict]]) -> None:
        """The table (mean ± std over seeds), each claim's paired bootstrap and the share of the gap
        closed: printed, and written to results.md and results.json."""
        from kdaug.experiments import gap_closed, paired, scores, teacher_headroom
        from kdaug.stats import describe

        results = {"teacher": scores([teacher]), **{name: scores(ms) for name, ms in students.items()}}
        comparisons = [paired(a, b, students[a], students[b]) for a, b in CLAIMS]
        claims = "\n".join(f"- {describe(c['a'], c['b'], c)}" for c in comparisons)
        gold, best = (
            statistics.mean(results[n]["test_accuracy"]) for n in ("student, gold labels only", VARIANTS[-1][0])
        )
        teacher_test = results["teacher"]["test_accuracy"][0]
        share = gap_closed(best, gold, teacher_test)
        claims = f"{teacher_headroom(teacher_test, results['student, gold labels only']['test_accuracy'])}\n\n{claims}"
        if share is not None:  # the share of the teacher-student gap that distillation with augmentation closes
            claims += (
                f"\n- KD + augmentation closes {100 * share:.0f}% of the test-accuracy gap "
                f"between the gold-labels-only student ({100 * gold:.1f}) and the teacher ({100 * teacher_test:.1f})"
            )
        table = results_table(results) + "\n\n" + claims
        out = self.out
        (out / f"results{self.suffix}.json").write_text(
            json.dumps({"models": results, "comparisons": comparisons}, indent=2) + "\n"
        )
        (out / f"results{self.suffix}.md").write_text(table + "\n")
        self.step("done")
        examples = len(next(iter(students.values()))[0]["test"]["gold"])
        precision = (
            f", weights quantized to {self.args.quantize} bits (trained aware of it)" if self.args.quantize else ""
        )
        print(
            f"\nMR test split ({examples} sentences; each model's epoch picked on the 500 dev "
            f"sentences); students: BiLSTM with GloVe 6B-50d{precision}; mean ± std over {self.args.seeds} seed(s)"
            f"\n\n{table}\n\n"
            f"written to {out}/results{self.suffix}.md; dataset card: {out}/dataset/README.md; "
            f"report: {out}/dataset/report.html"
        )


CLAIMS = [  # (A, B): "A beats B", each printed with its paired bootstrap
    ("student, KD + augmentation", "student, KD"),
    ("student, KD + augmentation", "student, gold labels only"),
    ("student, KD", "student, gold labels only"),
]


def results_table(results: dict) -> str:
    from kdaug.core.markdown import table
    from kdaug.experiments import scored_cells

    rows = [[name, *scored_cells(r)] for name, r in results.items()]
    return "\n".join(table(["model", "test accuracy", "test macro-F1", "dev accuracy"], rows, "lrrr"))
