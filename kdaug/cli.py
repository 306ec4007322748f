"""The `kdaug` command: one subcommand per job. Each subcommand's module is imported only when it runs,
so `kdaug --help` stays fast and a training command never loads Beam. A KdaugError a subcommand raises
becomes one line on stderr and exit code 2, here for all of them."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from kdaug.core.errors import KdaugError
from kdaug.core.flags import command_line


def _materialize(argv: list[str]) -> int:
    from kdaug.pipelines.cli import materialize

    return materialize(argv)


def _plan(argv: list[str]) -> int:
    from kdaug.pipelines.plan import plan

    return plan(argv)


def _distill(argv: list[str]) -> int:
    from kdaug.trainers.cli import distill

    return distill(argv)


def _finetune(argv: list[str]) -> int:
    from kdaug.trainers.cli import finetune

    return finetune(argv)


def _demo(argv: list[str]) -> int:
    from kdaug.demo import main

    return main(argv)


def _compare(argv: list[str]) -> int:
    from kdaug.compare import main

    return main(argv)


def _sweep(argv: list[str]) -> int:
    from kdaug.sweep import main

    return main(argv)


def _search(argv: list[str]) -> int:
    from kdaug.search import main

    return main(argv)


def _predict(argv: list[str]) -> int:
    from kdaug.model_commands import predict_main

    return predict_main(argv)


def _evaluate(argv: list[str]) -> int:
    from kdaug.model_commands import evaluate_main

    return evaluate_main(argv)


def _export(argv: list[str]) -> int:
    from kdaug.model_commands import export_main

    return export_main(argv)


def _verify(argv: list[str]) -> int:
    from kdaug.dataset_commands import verify_main

    return verify_main(argv)


def _publish(argv: list[str]) -> int:
    from kdaug.dataset_commands import publish_main

    return publish_main(argv)


def _report(argv: list[str]) -> int:
    from kdaug.dataset_commands import report_main

    return report_main(argv)


SUBCOMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "materialize": (_materialize, "materialize a distillation dataset (Beam pipeline)"),
    "plan": (_plan, "what materialize with the same arguments would write and cost, measured on a sample"),
    "demo": (_demo, "the whole story on MR: fine-tune a teacher, materialize, distill students"),
    "distill": (_distill, "distill a student from a materialized dataset"),
    "finetune": (_finetune, "fine-tune on the gold labels of a materialized dataset"),
    "compare": (_compare, "KD leaderboard over augmenters, objectives and seeds, with paired tests"),
    "sweep": (_sweep, "grid over shift degree, method, objective and training size: which degree is best"),
    "search": (_search, "search each role's augmentation policy (successive halving), then test the winners"),
    "predict": (_predict, "run a student (or a teacher) on a corpus: labels and class probabilities per record"),
    "evaluate": (_evaluate, "score a student (or a teacher) on a labelled file: accuracy, macro-F1, confusion, ECE"),
    "export": (_export, "export a student (or a teacher) to ONNX, optionally int8, checked against PyTorch"),
    "verify": (_verify, "check a dataset against its manifest: checksums, row counts, schema, counts"),
    "publish": (_publish, "verify a dataset and upload it to the Hugging Face Hub (--dry-run: no network)"),
    "report": (_report, "DIR/report.html: what the augmenters did, in plots and highlighted copies"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="kdaug", description="Materialize knowledge-distillation datasets.")
    parser.add_argument(
        "command",
        choices=sorted(SUBCOMMANDS),
        help="; ".join(f"{name}: {what}" for name, (_, what) in sorted(SUBCOMMANDS.items())),
    )
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    if argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv[:1])  # prints the usage error and exits 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kdaug").setLevel(logging.INFO)
    quiet_libraries()
    run, _ = SUBCOMMANDS[argv[0]]
    with command_line():  # messages name settings as flags (--text-column), not keywords
        try:
            return run(argv[1:])
        except KdaugError as err:  # every subcommand's: one line, exit code 2
            print(f"kdaug {argv[0]}: error: {err}", file=sys.stderr)
            return 2


def quiet_libraries() -> None:
    """Beam and transformers log a lot at INFO that a user of kdaug does not need."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("apache_beam", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())
