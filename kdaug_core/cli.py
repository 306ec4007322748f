"""The `kdaug` command. Subcommands live with the code they run and are imported only when called,
so `kdaug --help` stays fast and the library does not depend on Beam or the trainers."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

SUBCOMMANDS = {
    "materialize": ("pipelines.cli", "materialize", "materialize a distillation dataset (Beam pipeline)"),
    "demo": ("trainers.demo", "main", "the whole story on MR: fine-tune a teacher, materialize, distill students"),
    "distill": ("trainers.cli", "distill", "distill a student from a materialized dataset"),
    "finetune": ("trainers.cli", "finetune", "fine-tune on the gold labels of a materialized dataset"),
    "sweep": ("trainers.sweep", "main", "grid over shift degree, method and objective: which degree is best"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="kdaug", description="Materialize knowledge-distillation datasets.")
    parser.add_argument("command", choices=sorted(SUBCOMMANDS), help="; ".join(
        f"{k}: {v[2]}" for k, v in sorted(SUBCOMMANDS.items())))
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    if argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv[:1])  # prints the usage error and exits 2
    module, func, _ = SUBCOMMANDS[argv[0]]
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kdaug").setLevel(logging.INFO)
    quiet_libraries()
    return getattr(importlib.import_module(module), func)(argv[1:])


def quiet_libraries() -> None:
    """Beam and transformers log a lot at INFO that a user of kdaug does not need."""
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("apache_beam", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())
