"""`kdaug distill` and `kdaug finetune`: command-line front ends of trainers/train.py."""

from __future__ import annotations

import argparse
import json
import sys

from kdaug.core.errors import KdaugError
from kdaug.trainers.train import TrainConfig, train

SETUP_ERRORS = (KdaugError, FileNotFoundError)


def parser(objective: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"kdaug {objective}", description=(
        "Distill a student from a materialized dataset (KD on teacher_logits, CE on originals' gold labels)"
        if objective == "distill" else
        "Fine-tune a model on gold labels of a materialized dataset (copies inherit their source's label)"))
    p.add_argument("--data", required=True, help="a dataset directory written by kdaug materialize" + (
        "" if objective == "distill" else ", or a plain labelled corpus (to fine-tune a teacher)"))
    p.add_argument("--student", required=True,
                   help="bilstm[:...], bert[:...], bert_from_teacher[:layers=N] or hf:model=PATH_OR_HUB_ID")
    p.add_argument("--eval", required=True, help="held-out labelled corpus (any format materialize reads)")
    p.add_argument("--output", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", help="comma-separated aug_method values to train on (e.g. original,synonym)")
    p.add_argument("--min-changed-ratio", type=float)
    p.add_argument("--max-changed-ratio", type=float)
    p.add_argument("--max-teacher-entropy", type=float)
    p.add_argument("--max-teacher-kl-to-source", type=float,
                   help="drop copies whose teacher distribution drifted further than this (nats) from their source's")
    p.add_argument("--aug-weight", type=float, default=1.0, help="loss weight of augmented rows (originals: 1)")
    p.add_argument("--eval-text-column", default="text")
    p.add_argument("--eval-text-pair-column")
    p.add_argument("--eval-label-column", default="label")
    p.add_argument("--device", default="cpu")
    p.add_argument("--restart", action="store_true",
                   help="discard a checkpoint of an earlier run in --output and train from the start (by default a "
                        "run resumes its own checkpoint, and refuses one of another run)")
    if objective == "distill":
        p.add_argument("--temperature", type=float, default=2.0)
        p.add_argument("--alpha", type=float, default=0.5, help="weight of the KD term (1 - alpha: gold CE)")
    else:
        p.add_argument("--no-augmented", dest="augmented", action="store_false",
                       help="train on originals only")
        p.add_argument("--text-column", default="text", help="plain corpus as --data: its text column")
        p.add_argument("--text-pair-column")
        p.add_argument("--label-column", default="label")
        p.add_argument("--labels", help="plain corpus: label names by index, comma-separated (default: from the data)")
    return p


def run(objective: str, argv: list[str]) -> int:
    args = vars(parser(objective).parse_args(argv))
    for key in ("methods", "labels"):
        if args.get(key):
            args[key] = [m.strip() for m in args[key].split(",")]
    try:
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
