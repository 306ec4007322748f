"""`kdaug predict`, `kdaug evaluate` and `kdaug export`: a trained student (or a teacher) run on new text,
scored on a labelled file, exported to ONNX for serving. The model is any directory `kdaug distill` or
`finetune` wrote (its best/ or last/), a transformers classifier (a teacher's directory or hub id), or
(predict, evaluate) a `kdaug export` directory, run with ONNX Runtime.

Everything a run needs is checked before any work: the output's directory, the input's columns, the
model. A record without text is left out and said; the others are written in the input's order.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

log = logging.getLogger("kdaug")

OUTPUT_FORMATS = (".jsonl", ".csv", ".parquet")


def _model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a student's directory (a run's best/) or a teacher's")
    p.add_argument("--text-column", default="text")
    p.add_argument("--text-pair-column", help="the second sentence of a pair, for models trained on pairs")
    p.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (default 64)")
    p.add_argument("--device", default="auto", help="auto (a GPU where there is one), cpu, cuda, cuda:N")


def predict_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kdaug predict",
        description="Run a model on a corpus: per record its id, the predicted label (index and name) and "
        "the class probabilities.",
    )
    _model_flags(p)
    p.add_argument("--input", required=True, help="any corpus materialize reads (JSONL, CSV/TSV, Parquet, ...)")
    p.add_argument("--output", required=True, help=f"where to write the predictions: {', '.join(OUTPUT_FORMATS)}")
    p.add_argument("--id-column", help="the records' id column (default: their position in the input)")
    return p


def evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kdaug evaluate",
        description="Score a model on a labelled file: accuracy, macro-F1, the confusion matrix and the "
        "expected calibration error (ECE, 15 bins).",
    )
    _model_flags(p)
    p.add_argument("--data", required=True, help="a labelled corpus (any format materialize reads)")
    p.add_argument("--label-column", default="label")
    p.add_argument("--output", help="also write the scores as JSON here")
    return p


def writable_output(path: str, formats: tuple[str, ...] | None = None) -> Path:
    """`path` if a file can be written there (its directory is created); else a KdaugError, before any work."""
    from kdaug.core.errors import KdaugError

    out = Path(path)
    if formats and out.suffix.lower() not in formats:
        raise KdaugError(f"--output {path!r}: write predictions as {', '.join(formats)} (by the file's extension)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise KdaugError(f"--output {path!r}: its directory cannot be made: {err.strerror}") from None
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise KdaugError(f"--output {path!r} cannot be written (no permission)")
    return out


def predict_main(argv: list[str]) -> int:
    from kdaug.core.corpus import ColumnSpec
    from kdaug.core.flags import given
    from kdaug.core.progress import Progress
    from kdaug.trainers.inference import load_model, read_unlabelled

    args = predict_parser().parse_args(argv)
    output = writable_output(args.output, OUTPUT_FORMATS)
    columns = ColumnSpec(args.text_column, args.text_pair_column, None, args.id_column)
    examples, skipped = read_unlabelled(args.input, columns, given("input", args.input))
    model = load_model(args.model, args.device, args.batch_size)
    print(f"predicting {len(examples)} records with {model.kind} {args.model!r} ({len(model.label_names)} classes)")
    if skipped:
        log.warning(
            "%d records left out (no usable text): %s%s", len(skipped), skipped[0], ", ..." * (len(skipped) > 1)
        )
    bar = Progress("predict", unit="texts", total=len(examples))
    pairs = [e.text_pair for e in examples] if args.text_pair_column else None
    logits = model.logits([e.text for e in examples], pairs, on_batch=bar.update)
    bar.close()
    write_predictions(output, examples, logits, model.label_names, id_given=bool(args.id_column))
    print(f"predictions: {output} ({len(examples)} rows)")
    return 0


def write_predictions(output: Path, examples, logits, label_names: list[str], id_given: bool) -> None:
    """One row per record: id (its id column's, else its position in the input), label, label_name, and
    prob_<name> per class. Written to a temporary file first, so a killed run leaves no partial output."""
    import pyarrow as pa

    from kdaug.core.logits import probabilities_of_logits

    probabilities = probabilities_of_logits(logits)
    predicted = probabilities.argmax(axis=1)
    columns = {
        "id": [e.id if id_given else e.position for e in examples],
        "label": predicted.tolist(),
        "label_name": [label_names[i] for i in predicted],
        **{f"prob_{name}": probabilities[:, i].tolist() for i, name in enumerate(label_names)},
    }
    table = pa.table(columns)
    tmp = output.with_name(f".{output.name}.tmp{os.getpid()}")
    suffix = output.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, tmp)
    elif suffix == ".csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, tmp)
    else:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in table.to_pylist():
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, output)


def evaluate_main(argv: list[str]) -> int:
    from kdaug.core.corpus import ColumnSpec
    from kdaug.core.logits import probabilities_of_logits
    from kdaug.core.markdown import table
    from kdaug.core.metrics import classification_scores, confusion_matrix, expected_calibration_error
    from kdaug.trainers.evaluation import load_eval
    from kdaug.trainers.inference import load_model

    args = evaluate_parser().parse_args(argv)
    output = writable_output(args.output) if args.output else None
    model = load_model(args.model, args.device, args.batch_size)
    columns = ColumnSpec(args.text_column, args.text_pair_column, args.label_column)
    texts, pairs, gold = load_eval(args.data, columns, model.label_names, "data", prefix="")
    probabilities = probabilities_of_logits(model.logits(texts, pairs if args.text_pair_column else None))
    predicted = probabilities.argmax(axis=1).tolist()
    scores = {
        "model": args.model,
        "data": args.data,
        "examples": len(gold),
        **classification_scores(gold, predicted),
        "ece": expected_calibration_error(probabilities, gold),
        "label_names": model.label_names,
        "confusion_matrix": confusion_matrix(gold, predicted, len(model.label_names)),
    }
    print(
        f"{args.model} on {args.data} ({len(gold)} examples): accuracy {100 * scores['accuracy']:.2f}, "
        f"macro-F1 {100 * scores['macro_f1']:.2f}, ECE {scores['ece']:.4f}\n"
    )
    rows = [[f"gold {name}", *counts] for name, counts in zip(model.label_names, scores["confusion_matrix"])]
    print("\n".join(table(["", *(f"predicted {n}" for n in model.label_names)], rows, "l" + "r" * len(rows))))
    if output:
        output.write_text(json.dumps(scores, indent=2) + "\n")
        print(f"\nscores: {output}")
    return 0


def export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kdaug export",
        description="Export a student (or a teacher) to ONNX for serving: OUT/model.onnx with dynamic batch and "
        "sequence axes, the tokenizer files and export.json; checked with ONNX Runtime against PyTorch.",
    )
    p.add_argument("--model", required=True, help="a student's directory (a run's best/) or a teacher's")
    p.add_argument("--output", required=True, help="the export's directory (replaced if it holds an export)")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="onnx (the only format so far)")
    p.add_argument("--int8", action="store_true", help="quantize the graph's weights to int8 (dynamic quantization)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    return p


def export_main(argv: list[str]) -> int:
    from kdaug.core.errors import KdaugError
    from kdaug.trainers.export import EXPORT_MANIFEST, OPSET, export_onnx

    args = export_parser().parse_args(argv)
    out = Path(args.output)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / EXPORT_MANIFEST).is_file())):
        raise KdaugError(f"--output {args.output!r} exists and is not an export: choose a new directory")
    writable_output(str(out / EXPORT_MANIFEST))
    if not Path(args.model).expanduser().exists():
        from kdaug.core.models import local_model_dir

        local_model_dir(args.model, "model")  # a hub id is fetched; a missing path fails here
    print(f"exporting {args.model!r} to ONNX{' (int8)' if args.int8 else ''}: {out}")
    manifest = export_onnx(args.model, out, int8=args.int8, opset=args.opset or OPSET)
    for name, check in manifest["check"].items():
        print(
            f"  {name}: largest logit difference from PyTorch {check['max_abs_logit_difference']:.2e}, "
            f"predictions agree on {100 * check['prediction_agreement']:.0f}% of {check['probes']} probe texts"
        )
    print(f"  {out / 'model.onnx'}: {manifest['onnx_bytes']:,} bytes; inputs {', '.join(manifest['inputs'])}")
    return 0
