"""Command-line front end of the materialize pipeline: `kdaug materialize`."""

from __future__ import annotations

import argparse
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
    p.add_argument("--input", help="JSONL, CSV/TSV (also .gz/.bz2/.xz) or Parquet file or directory, or a saved "
                                    "`datasets` directory")
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
    p.add_argument("--inference-batch-size", type=int, help="most sequences per teacher forward pass (256)")
    p.add_argument("--teacher-precision", help="auto (bf16/fp16 autocast on a GPU, fp32 on CPU), fp32, bf16, fp16")
    p.add_argument("--soft-labels", help="how logits are stored: float32 (default), float16, topk:K, float16,topk:K")
    p.add_argument("--chunk-size", type=int,
                   help="source records per chunk: unit of work and of output files (default 4096)")
    p.add_argument("--input-range-bytes", type=int, metavar="BYTES",
                   help="read a JSONL/CSV/TSV file larger than this as byte ranges of this size, spread over "
                        "workers (default 67108864, 64 MiB; 0: one file, one unit of work)")
    run = p.add_argument_group("how the job runs (never changes the rows)")
    run.add_argument("--teacher-accelerator", metavar="HINT",
                     help="right fitting: label on workers with this accelerator, augment on the others, e.g. "
                          "'type:nvidia-l4;count:1;install-nvidia-driver' (a Beam resource hint, after a Reshuffle)")
    run.add_argument("--teacher-min-ram", metavar="SIZE", help="resource hint for the labelling workers, e.g. 32GB")
    run.add_argument("--teacher-copies-per-machine", type=int, metavar="N",
                     help="load N teacher copies per machine shared by its worker processes (default: one per process)")
    run.add_argument("--torch-threads", type=int, metavar="N",
                     help="torch threads per worker process (default: the machine's cores / its worker processes)")
    p.add_argument("--trust-remote-code", action="store_const", const=True,
                   help="allow the teacher's own modelling code from its repository (off by default)")
    return p


RUN_FLAGS = ("teacher_accelerator", "teacher_min_ram", "teacher_copies_per_machine", "torch_threads")


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    values = {k: v for k, v in vars(args).items() if k != "config" and k not in RUN_FLAGS}
    return Recipe.from_sources(args.config, **values)


def scale_from_args(args: argparse.Namespace):
    from pipelines.materialize import Scale

    return Scale(accelerator=args.teacher_accelerator, min_ram=args.teacher_min_ram,
                 model_copies=args.teacher_copies_per_machine, torch_threads=args.torch_threads)


def materialize(argv: list[str]) -> int:
    from pipelines.materialize import prepare, run
    from pipelines.worker import keep_long_lived_out_of_gc

    args, beam_args = materialize_parser().parse_known_args(argv)
    command = "kdaug materialize " + " ".join(shlex.quote(a) for a in argv)
    try:
        recipe = recipe_from_args(args)
        jobs = recipe.role_recipes() or [(None, recipe)]
        scale = scale_from_args(args)
        plans = [prepare(job, command, scale) for _, job in jobs]  # every role is checked before any starts
        keep_long_lived_out_of_gc()  # this process holds Beam, torch and the checked assets until it exits
        for (role, job), plan in zip(jobs, plans):
            if role:
                print(f"\n== role {role!r} -> {job.output}")
            t0 = time.time()
            manifest = run(job, beam_args, command, plan=plan)
            if manifest is None:
                print(f"--dry_run: the job for {job.output} was built (and, for Dataflow, translated into its "
                      f"job request) but not run.")
                continue
            print_summary(job, manifest, time.time() - t0)
    except SETUP_ERRORS as err:
        print(f"kdaug materialize: error: {err}", file=sys.stderr)
        return 2
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
