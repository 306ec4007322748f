"""`kdaug plan`: what `kdaug materialize` with the same arguments would write and cost, without writing it.

Every check materialize makes before work runs first (teacher, columns, labels, augmenters, assets).
Then the corpus is read once and counted, and the recipe's augmenters and teacher run on a sample of it
on this machine (kdaug.core.cost): sources, copies and rows, core-hours per step, the wall time on the
given cores, the teacher's FLOPs, an estimate of the labelling's time on common GPUs, and, with prices,
what it comes to.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from kdaug.core.corpus import plan_read_units
from kdaug.core.cost import ASSUMED_GPU_UTILIZATION, count_corpus, estimate, measure_costs, worker_start_seconds
from kdaug.core.markdown import table
from kdaug.core.recipe import RecipeError
from kdaug.core.schema import arrow_schema
from kdaug.core.teacher import TeacherSettings
from kdaug.core.threads import available_cores, cpu_model
from kdaug.pipelines.cli import materialize_parser, recipe_from_args, scale_from_args


def plan_parser() -> argparse.ArgumentParser:
    p = materialize_parser()
    p.prog = "kdaug plan"
    p.description = (
        "What `kdaug materialize` with these arguments would write and cost, measured on a sample of the "
        "corpus on this machine; nothing is written (but --json)."
    )
    g = p.add_argument_group("the estimate")
    g.add_argument(
        "--sample",
        type=int,
        default=256,
        help="sources the costs are measured on, after up to 4 times as many others warm the augmenters' caches "
        "(default 256)",
    )
    g.add_argument(
        "--cores", type=int, help="cores the job will run on, one worker process each (default: this machine's)"
    )
    g.add_argument("--core-hour-price", type=float, metavar="PRICE", help="a CPU core-hour's price (e.g. USD)")
    g.add_argument("--gpu-hour-price", type=float, metavar="PRICE", help="a GPU-hour's price, for the GPU estimate")
    g.add_argument("--json", metavar="FILE", help="also write the estimate as JSON")
    return p


WARMUP_SAMPLES = 4  # sources run untimed first, per timed one (for at most a minute an augmenter)
ESTIMATE_FLAGS = ("sample", "cores", "core_hour_price", "gpu_hour_price", "json")


def plan(argv: list[str]) -> int:
    from kdaug.pipelines.materialize import parse_job_args, prepare

    args, _, command = parse_job_args(plan_parser(), argv)
    wanted = {k: getattr(args, k) for k in ESTIMATE_FLAGS}
    for k in ESTIMATE_FLAGS:
        delattr(args, k)
    if wanted["sample"] < 8:
        raise RecipeError("--sample must be at least 8")
    if wanted["cores"] is not None and wanted["cores"] < 1:
        raise RecipeError("--cores must be at least 1")
    recipe = recipe_from_args(args)
    cores = wanted["cores"] or available_cores()
    start_seconds = worker_start_seconds()  # the same for every role's job
    for role, job in recipe.jobs():
        p = prepare(job, command, scale_from_args(args))  # every check materialize makes before work
        print(f"{'== role ' + repr(role) + ': ' if role else ''}kdaug plan: {job.input} -> {job.output}", flush=True)
        units = plan_read_units(job.input, job.input_format, job.input_split or job.split, job.csv_header)
        labels = p.labels if job.label_column else None
        count = count_corpus(units, job.columns, labels, (1 + WARMUP_SAMPLES) * wanted["sample"], job.seed)
        if not count.sample:
            raise RecipeError(f"{job.input}: no valid record to measure on ({count.bad_records} bad)")
        # the rest of the sample warms the augmenters' caches, as a long job's earlier chunks would
        timed, warmup = count.sample[: wanted["sample"]], count.sample[wanted["sample"] :]
        settings = TeacherSettings(
            job.teacher,
            device="cpu",
            max_length=p.teacher.max_length,
            trust_remote_code=job.trust_remote_code,
            max_batch_size=job.inference_batch_size,
            precision=job.teacher_precision if job.teacher_precision != "auto" else "fp32",
        )
        print(f"measuring on {len(timed)} of {count.sources:,} sources, one core ...", flush=True)
        schema = arrow_schema({"label_names": p.labels.names()}, soft_labels=job.soft_label_format)
        costs = measure_costs(
            timed, job.augment, job.seed, settings, warmup, schema=schema, soft_labels=job.soft_label_format
        )
        result = estimate(count, costs, cores, start_seconds)
        print(report(result, wanted["core_hour_price"], wanted["gpu_hour_price"]))
        if wanted["json"]:
            out = Path(wanted["json"] if not role else f"{wanted['json']}.{role}.json")
            out.write_text(json.dumps({"command": command, **result.to_dict()}, indent=2) + "\n")
            print(f"written to {out}")
    return 0


def _hours(h: float) -> str:
    if h < 1 / 3600:
        return "under 1 s"
    if h < 1 / 60:
        return f"{h * 3600:.0f} s"
    return f"{h * 60:.1f} min" if h < 1 else f"{h:,.1f} h"


def report(e, core_price: float | None = None, gpu_price: float | None = None) -> str:
    """The estimate as a person reads it: counts, a table of steps, the teacher's FLOPs and GPU estimate."""
    c = e.costs
    cpu = cpu_model() or platform.processor() or platform.machine()
    lines = [
        f"  sources {e.sources:,}"
        + (f" ({e.bad_records:,} bad records will be dead-lettered)" if e.bad_records else ""),
        *(
            f"  {k}: {e.copies[k]:,} copies ({e.copies_asked.get(k, '?')} per source asked, "
            f"{c.copies_per_source[k]:.2f} written per source in the sample)"
            for k in e.copies
        ),
        f"  rows {e.rows:,}",
        "",
        f"Measured on {c.sources} sampled sources on this machine ({cpu}, "
        f"one core); the wall time assumes {e.cores} worker process(es) of one core each:",
        "",
    ]
    per_million = e.per_million_sources()
    rows = [
        [f"augment {k}", f"{1000 * s:.1f} s", f"{per_million[f'augment {k}']:,.2f}", _hours(h)]
        for (k, s), h in zip(c.augment_seconds.items(), e.augment_core_hours().values())
    ]
    label_per_k = 1000 * c.label_seconds_per_row * e.rows / max(e.sources, 1)
    rows.append(
        ["label (teacher)", f"{label_per_k:.1f} s", f"{per_million['label']:,.2f}", _hours(e.label_core_hours())]
    )
    io_per_k = 1000 * e.io_core_hours() * 3600 / max(e.sources, 1)
    io_row = ["read, validate, write", f"{io_per_k:.1f} s", f"{per_million['read and write']:,.2f}"]
    rows.append([*io_row, _hours(e.io_core_hours())])
    rows.append(["total", "", f"{sum(per_million.values()):,.2f}", _hours(e.core_hours())])
    header = ["step", "per 1,000 sources (one core)", "core-hours per million sources", "core-hours"]
    lines += table(header, rows, "lrrr")
    lines += [
        "",
        f"Wall time on {e.cores} core(s): about {_hours(e.wall_hours())} (each worker also starts and loads the "
        f"assets: {e.setup_seconds():.0f} s here).",
    ]
    if core_price is not None:
        lines.append(f"At {core_price:g} a core-hour: {core_price * e.core_hours():,.4g}.")
    gflops = c.teacher_flops_per_row / 1e9
    lines += [
        "",
        f"Teacher: {c.teacher_parameters / 1e6:.1f}M parameters, {c.tokens_per_row:.0f} tokens a row: "
        f"{gflops:.3g} GFLOPs a row, {e.teacher_flops() / 1e15:.3g} PFLOPs for the job's rows. Labelling on one "
        f"GPU, ESTIMATED from FLOPs at {100 * ASSUMED_GPU_UTILIZATION:.0f}% of the card's dense fp16/bf16 peak "
        f"(not measured; the augmentation stays on CPUs): "
        + ", ".join(
            f"{name} {_hours(h)}" + (f" ({gpu_price * h:,.4g})" if gpu_price is not None else "")
            for name, h in e.gpu_hours().items()
        )
        + ".",
    ]
    return "\n".join(lines)
