"""`kdaug distill` and `kdaug finetune`: command-line front ends of trainers/train.py.

TrainConfig holds every default; a flag left out is not passed, so the defaults live in one place (the
help text reads them from there)."""

from __future__ import annotations

import argparse
import json
import sys

from kdaug.core.errors import KdaugError
from kdaug.core.flags import command_line, flags_of, reject_unknown
from kdaug.trainers.config import CONFIG_DEFAULTS as DEFAULTS
from kdaug.trainers.config import LR_SCHEDULES, TrainConfig
from kdaug.trainers.losses import KD_LOSSES
from kdaug.trainers.train import train

SETUP_ERRORS = (KdaugError, FileNotFoundError)


def _add(p: argparse.ArgumentParser, flag: str, help: str = "", **kwargs) -> None:
    """A flag whose default is TrainConfig's, shown in its help."""
    dest = kwargs.get("dest") or flag.lstrip("-").replace("-", "_")
    default = DEFAULTS.get(dest)
    shown = f"default: {default}" if default is not None else ""
    p.add_argument(flag, help="; ".join(x for x in (help, shown) if x) or None, **kwargs)


def parser(objective: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"kdaug {objective}",
        description=(
            "Distill a student from a materialized dataset (KD on teacher_logits, CE on originals' gold labels)"
            if objective == "distill"
            else "Fine-tune a model on gold labels of a materialized dataset (copies inherit their source's label)"
        ),
    )
    p.add_argument(
        "--data",
        required=True,
        help="a dataset directory written by kdaug materialize"
        + ("" if objective == "distill" else ", or a plain labelled corpus (to fine-tune a teacher)"),
    )
    p.add_argument(
        "--student",
        required=True,
        help="bilstm[:...], bert[:...], bert_from_teacher[:layers=N] or hf:model=PATH_OR_HUB_ID",
    )
    p.add_argument("--eval", required=True, help="held-out labelled corpus (any format materialize reads)")
    p.add_argument("--output", required=True)
    _add(
        p,
        "--test",
        help="a held-out labelled corpus, apart from --eval: the best epoch (picked on --eval) is scored on it "
        "once, as metrics.json's test",
    )
    _add(p, "--split")
    _add(p, "--epochs", type=int)
    _add(p, "--batch-size", type=int)
    _add(p, "--lr", type=float, help="AdamW learning rate (default: the student kind's own)")
    _add(p, "--seed", type=int)
    _add(p, "--methods", help="comma-separated aug_method values to train on (e.g. original,synonym)")
    _add(p, "--min-changed-ratio", type=float)
    _add(p, "--max-changed-ratio", type=float)
    _add(p, "--max-teacher-entropy", type=float)
    _add(
        p,
        "--max-teacher-kl-to-source",
        type=float,
        help="drop copies whose teacher distribution drifted further than this (nats) from their source's",
    )
    _add(p, "--aug-weight", type=float, help="loss weight of augmented rows (originals: 1)")
    _add(p, "--eval-text-column")
    _add(p, "--eval-text-pair-column")
    _add(p, "--eval-label-column")
    _add(p, "--device")
    _add(
        p,
        "--torch-threads",
        type=int,
        help="threads for torch (default: one per core this process is given, i.e. its CPU affinity); give "
        "each of N trainings sharing a machine 1/N of its cores",
    )
    _add(
        p,
        "--lr-schedule",
        choices=LR_SCHEDULES,
        help="constant, or linear: the learning rate decays to 0 at the end of the last epoch",
    )
    _add(
        p,
        "--bucket-pool",
        type=int,
        help="batches are cut from pools of this many batches of the shuffled stream, sorted by length, so a "
        "batch pads little (1: plain shuffled batches)",
    )
    _add(
        p,
        "--restart",
        action="store_const",
        const=True,
        help="discard a checkpoint of an earlier run in --output and train from the start (by default a run "
        "resumes its own checkpoint, and refuses one of another run)",
    )
    if objective == "distill":
        _add(p, "--temperature", type=float)
        _add(p, "--alpha", type=float, help="weight of the KD term (1 - alpha: gold CE)")
        _add(
            p,
            "--kd-loss",
            choices=KD_LOSSES,
            help="the KD term: kl (Hinton's T^2-scaled KL of softened distributions) or mse (squared error on raw "
            "logits, as Tang et al. distil BiLSTMs from BERT; --temperature unused)",
        )
    else:
        p.add_argument(
            "--no-augmented", dest="augmented", action="store_const", const=False, help="train on originals only"
        )
        _add(p, "--text-column", help="plain corpus as --data: its text column")
        _add(p, "--text-pair-column")
        _add(p, "--label-column")
        _add(p, "--labels", help="plain corpus: label names by index, comma-separated (default: from the data)")
    return p


def run(objective: str, argv: list[str]) -> int:
    with command_line():
        return _run(objective, argv)


def _run(objective: str, argv: list[str]) -> int:
    p = parser(objective)
    parsed, unknown = p.parse_known_args(argv)
    args = {k: v for k, v in vars(parsed).items() if v is not None}
    for key in ("methods", "labels"):
        if key in args:
            args[key] = [m.strip() for m in args[key].split(",")]
    try:
        reject_unknown(unknown, flags_of(p))
        metrics = train(TrainConfig(objective=objective, **args), progress=sys.stderr.isatty())
    except SETUP_ERRORS as err:
        print(f"kdaug {objective}: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"best": metrics["best"], "output": args["output"]}, indent=2))
    return 0


def distill(argv: list[str]) -> int:
    return run("distill", argv)


def finetune(argv: list[str]) -> int:
    return run("finetune", argv)
