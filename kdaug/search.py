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
import copy
import hashlib
import json
import random
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

# Each role's space: the augmenters a policy may use, each knob's candidate values, and how many
# augmenters one policy combines. The student's follows the papers (KD likes ~30-50% changed tokens and
# many copies; AugPro's projection); the teacher's is lighter (fine-tuning prefers ~10%).
DEFAULT_SPACE: dict[str, dict] = {
    "teacher": {
        "max_augmenters": 1,
        "augmenters": {
            "synonym": {"ratio": [0.05, 0.1, 0.2, 0.3], "copies": [1, 2, 4]},
            "knn": {"ratio": [0.05, 0.1, 0.2, 0.3], "copies": [1, 2, 4]},
        },
    },
    "student": {
        "max_augmenters": 2,
        "augmenters": {
            "synonym": {"ratio": [0.1, 0.2, 0.3, 0.4, 0.5], "copies": [2, 4, 8]},
            "knn": {"ratio": [0.1, 0.2, 0.3, 0.4, 0.5], "copies": [2, 4, 8]},
            "augpro_mix": {"mu": [0.3, 0.5, 0.7], "copies": [2, 4, 8]},
        },
    },
}
ROLES = ("teacher", "student")


@dataclass(frozen=True)
class FinalEntry:
    """One entry of the final round: its kind (none, fixed, searched, role-wise, one policy), the name it
    is reported under, the student's policy and the teacher that labels its dataset."""

    kind: str
    name: str
    policy: list[str]
    labeller: str


NONE = "no augmentation"


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


def load_space(path: str | None, roles: list[str]) -> dict[str, dict]:
    """Each searched role's space, validated: known augmenters, non-empty candidate lists, specs that parse."""
    import yaml

    from kdaug.core.augment import REGISTRY, keeps_gold_label, parse_augment_spec
    from kdaug.core.errors import KdaugError

    space = copy.deepcopy(DEFAULT_SPACE)
    if path:
        try:
            given = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise KdaugError(f"--space {path}: {err}") from None
        if not isinstance(given, dict) or set(given) - set(ROLES):
            raise KdaugError(f"--space {path}: expected a mapping with keys among {ROLES}")
        space.update(given)
    for role in roles:
        s = space[role]
        augmenters = s.get("augmenters") if isinstance(s, dict) else None
        if not isinstance(augmenters, dict) or not augmenters:
            raise KdaugError(f"--space: role {role!r} needs augmenters: {{METHOD: {{KNOB: [values]}}}}")
        if not isinstance(s.get("max_augmenters", 1), int) or s.get("max_augmenters", 1) < 1:
            raise KdaugError(f"--space: role {role!r}: max_augmenters must be a positive integer")
        for method, knobs in augmenters.items():
            if not isinstance(knobs, dict) or not all(isinstance(v, list) and v for v in knobs.values()):
                raise KdaugError(f"--space: {role}.{method}: each knob needs a non-empty list of values")
            if role == "teacher" and not keeps_gold_label(method):
                kept = sorted(m for m in REGISTRY if keeps_gold_label(m))
                raise KdaugError(
                    f"--space: the teacher role fine-tunes on gold labels, which {method}'s copies do not keep; "
                    f"use {kept}"
                )
            for values in _corners(knobs):  # every knob value must make a valid spec
                parse_augment_spec(spec_of(method, values))
    return {role: space[role] for role in roles}


def _corners(knobs: dict) -> list[dict]:
    return [{k: v[i % len(v)] for k, v in knobs.items()} for i in range(max(len(v) for v in knobs.values()))]


def spec_of(method: str, values: dict) -> str:
    return f"{method}:" + ",".join(f"{k}={v}" for k, v in values.items()) if values else method


def draw_population(space: dict, trials: int, seed: int, role: str) -> list[list[str]]:
    """`trials` distinct policies: no augmentation first, then draws from the space (seeded by role)."""
    rng = random.Random(f"kdaug-search/{seed}/{role}")
    methods = sorted(space["augmenters"])
    population: list[list[str]] = [[]]
    for _ in range(100 * trials):
        if len(population) >= trials:
            break
        count = rng.randint(1, min(space.get("max_augmenters", 1), len(methods)))
        policy = [
            spec_of(m, {k: rng.choice(v) for k, v in sorted(space["augmenters"][m].items())})
            for m in sorted(rng.sample(methods, count))
        ]
        if policy not in population:
            population.append(policy)
    return population


def rungs(trials: int, eta: int, min_epochs: int, max_epochs: int) -> list[tuple[int, int]]:
    """Successive halving: [(trials kept, epochs)] from all trials at min_epochs to the last rung."""
    out, n, epochs = [], trials, min_epochs
    while True:
        out.append((n, min(epochs, max_epochs)))
        if n <= 1 or epochs >= max_epochs:
            return out
        n, epochs = max(1, n // eta), epochs * eta


def policy_key(role: str, policy: list[str]) -> str:
    from kdaug.core.augment import method_of

    readable = "-".join(method_of(s) for s in policy) or "none"
    return f"{role}-{readable}-{hashlib.sha256(json.dumps(policy).encode()).hexdigest()[:10]}"


def shown(policy: list[str]) -> str:
    return " + ".join(policy) or NONE


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
        from kdaug.compare import slug
        from kdaug.core.augment import keeps_gold_label
        from kdaug.experiments import paired, scores
        from kdaug.runs import train_many

        a = self.args
        roles = [r.strip() for r in a.roles.split(",")]
        teacher = a.teacher
        best: dict[str, dict] = {}
        if "teacher" in roles:
            best["teacher"] = self.search_role("teacher", a.teacher)
            teacher = str(Path(best["teacher"]["run"]) / "best")
        best["student"] = self.search_role("student", teacher)

        # The final round: each entry's dataset, labelled by its teacher, and --final-seeds students on --test.
        student_policy = best["student"]["policy"]
        entries = [FinalEntry("none", NONE, [], a.teacher)]
        baseline = [] if a.baseline_augment.lower() == "none" else [s.strip() for s in a.baseline_augment.split(";")]
        if baseline:
            entries.append(FinalEntry("fixed", f"fixed recipe: {shown(baseline)}", baseline, a.teacher))
        searched = FinalEntry(
            "searched", f"searched student policy: {shown(student_policy)}", student_policy, a.teacher
        )
        entries.append(searched)
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
        print("\n== final round on --test", flush=True)
        configs, names = [], []
        for e in entries:
            data, _ = self.dataset(e.policy, e.labeller)
            for seed in range(a.final_seeds):
                output = self.out / "final" / f"{slug(e.name)}-s{seed}"  # by entry: two may share a dataset
                configs.append(self.config("student", data, output, a.max_epochs, seed, test=True))
                names.append(e.name)
        metrics = train_many(configs, a.parallel, retrain_mismatched=True)
        runs: dict[str, list[dict]] = {}
        for name, m in zip(names, metrics):
            runs.setdefault(name, []).append(m)
        results = {name: scores(ms) for name, ms in runs.items()}
        of_kind = {e.kind: e.name for e in entries}
        pairs = [(searched.name, NONE)] + ([(searched.name, of_kind["fixed"])] if baseline else [])
        if "role-wise" in of_kind:
            rolewise = of_kind["role-wise"]
            pairs += [(rolewise, searched.name)] + (
                [(rolewise, of_kind["one policy"])] if "one policy" in of_kind else []
            )
            pairs += [(rolewise, of_kind["fixed"])] if baseline else []  # against the best single fixed policy
        comparisons = [paired(x, y, runs[x], runs[y]) for x, y in pairs]
        # The teachers on --test, now that the search is over (it never looked): is a better student a
        # better teacher's doing?
        given = self.test_accuracy(a.teacher)
        for t in teachers.values():
            t["test_accuracy"] = self.test_accuracy(str(Path(t["run"]) / "best"))
        self.write(best, results, comparisons, teachers, given)
        return 0

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

    def one_policy_teacher(self, policy: list[str]) -> dict:
        """The teacher fine-tuned on the student's policy, as long as the teacher role's finalists."""
        from kdaug.runs import train_one

        a = self.args
        key = policy_key("teacher", policy)
        data, made_s = self.dataset(policy, a.teacher)
        cfg = self.config("teacher", data, self.out / "runs" / key, a.teacher_max_epochs, a.seed)
        metrics = train_one(cfg, retrain_mismatched=True)
        return {"policy": policy, "reward": metrics["best"]["accuracy"], "run": cfg.output}

    # -- output

    def write(self, best: dict, results: dict, comparisons: list[dict], teachers: dict, given: float) -> None:
        import yaml

        from kdaug.core.markdown import table
        from kdaug.experiments import scored_cells
        from kdaug.stats import describe

        a = self.args
        recipe = {
            "input": a.input,
            "teacher": a.teacher,
            "id_column": a.id_column,
            "label_column": a.label_column,
            "seed": a.seed,
            "roles": {
                "student": {"augment": best["student"]["policy"]}
                | ({"teacher": str(Path(best["teacher"]["run"]) / "best")} if "teacher" in best else {})
            },
        }
        if "teacher" in best:
            recipe["roles"]["teacher"] = {"augment": best["teacher"]["policy"]}
        header = (
            "# kdaug search's best policies. `kdaug materialize --config best_recipe.yaml --output DIR` writes\n"
            "# DIR/student (the student's distillation data, labelled by the searched teacher when there is one)"
            + (
                " and\n# DIR/teacher (the data the teacher role's winner was fine-tuned on)"
                if "teacher" in best
                else ""
            )
            + ".\n"
        )
        (self.out / "best_recipe.yaml").write_text(header + yaml.safe_dump(recipe, sort_keys=False))
        trials = sorted(self.records, key=lambda r: (ROLES.index(r["role"]), r["rung"], r["trial"]))
        lines = [
            "# kdaug search: every trial",
            "",
            f"Command: `{self.command}`",
            "",
        ]
        cells = []
        for r in trials:
            mark = " **(best)**" if any(r is b or r == b for b in best.values()) else ""
            policy, reward, seconds = f"{shown(r['policy'])}{mark}", f"{100 * r['reward']:.1f}", f"{r['seconds']:.0f}"
            cells.append([r["role"], r["trial"], policy, r["rung"], r["epochs"], reward, r["best_epoch"], seconds])
        columns = ["role", "trial", "policy", "rung", "epochs", "dev accuracy", "best epoch", "cost (s)"]
        lines += table(columns, cells, "lrlrrrrr")
        lines += ["", f"Search cost: {self.spent_minutes():.1f} minutes of trials.", ""]
        (self.out / "trials.md").write_text("\n".join(lines))
        (self.out / "trials.json").write_text(json.dumps(trials, indent=2) + "\n")
        plot_trials(trials, self.out / "search.png")
        final = [
            "# kdaug search: the final round",
            "",
            f"Command: `{self.command}`",
            "",
            f"Students distilled for {a.max_epochs} epochs, {a.final_seeds} seeds, epochs picked on --eval, "
            "scored on --test.",
            "",
        ]
        scored = [[n, *scored_cells(v)] for n, v in results.items()]
        final += table(["entry", "test accuracy", "test macro-F1", "dev accuracy"], scored, "lrrr")
        final += ["", "Teachers (dev accuracy picked the searched ones; test scored after the search):", ""]
        final.append(f"- --teacher (labels the entries without a searched teacher): test {100 * given:.1f}")
        final += [
            f"- {name}: {shown(t['policy'])}, dev {100 * t['reward']:.1f}, test {100 * t['test_accuracy']:.1f}"
            for name, t in teachers.items()
        ]
        final += ["", "Paired comparisons:", ""] + [f"- {describe(c['a'], c['b'], c)}" for c in comparisons] + [""]
        (self.out / "results.md").write_text("\n".join(final))
        payload = {
            "command": self.command,
            "best": {role: {k: r[k] for k in ("policy", "reward", "epochs", "run")} for role, r in best.items()},
            "final": results,
            "comparisons": comparisons,
            "teachers": {
                n: {k: t[k] for k in ("policy", "reward", "test_accuracy", "run")} for n, t in teachers.items()
            },
            "given_teacher_test_accuracy": given,
        }
        (self.out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
        print("\n" + "\n".join(final))
        print(f"written to {self.out}/results.md, trials.md, search.png and best_recipe.yaml")


def plot_trials(trials: list[dict], path: Path) -> None:
    """Dev accuracy of every trial evaluation, in the order the search made them, one panel per role."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    roles = [r for r in ROLES if any(t["role"] == r for t in trials)]
    if not roles:
        return
    fig, axes = plt.subplots(1, len(roles), figsize=(6 * len(roles), 3.8), squeeze=False)
    for ax, role in zip(axes[0], roles):
        mine = [t for t in trials if t["role"] == role]
        for rung in sorted({t["rung"] for t in mine}):
            xs = [i for i, t in enumerate(mine) if t["rung"] == rung]
            ys = [100 * mine[i]["reward"] for i in xs]
            epochs = mine[xs[0]]["epochs"]
            ax.scatter(xs, ys, label=f"rung {rung} ({epochs} epoch{'s' if epochs > 1 else ''})", s=30)
        for i, t in enumerate(mine):  # which trial each point is (trial 0: no augmentation)
            label = f"t{t['trial']}" + (f" ({NONE})" if not t["policy"] else "")
            ax.annotate(label, (i, 100 * t["reward"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_title(f"{role} role", fontsize=10)
        ax.set_xlabel("trial evaluation (in order)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("dev accuracy (%)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    from kdaug.core.flags import flags_of
    from kdaug.pipelines.materialize import check_beam_args

    p = parser()
    args, beam_args = p.parse_known_args(argv)
    command = "kdaug search " + " ".join(shlex.quote(a) for a in argv)
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
    check_beam_args(beam_args, flags_of(p))
    space = load_space(args.space, roles)
    if args.baseline_augment.lower() != "none":
        from kdaug.core.augment import parse_augment_spec

        for spec in args.baseline_augment.split(";"):
            parse_augment_spec(spec.strip())
    return Search(args, beam_args, command, space).run()
