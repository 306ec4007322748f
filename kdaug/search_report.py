"""What `kdaug search` writes: best_recipe.yaml (a `roles:` recipe of the winning policies), trials.md and
search.png (every trial), results.md (the final round on --test)."""

from __future__ import annotations

from pathlib import Path

from kdaug.search_space import NONE, ROLES, shown


def best_recipe_yaml(args, best: dict) -> str:
    """A recipe `kdaug materialize --config best_recipe.yaml --output DIR` takes: DIR/student labelled by
    the searched teacher when there is one, and DIR/teacher, the data that teacher was fine-tuned on."""
    import yaml

    recipe = {
        "input": args.input,
        "teacher": args.teacher,
        "id_column": args.id_column,
        "label_column": args.label_column,
        "seed": args.seed,
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
        + (" and\n# DIR/teacher (the data the teacher role's winner was fine-tuned on)" if "teacher" in best else "")
        + ".\n"
    )
    return header + yaml.safe_dump(recipe, sort_keys=False)


def trials_page(command: str, trials: list[dict], best: dict, spent_minutes: float) -> str:
    from kdaug.core.markdown import table

    lines = ["# kdaug search: every trial", "", f"Command: `{command}`", ""]
    cells = []
    for r in trials:
        mark = " **(best)**" if any(r is b or r == b for b in best.values()) else ""
        policy, reward, seconds = f"{shown(r['policy'])}{mark}", f"{100 * r['reward']:.1f}", f"{r['seconds']:.0f}"
        cells.append([r["role"], r["trial"], policy, r["rung"], r["epochs"], reward, r["best_epoch"], seconds])
    columns = ["role", "trial", "policy", "rung", "epochs", "dev accuracy", "best epoch", "cost (s)"]
    lines += table(columns, cells, "lrlrrrrr")
    lines += ["", f"Search cost: {spent_minutes:.1f} minutes of trials.", ""]
    return "\n".join(lines)


def final_page(
    command: str, args, results: dict, comparisons: list[dict], teachers: dict, given: float, headroom: str
) -> str:
    from kdaug.core.markdown import table
    from kdaug.experiments import scored_cells
    from kdaug.stats import describe

    final = [
        "# kdaug search: the final round",
        "",
        f"Command: `{command}`",
        "",
        f"Students distilled for {args.max_epochs} epochs, {args.final_seeds} seeds, epochs picked on --eval, "
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
    final += ["", headroom]
    final += ["", "Paired comparisons:", ""] + [f"- {describe(c['a'], c['b'], c)}" for c in comparisons] + [""]
    return "\n".join(final)


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
