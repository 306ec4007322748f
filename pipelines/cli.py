"""Command-line front end of the materialize pipeline: `kdaug materialize`."""

from __future__ import annotations

import argparse
import dataclasses

from kdaug.core.flags import command_line
from kdaug.core.recipe import Recipe

# Recipe holds every default; the help texts read them from there (a flag left out is not passed).
DEFAULTS = {f.name: f.default for f in dataclasses.fields(Recipe) if f.default is not dataclasses.MISSING}


def _max_words(value: str) -> int | str:
    return "none" if value.lower() == "none" else int(value)


def materialize_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kdaug materialize",
        description="Augment a labelled corpus, label every row with a teacher, write Parquet. "
        "Unknown flags are Apache Beam pipeline options (--runner, --direct_num_workers, ...).",
    )
    p.add_argument("--config", help="recipe YAML; flags override its values")
    p.add_argument("--output", help="dataset directory (data/, dead_letter/, manifest.json, README.md)")
    p.add_argument("--split", help=f"name of the split written (default {DEFAULTS['split']})")
    _corpus_flags(p.add_argument_group("the corpus"))
    _augment_flags(p.add_argument_group("augmentation"))
    _teacher_flags(p.add_argument_group("the teacher and its soft labels"))
    _card_flags(p.add_argument_group("the dataset card and croissant.json (never change the rows)"))
    _run_flags(p.add_argument_group("how the job runs (never changes the rows)"))
    return p


def _corpus_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--input",
        help="JSONL, CSV/TSV (also .gz/.bz2/.xz) or Parquet file or directory, or a saved `datasets` directory",
    )
    g.add_argument("--text-column")
    g.add_argument("--text-pair-column")
    g.add_argument("--label-column", help="'none' for an unlabelled corpus")
    g.add_argument("--id-column")
    g.add_argument("--label-map", help="corpus label -> teacher label, e.g. '-1=negative,1=positive'")
    g.add_argument("--input-format", help="jsonl, csv, tsv, parquet or hf_dataset (default: from the path)")
    g.add_argument("--input-split", help="split of a saved DatasetDict to read (default: --split)")
    g.add_argument(
        "--no-csv-header",
        dest="csv_header",
        action="store_const",
        const=False,
        help="CSV/TSV files have no header row; name columns by index (0, 1, ...)",
    )


def _augment_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--augment", action="append", metavar="SPEC", help="augmentation, e.g. synonym:ratio=0.3,copies=4 (repeatable)"
    )
    g.add_argument("--seed", type=int)
    g.add_argument(
        "--max-words",
        type=_max_words,
        metavar="N",
        help="augment a longer text only within its first N words (it is still written whole and labelled); "
        f"'none' for no limit (default {DEFAULTS['max_words']})",
    )
    g.add_argument(
        "--chunk-size",
        type=int,
        help=f"source records per chunk: unit of work and of output files (default {DEFAULTS['chunk_size']})",
    )
    g.add_argument(
        "--input-range-bytes",
        type=int,
        metavar="BYTES",
        help="read a JSONL/CSV/TSV file larger than this as byte ranges of this size, spread over "
        f"workers (default {DEFAULTS['input_range_bytes']}; 0: one file, one unit of work)",
    )


def _teacher_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--teacher", help="a transformers sequence-classification model: local directory or hub id")
    g.add_argument("--max-length", type=int, help="teacher's max tokens (default: the model's limit)")
    g.add_argument("--device", help=f"auto, cpu, cuda, cuda:N (default {DEFAULTS['device']})")
    g.add_argument(
        "--inference-batch-size",
        type=int,
        help=f"most sequences per teacher forward pass (default {DEFAULTS['inference_batch_size']})",
    )
    g.add_argument(
        "--teacher-precision",
        help="auto (bf16/fp16 autocast on a GPU, fp32 on CPU), fp32, bf16, fp16 "
        f"(default {DEFAULTS['teacher_precision']})",
    )
    g.add_argument("--soft-labels", help="how logits are stored: float32 (default), float16, topk:K, float16,topk:K")
    g.add_argument(
        "--trust-remote-code",
        action="store_const",
        const=True,
        help="allow the teacher's own modelling code from its repository (off by default)",
    )


def _card_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--license", help="the data's licence, a Hub licence id (e.g. cc-by-4.0); without it the card says unknown"
    )
    g.add_argument(
        "--source-dataset",
        dest="source_datasets",
        action="append",
        metavar="ID_OR_URL",
        help="the dataset the corpus comes from, a Hub id or URL (repeatable)",
    )
    g.add_argument("--language", action="append", metavar="CODE", help="language code of the texts (default en)")
    g.add_argument("--pretty-name", help="the dataset's display name")
    g.add_argument(
        "--task-id",
        dest="task_ids",
        action="append",
        metavar="ID",
        help="Hub task id, e.g. sentiment-classification (default multi-class-classification)",
    )


def _run_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--report", action="store_true", help="also write DIR/report.html (kdaug report) once the split is written"
    )
    g.add_argument(
        "--teacher-accelerator",
        metavar="HINT",
        help="right fitting: label on workers with this accelerator, augment on the others, e.g. "
        "'type:nvidia-l4;count:1;install-nvidia-driver' (a Beam resource hint, after a Reshuffle)",
    )
    g.add_argument("--teacher-min-ram", metavar="SIZE", help="resource hint for the labelling workers, e.g. 32GB")
    g.add_argument(
        "--teacher-copies-per-machine",
        type=int,
        metavar="N",
        help="load N teacher copies per machine shared by its worker processes (default: one per process)",
    )
    g.add_argument(
        "--torch-threads",
        type=int,
        metavar="N",
        help="torch threads per worker process (default: the machine's cores / its worker processes)",
    )


RUN_FLAGS = ("teacher_accelerator", "teacher_min_ram", "teacher_copies_per_machine", "torch_threads", "report")


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    values = {k: v for k, v in vars(args).items() if k != "config" and k not in RUN_FLAGS}
    return Recipe.from_sources(args.config, **values)


def scale_from_args(args: argparse.Namespace):
    from kdaug.pipelines.materialize import Scale

    return Scale(
        accelerator=args.teacher_accelerator,
        min_ram=args.teacher_min_ram,
        model_copies=args.teacher_copies_per_machine,
        torch_threads=args.torch_threads,
    )


def materialize(argv: list[str]) -> int:
    with command_line():
        return _materialize(argv)


def _materialize(argv: list[str]) -> int:
    from kdaug.pipelines.materialize import materialize_recipe, parse_job_args

    args, beam_args, command = parse_job_args(materialize_parser(), argv)
    recipe = recipe_from_args(args)
    manifests = materialize_recipe(
        recipe, beam_args, command, scale_from_args(args), on_start=print_role, on_done=print_summary
    )
    if args.report:
        from kdaug.core.publishing.report import write_report

        for role, job in recipe.jobs():
            if manifests.get(role) is not None:
                print(f"report: {write_report(job.output)}")
    return 0


def print_role(role: str | None, recipe: Recipe) -> None:
    if role:
        print(f"\n== role {role!r} -> {recipe.output}")


def print_summary(role: str | None, recipe: Recipe, manifest: dict | None, seconds: float) -> None:
    if manifest is None:
        print(
            f"--dry_run: the job for {recipe.output} was built (and, for Dataflow, translated into its "
            f"job request) but not run."
        )
        return
    e = manifest["splits"][recipe.split]
    print(
        f"\nWrote {e['rows_written']} rows to {recipe.output} in {seconds:.0f}s "
        f"(split {recipe.split!r}: read {e['records_read']}, written {e['records_written']}, "
        f"dead-lettered {e['records_dead_lettered']})"
    )
    for name in e.get("dead_letter_files", []) if e["records_dead_lettered"] else []:
        print(f"  rejected records, each with its position, reason and the record as read: {recipe.output}/{name}")
    for method, n in e["rows_per_method"].items():
        corpus = e.get("corpus_changed_ratio", {}).get(method)
        counted = (
            ""
            if corpus is None or abs(corpus - e["mean_changed_ratio"][method]) < 5e-4
            else (f" ({corpus:.3f} per copy asked, copies skipped on short texts counted as unchanged)")
        )
        print(f"  {method:<12} {n:>8} rows   mean changed_ratio {e['mean_changed_ratio'][method]:.3f}{counted}")
    if e.get("chunks", {}).get("reused"):
        c = e["chunks"]
        print(f"  {c['reused']} of {c['reused'] + c['written']} chunks reused from an interrupted earlier run")
    for key, a in e["augment"].items():
        if not_distinct := a["short"] - a.get("short_text", 0):
            print(f"  {key}: {not_distinct} of {a['requested']} copies could not be made distinct (fewer written)")
        if a.get("short_text"):
            print(
                f"  {key}: {a['short_text']} of {a['requested']} copies not drawn: their texts are too short for "
                f"the ratio (short=expected keeps the corpus at the ratio; short=one draws them)"
            )
