"""Command-line front ends of the pipelines: `kdaug materialize` and `kdaug demo`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

from kdaug_core.assets import MissingAssetError
from kdaug_core.augment import AugmentSpecError
from kdaug_core.corpus import CorpusError
from kdaug_core.recipe import Recipe, RecipeError
from kdaug_core.teacher import TeacherError

# Everything raised before any work starts: one clear message, exit code 2, no traceback.
SETUP_ERRORS = (CorpusError, RecipeError, AugmentSpecError, TeacherError, MissingAssetError)


def materialize_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kdaug materialize",
        description="Augment a labelled corpus, label every row with a teacher, write Parquet. "
                    "Unknown flags are Apache Beam pipeline options (--runner, --direct_num_workers, ...).")
    p.add_argument("--config", help="recipe YAML; flags override its values")
    p.add_argument("--input", help="JSONL, CSV/TSV or Parquet file or directory, or a saved `datasets` directory")
    p.add_argument("--output", help="dataset directory (data/, dead_letter/, manifest.json, README.md)")
    p.add_argument("--teacher", help="a transformers sequence-classification model: local directory or hub id")
    p.add_argument("--augment", action="append", metavar="SPEC",
                   help="augmentation, e.g. synonym:ratio=0.3,copies=4 (repeatable)")
    p.add_argument("--seed", type=int)
    p.add_argument("--split", help="name of the split written (default train)")
    p.add_argument("--text-column")
    p.add_argument("--text-pair-column")
    p.add_argument("--label-column", help="'none' for an unlabelled corpus")
    p.add_argument("--id-column")
    p.add_argument("--label-map", help="corpus label -> teacher label, e.g. '-1=negative,1=positive'")
    p.add_argument("--input-format", help="jsonl, csv, tsv, parquet or hf_dataset (default: from the path)")
    p.add_argument("--input-split", help="split of a saved DatasetDict to read (default: --split)")
    p.add_argument("--no-csv-header", dest="csv_header", action="store_const", const=False,
                   help="CSV/TSV files have no header row; name columns by index (0, 1, ...)")
    p.add_argument("--max-length", type=int, help="teacher's max tokens (default: the model's limit)")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--inference-batch-size", type=int)
    p.add_argument("--num-shards", type=int, help="Parquet files per split (default: from the input size)")
    p.add_argument("--trust-remote-code", action="store_const", const=True,
                   help="allow the teacher's own modelling code from its repository (off by default)")
    return p


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    values = {k: v for k, v in vars(args).items() if k != "config"}
    return Recipe.from_sources(args.config, **values)


def materialize(argv: list[str]) -> int:
    from pipelines.materialize import run

    args, beam_args = materialize_parser().parse_known_args(argv)
    command = "kdaug materialize " + " ".join(shlex.quote(a) for a in argv)
    try:
        recipe = recipe_from_args(args)
        t0 = time.time()
        manifest = run(recipe, beam_args, command)
    except SETUP_ERRORS as err:
        print(f"kdaug materialize: error: {err}", file=sys.stderr)
        return 2
    print_summary(recipe, manifest, time.time() - t0)
    return 0


def print_summary(recipe: Recipe, manifest: dict, seconds: float) -> None:
    e = manifest["splits"][recipe.split]
    print(f"\nWrote {e['rows_written']} rows to {recipe.output} in {seconds:.0f}s "
          f"(split {recipe.split!r}: read {e['records_read']}, written {e['records_written']}, "
          f"dead-lettered {e['records_dead_lettered']})")
    for method, n in e["rows_per_method"].items():
        print(f"  {method:<12} {n:>8} rows   mean changed_ratio {e['mean_changed_ratio'][method]:.3f}")
    for key, a in e["augment"].items():
        if a["short"]:
            print(f"  {key}: {a['short']} of {a['requested']} copies could not be made distinct (fewer written)")


def demo(argv: list[str]) -> int:
    from kdaug_core.assets.minilm import demo_teacher_dir
    from kdaug_core.assets.mr import fetch_mr
    from pipelines.materialize import run

    p = argparse.ArgumentParser(prog="kdaug demo", description=(
        "Materialize the MR sentence-polarity corpus (4,000 sentences) with the MiniLM teacher and "
        "WordNet synonym replacement at 30% changed tokens, 4 copies per sentence."))
    p.add_argument("--output", default="demo_output")
    p.add_argument("--limit", type=int, help="use only the first N sentences")
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--ratio", type=float, default=0.3)
    args, beam_args = p.parse_known_args(argv)
    try:
        corpus = fetch_mr()
        if args.limit:
            limited = corpus.with_name(f"mr_first_{args.limit}.jsonl")
            with open(corpus, encoding="utf-8") as src, open(limited, "w", encoding="utf-8") as dst:
                for i, line in zip(range(args.limit), src):
                    dst.write(line)
            corpus = limited
        teacher = demo_teacher_dir()
        note = ("The demo teacher is all-MiniLM-L6-v2 with a randomly initialised 2-class head that has NOT "
                "been fine-tuned on MR: its soft labels exercise the pipeline but carry no sentiment "
                "knowledge. Fine-tune a teacher first (`kdaug finetune`, coming with the trainer) for real use.")
        recipe = Recipe(input=str(corpus), output=args.output, teacher=str(teacher),
                        augment=[f"synonym:ratio={args.ratio},copies={args.copies}"], seed=0,
                        id_column="id", notes=[note])
        t0 = time.time()
        manifest = run(recipe, beam_args, "kdaug demo " + " ".join(shlex.quote(a) for a in argv))
    except SETUP_ERRORS as err:
        print(f"kdaug demo: error: {err}", file=sys.stderr)
        return 2
    print_summary(recipe, manifest, time.time() - t0)
    print(f"\nNOTE: {note}")
    print(f"Dataset card: {args.output}/README.md   manifest: {args.output}/manifest.json")
    print(json.dumps({"python": f"datasets.load_dataset({args.output!r})",
                      "duckdb": f"select aug_method, count(*) from '{args.output}/data/*.parquet' group by 1"}))
    return 0
