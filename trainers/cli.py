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


def _add(p: argparse.ArgumentParser | argparse._ArgumentGroup, flag: str, help: str = "", **kwargs) -> None:
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
    _held_out_flags(p.add_argument_group("held-out sets"))
    _row_flags(p.add_argument_group("which rows to train on"))
    _optimisation_flags(p.add_argument_group("optimisation"))
    _quantize_flags(p.add_argument_group("a low-precision student"))
    if objective == "distill":
        _kd_flags(p.add_argument_group("the KD loss"))
    else:
        _corpus_flags(p.add_argument_group("fine-tuning"))
    return p


def _held_out_flags(g: argparse._ArgumentGroup) -> None:
    _add(
        g,
        "--test",
        help="a held-out labelled corpus, apart from --eval: the best epoch (picked on --eval) is scored on it "
        "once, as metrics.json's test",
    )
    _add(g, "--eval-text-column")
    _add(g, "--eval-text-pair-column")
    _add(g, "--eval-label-column")


def _row_flags(g: argparse._ArgumentGroup) -> None:
    _add(g, "--split")
    _add(g, "--methods", help="comma-separated aug_method values to train on (e.g. original,synonym)")
    _add(g, "--min-changed-ratio", type=float)
    _add(g, "--max-changed-ratio", type=float)
    _add(g, "--max-teacher-entropy", type=float)
    _add(
        g,
        "--max-teacher-kl-to-source",
        type=float,
        help="drop copies whose teacher distribution drifted further than this (nats) from their source's",
    )
    _add(g, "--aug-weight", type=float, help="loss weight of augmented rows (originals: 1)")


def _optimisation_flags(g: argparse._ArgumentGroup) -> None:
    _add(g, "--epochs", type=int)
    _add(g, "--batch-size", type=int)
    _add(g, "--lr", type=float, help="AdamW learning rate (default: the student kind's own)")
    _add(g, "--seed", type=int)
    _add(g, "--device")
    _add(
        g,
        "--torch-threads",
        type=int,
        help="threads for torch (default: one per core this process is given, i.e. its CPU affinity); give "
        "each of N trainings sharing a machine 1/N of its cores",
    )
    _add(
        g,
        "--lr-schedule",
        choices=LR_SCHEDULES,
        help="constant, or linear: the learning rate decays to 0 at the end of the last epoch",
    )
    _add(
        g,
        "--bucket-pool",
        type=int,
        help="batches are cut from pools of this many batches of the shuffled stream, sorted by length, so a "
        "batch pads little (1: plain shuffled batches)",
    )
    _add(
        g,
        "--restart",
        action="store_const",
        const=True,
        help="discard a checkpoint of an earlier run in --output and train from the start (by default a run "
        "resumes its own checkpoint, and refuses one of another run)",
    )


def _quantize_flags(g: argparse._ArgumentGroup) -> None:
    _add(
        g,
        "--quantize",
        type=int,
        metavar="BITS",
        help="quantization-aware training: weights fake-quantized per channel to 8, 4 or 2 (ternary) bits, "
        "straight-through gradients (default: a float student)",
    )
    _add(
        g,
        "--quantize-activations",
        action="store_const",
        const=True,
        help="with --quantize: also each linear layer's input, to 8 bits per tensor",
    )


def _kd_flags(g: argparse._ArgumentGroup) -> None:
    _add(g, "--temperature", type=float)
    _add(g, "--alpha", type=float, help="weight of the KD term (1 - alpha: gold CE)")
    _add(
        g,
        "--kd-loss",
        choices=KD_LOSSES,
        help="the KD term: kl (Hinton's T^2-scaled KL of softened distributions) or mse (squared error on raw "
        "logits, as Tang et al. distil BiLSTMs from BERT; --temperature unused)",
    )


def _corpus_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--no-augmented", dest="augmented", action="store_const", const=False, help="train on originals only"
    )
    _add(g, "--text-column", help="plain corpus as --data: its text column")
    _add(g, "--text-pair-column")
    _add(g, "--label-column")
    _add(g, "--labels", help="plain corpus: label names by index, comma-separated (default: from the data)")


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
