"""`kdaug search`: find each role's augmentation policy by search, as the role-wise KD paper does.

A policy is a list of augmenters with their knobs (`--augment` specs). Each role has a search space
(YAML, `--space`; the default below) from which a seeded population of policies is drawn; the first
policy of every population is no augmentation, so the search can also conclude that a role is better
off without. Policies are compared by successive halving: every trial trains for --min-epochs, the best
1/eta of them train on (resumed, not restarted) for eta times as many epochs, and so on until one is left
or --max-epochs is reached. The reward is dev accuracy (--eval); --test is never looked at while
searching.

  teacher role (with --teacher-init, a pretrained encoder): the corpus is materialized with the policy
      and the encoder fine-tuned on the gold labels of the originals and their copies; reward: the
      teacher's dev accuracy. Only token-replacement augmenters apply (copies inherit their source's
      gold label; AugPro's mixed copies have none).
  student role: the corpus is materialized with the policy through the Beam pipeline, labelled by the
      teacher (the teacher role's winner when it was searched, else --teacher), and a student distilled;
      reward: the student's dev accuracy.

Then the final round, on --test, over --final-seeds seeds: the searched student policy against no
augmentation and against the best fixed recipe (--baseline-augment), and, when the teacher role was
searched, the role-wise pair (searched teacher, searched student policy) against the same student
policy labelled by --teacher, and against one policy for both roles (the teacher fine-tuned on the
student's policy, where that policy is token replacement), each with a paired bootstrap.

Writes trials.md / trials.json (every trial: role, policy, epochs, reward, cost), search.png (reward
over trials), results.md / results.json (the final round) and best_recipe.yaml (a `roles:` recipe that
`kdaug materialize --config best_recipe.yaml --output DIR` takes). Seeded and deterministic with
--trials alone (--budget-minutes stops where time runs out). Every trial's dataset and training is
kept: a killed search run again with the same command reuses finished trials and resumes the others.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from kdaug.search_space import NONE, ROLES, draw_population, load_space, policy_key, rungs, shown


@dataclass(frozen=True)
class FinalEntry:
    """One entry of the final round: its kind (none, fixed, searched, role-wise, one policy), the name it
    is reported under, the student's policy and the teacher that labels its dataset."""

    kind: str
    name: str
    policy: list[str]
    labeller: str


def final_pairs(entries: list[FinalEntry]) -> list[tuple[str, str]]:
    """The paired comparisons of the final round, by entry name: the searched policy against no
    augmentation and the fixed recipe; the role-wise pair against the searched policy labelled by
    --teacher, one policy for both roles and the fixed recipe."""
    of_kind = {e.kind: e.name for e in entries}
    searched, fixed, rolewise, one = (of_kind.get(k) for k in ("searched", "fixed", "role-wise", "one policy"))
    assert searched is not None, "every final round has the searched policy"
    pairs = [(searched, NONE)] + ([(searched, fixed)] if fixed else [])
    if rolewise:
        pairs += [(rolewise, searched)] + ([(rolewise, one)] if one else []) + ([(rolewise, fixed)] if fixed else [])
    return pairs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kdaug search", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--input", required=True, help="labelled training corpus")
    p.add_argument("--eval", required=True, help="held-out labelled corpus: the reward")
    p.add_argument("--test", required=True, help="a second held-out corpus: the final round only")
    p.add_argument("--teacher", required=True, help="fine-tuned teacher (directory or hub id): labels the data")
    p.add_argument("--output", required=True)
    p.add_argument("--space", help="search space YAML: {teacher: {...}, student: {...}} (default: built in)")
    p.add_argument("--roles", default="student", help="roles to search: student, or teacher,student")
    p.add_argument(
        "--teacher-init", help="pretrained encoder the teacher role fine-tunes (directory, hub id or minilm)"
    )
    p.add_argument("--trials", type=int, default=8, help="policies drawn per role (the first: no augmentation)")
    p.add_argument("--teacher-trials", type=int, help="policies drawn for the teacher role (default: --trials)")
    p.add_argument("--eta", type=int, default=2, help="successive halving: keep the best 1/eta at each rung")
    p.add_argument("--min-epochs", type=int, default=1, help="epochs of the first rung")
    p.add_argument("--max-epochs", type=int, default=4, help="epochs of the last rung, and of the final round")
    p.add_argument("--teacher-min-epochs", type=int, default=1)
    p.add_argument("--teacher-max-epochs", type=int, default=2)
    p.add_argument("--budget-minutes", type=float, help="stop starting trials once the search has cost this")
    p.add_argument("--seed", type=int, default=0, help="draws the policies and seeds the search's trainings")
    p.add_argument("--final-seeds", type=int, default=3)
    p.add_argument(
        "--baseline-augment",
        default="synonym:ratio=0.3,copies=4",
        help="the best fixed recipe to beat (';'-separated specs; 'none' to leave it out)",
    )
    p.add_argument("--student", default="bilstm:hidden=150,embeddings=glove")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--teacher-precision", default="auto", help="labelling precision (as materialize takes it)")
    p.add_argument("--id-column")
    p.add_argument("--label-column", default="label")
    p.add_argument("--parallel", type=int, help="trainings at once (default: one per core)")
    return p


# ------------------------------------------------------------------------------------------- the space


# ------------------------------------------------------------------------------------------- the search


class Search:
    def __init__(self, args, beam_args: list[str], command: str, space: dict[str, dict]):
        self.args, self.beam_args, self.command, self.space = args, beam_args, command, space
        self.out = Path(args.output)
        self.records_path = self.out / "trials.jsonl"
        self.records: list[dict] = []
        if self.records_path.is_file():
            self.records = [json.loads(line) for line in self.records_path.read_text().splitlines() if line.strip()]
        self.plans: dict[str, object] = {}
        self.started = time.time()

    # -- datasets and trainings

    def plan(self, name: str, policy: list[str], teacher: str):
        from kdaug.core.augment import parse_augment_spec
        from kdaug.core.recipe import Recipe
        from kdaug.experiments import WORKING_DATASET_CARD
        from kdaug.pipelines.materialize import prepare

        if name not in self.plans:
            recipe = Recipe(
                input=self.args.input,
                output=str(self.out / "datasets" / name),
                teacher=teacher,
                augment=[parse_augment_spec(spec) for spec in policy],
                id_column=self.args.id_column,
                label_column=self.args.label_column,
                teacher_precision=self.args.teacher_precision,
                seed=self.args.seed,
                **WORKING_DATASET_CARD,
            )
            self.plans[name] = prepare(recipe, self.command)
        return self.plans[name]

    def dataset(self, policy: list[str], teacher: str) -> tuple[str, float]:
        """The dataset of a policy labelled by a teacher (made once, shared by every trial and role that
        needs it), and what making it cost here (about 0 when an earlier run had made it)."""
        from kdaug.experiments import materialize_once

        labeller = hashlib.sha256(teacher.encode()).hexdigest()[:6]
        plan = self.plan(f"{policy_key('data', policy)}-t{labeller}", policy, teacher)
        t0 = time.time()
        materialize_once(plan, self.beam_args, self.command)
        return plan.recipe.output, time.time() - t0

    def config(self, role: str, data: str, output: Path, epochs: int, seed: int, test: bool = False):
        from kdaug.trainers.config import TrainConfig

        if role == "teacher":
            return TrainConfig(
                data=data,
                student=f"hf:model={self.args.teacher_init}",
                eval=self.args.eval,
                test=self.args.test if test else None,
                objective="finetune",
                augmented=True,
                epochs=epochs,
                batch_size=32,
                seed=seed,
                output=str(output),
            )
        return TrainConfig(
            data=data,
            student=self.args.student,
            eval=self.args.eval,
            test=self.args.test if test else None,
            objective="distill",
            epochs=epochs,
            batch_size=self.args.batch_size,
            seed=seed,
            output=str(output),
        )

    def spent_minutes(self) -> float:
        return sum(r["seconds"] for r in self.records) / 60

    def record(self, entry: dict) -> None:
        self.records.append(entry)
        self.records_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.records_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")

    def recorded(self, role: str, key: str, epochs: int) -> dict | None:
        return next((r for r in self.records if (r["role"], r["key"], r["epochs"]) == (role, key, epochs)), None)

    # -- one role

    def search_role(self, role: str, labelling_teacher: str) -> dict:
        """Successive halving over the role's population; returns the winning trial's last record."""
        from kdaug.runs import train_many

        a = self.args
        trials = a.teacher_trials if role == "teacher" and a.teacher_trials else a.trials
        population = draw_population(self.space[role], trials, a.seed, role)
        low, high = (a.teacher_min_epochs, a.teacher_max_epochs) if role == "teacher" else (a.min_epochs, a.max_epochs)
        alive = list(range(len(population)))
        last: dict[int, dict] = {}
        schedule = rungs(len(population), a.eta, low, high)
        print(f"\n== {role} role: {len(population)} policies, rungs {schedule} (trials, epochs)", flush=True)
        for rung, (keep, epochs) in enumerate(schedule):
            if rung:
                ranked = sorted(alive, key=lambda t: (-last[t]["reward"], t))
                alive = sorted(ranked[:keep])
            todo = []
            for t in alive:
                key = policy_key(role, population[t])
                done = self.recorded(role, key, epochs)
                if done is not None:
                    last[t] = done
                    continue
                if a.budget_minutes is not None and self.spent_minutes() >= a.budget_minutes:
                    print(f"  budget of {a.budget_minutes} min spent: trial {t} at {epochs} epochs not run", flush=True)
                    continue
                data, made_s = self.dataset(population[t], labelling_teacher)
                cfg = self.config(role, data, self.out / "runs" / key, epochs, a.seed)
                todo.append((t, key, data, made_s, cfg))
            trained = train_many([c for *_, c in todo], a.parallel, retrain_mismatched=True)
            for (t, key, data, made_s, cfg), metrics in zip(todo, trained):
                entry = {
                    "role": role,
                    "trial": t,
                    "key": key,
                    "policy": population[t],
                    "rung": rung,
                    "epochs": epochs,
                    "reward": metrics["best"]["accuracy"],
                    "best_epoch": metrics["best"]["epoch"],
                    "seconds": round(made_s + metrics["timing"]["total_s"], 1),
                    "dataset": data,
                    "run": cfg.output,
                }
                self.record(entry)
                last[t] = entry
            for t in alive:
                if t in last and last[t]["epochs"] == epochs:
                    r = last[t]
                    print(f"  {role} trial {t} ({shown(r['policy'])}), {epochs} epoch(s): dev {100 * r['reward']:.1f}")
            alive = [t for t in alive if t in last and last[t]["epochs"] == epochs]
            if not alive:
                break
        finalists = [last[t] for t in last]
        if not finalists:
            from kdaug.core.errors import KdaugError

            raise KdaugError(f"--budget-minutes {a.budget_minutes}: spent before any {role} trial could run")
        best = max(finalists, key=lambda r: (r["epochs"], r["reward"], -r["trial"]))
        print(f"  best {role} policy: {shown(best['policy'])} (dev {100 * best['reward']:.1f})", flush=True)
        return best

    # -- the whole search

    def run(self) -> int:
        from kdaug.experiments import paired, scores, teacher_headroom

        a = self.args
        roles = [r.strip() for r in a.roles.split(",")]
        teacher = a.teacher
        best: dict[str, dict] = {}
        if "teacher" in roles:
            best["teacher"] = self.search_role("teacher", a.teacher)
            teacher = str(Path(best["teacher"]["run"]) / "best")
        best["student"] = self.search_role("student", teacher)
        entries, teachers = self.final_entries(best, teacher)
        runs = self.final_round(entries)
        results = {name: scores(ms) for name, ms in runs.items()}
        comparisons = [paired(x, y, runs[x], runs[y]) for x, y in final_pairs(entries)]
        # The teachers on --test, now that the search is over (it never looked): is a better student a
        # better teacher's doing?
        given = self.test_accuracy(a.teacher)
        for t in teachers.values():
            t["test_accuracy"] = self.test_accuracy(str(Path(t["run"]) / "best"))
        headroom = teacher_headroom(
            given, [m["test"]["accuracy"] for m in runs[NONE]], "the student distilled without augmentation"
        )
        self.write(best, results, comparisons, teachers, given, headroom)
        return 0

    def final_entries(self, best: dict[str, dict], teacher: str) -> tuple[list[FinalEntry], dict[str, dict]]:
        """The final round's entries (no augmentation, the fixed recipe, the searched student policy and,
        when the teacher role was searched, the role-wise pair and one policy for both roles), and the
        teachers made for them."""
        from kdaug.core.augment import keeps_gold_label

        a = self.args
        student_policy = best["student"]["policy"]
        entries = [FinalEntry("none", NONE, [], a.teacher)]
        baseline = [] if a.baseline_augment.lower() == "none" else [s.strip() for s in a.baseline_augment.split(";")]
        if baseline:
            entries.append(FinalEntry("fixed", f"fixed recipe: {shown(baseline)}", baseline, a.teacher))
        name = f"searched student policy: {shown(student_policy)}"
        entries.append(FinalEntry("searched", name, student_policy, a.teacher))
        teachers: dict[str, dict] = {}
        if "teacher" in best:
            name = f"role-wise: teacher {shown(best['teacher']['policy'])}, student {shown(student_policy)}"
            entries.append(FinalEntry("role-wise", name, student_policy, teacher))
            teachers["searched teacher policy"] = best["teacher"]
            same = all(keeps_gold_label(s) for s in student_policy)
            if same and student_policy != best["teacher"]["policy"]:
                one = self.one_policy_teacher(student_policy)
                teachers["the student's policy"] = one
                name = f"one policy for both roles: {shown(student_policy)}"
                entries.append(FinalEntry("one policy", name, student_policy, str(Path(one["run"]) / "best")))
        return entries, teachers

    def final_round(self, entries: list[FinalEntry]) -> dict[str, list[dict]]:
        """Each entry's dataset, labelled by its teacher, and --final-seeds students on --test: their
        metrics per entry name."""
        from kdaug.experiments import slug
        from kdaug.runs import train_many

        a = self.args
        print("\n== final round on --test", flush=True)
        configs, names = [], []
        for e in entries:
            data, _ = self.dataset(e.policy, e.labeller)
            for seed in range(a.final_seeds):
                output = self.out / "final" / f"{slug(e.name)}-s{seed}"  # by entry: two may share a dataset
                configs.append(self.config("student", data, output, a.max_epochs, seed, test=True))
                names.append(e.name)
        runs: dict[str, list[dict]] = {}
        for name, m in zip(names, train_many(configs, a.parallel, retrain_mismatched=True)):
            runs.setdefault(name, []).append(m)
        return runs

    def test_accuracy(self, teacher: str) -> float:
        """A teacher's accuracy on --test, through the labelling path materialize uses."""
        import numpy as np

        from kdaug.core.corpus import ColumnSpec
        from kdaug.core.teacher import TeacherSettings
        from kdaug.trainers.evaluation import load_eval

        model = TeacherSettings(spec=teacher, precision=self.args.teacher_precision).load()
        names = [model.info.id2label[i] for i in range(model.info.num_labels)]
        texts, pairs, gold = load_eval(self.args.test, ColumnSpec(label=self.args.label_column), names, "test")
        predicted = model.label(texts, pairs if any(p is not None for p in pairs) else None).pred
        return float(np.mean(predicted == np.array(gold)))

    def write(
        self, best: dict, results: dict, comparisons: list[dict], teachers: dict, given: float, headroom: str
    ) -> None:
        from kdaug.search_report import best_recipe_yaml, final_page, plot_trials, trials_page

        (self.out / "best_recipe.yaml").write_text(best_recipe_yaml(self.args, best))
        trials = sorted(self.records, key=lambda r: (ROLES.index(r["role"]), r["rung"], r["trial"]))
        (self.out / "trials.md").write_text(trials_page(self.command, trials, best, self.spent_minutes()))
        (self.out / "trials.json").write_text(json.dumps(trials, indent=2) + "\n")
        plot_trials(trials, self.out / "search.png")
        final = final_page(self.command, self.args, results, comparisons, teachers, given, headroom)
        (self.out / "results.md").write_text(final)
        payload = {
            "command": self.command,
            "best": {role: {k: r[k] for k in ("policy", "reward", "epochs", "run")} for role, r in best.items()},
            "final": results,
            "comparisons": comparisons,
            "teachers": {
                n: {k: t[k] for k in ("policy", "reward", "test_accuracy", "run")} for n, t in teachers.items()
            },
            "given_teacher_test_accuracy": given,
            "teacher_headroom": headroom,
        }
        (self.out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
        print("\n" + final)
        print(f"written to {self.out}/results.md, trials.md, search.png and best_recipe.yaml")

    def one_policy_teacher(self, policy: list[str]) -> dict:
        """The teacher fine-tuned on the student's policy, as long as the teacher role's finalists."""
        from kdaug.runs import train_one

        a = self.args
        key = policy_key("teacher", policy)
        data, made_s = self.dataset(policy, a.teacher)
        cfg = self.config("teacher", data, self.out / "runs" / key, a.teacher_max_epochs, a.seed)
        metrics = train_one(cfg, retrain_mismatched=True)
        return {"policy": policy, "reward": metrics["best"]["accuracy"], "run": cfg.output}


def main(argv: list[str]) -> int:
    from kdaug.pipelines.materialize import parse_job_args

    p = parser()
    args, beam_args, command = parse_job_args(p, argv)
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    if not roles or set(roles) - set(ROLES) or "student" not in roles:
        p.error("--roles takes student or teacher,student")
    if "teacher" in roles and not args.teacher_init:
        p.error("--roles teacher needs --teacher-init, the pretrained encoder the teacher role fine-tunes")
    if args.teacher_trials is not None and args.teacher_trials < 1:
        p.error("--teacher-trials must be at least 1")
    for flag in ("trials", "min_epochs", "max_epochs", "teacher_min_epochs", "teacher_max_epochs", "final_seeds"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be at least 1")
    if args.eta < 2:
        p.error("--eta must be at least 2")
    space = load_space(args.space, roles)
    if args.baseline_augment.lower() != "none":
        from kdaug.core.augment import parse_augment_spec

        for spec in args.baseline_augment.split(";"):
            parse_augment_spec(spec.strip())
    return Search(args, beam_args, command, space).run()
