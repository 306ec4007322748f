"""Student training, measured side by side in one run on one machine (python -m benchmarks.training):

1. throughput per student kind (bilstm as the demo trains it, bert small, bert_from_teacher): kdaug's
   trainer (length-pooled batches, the default, and plain shuffled batches) against a bare PyTorch loop
   over the same batches (same student, optimizer and loss; rows already in memory; no checkpoints, no
   progress, no evaluation), with the work's FLOPs against the CPU's measured matmul rate, and where the
   trainer's time goes (start-up, steps, evaluation, checkpoints);
2. many runs: two demo-sized students one after the other (kdaug's default threads), side by side with
   default threads (each starts one thread per core), side by side with --torch-threads 1 each, and through
   train_many (each pinned to its own core); runs per hour.
The dataset is demo-sized: 3,200 MR sentences with 4 synonym copies each (16k rows), labelled by MiniLM.
Writes benchmarks/results/training.json and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import rounded, table, write_results
from benchmarks.labelling import minilm_teacher

ROOT = Path(__file__).resolve().parent.parent
DEMO_STUDENT = "bilstm:hidden=150,embeddings=glove"
KINDS = {  # name -> (student spec, steps timed: None for a whole epoch)
    "bilstm (demo)": (DEMO_STUDENT, None),
    "bert (4 x 256)": ("bert", 40),
    "bert_from_teacher (3 of MiniLM's 6 layers)": ("bert_from_teacher:layers=3", 40),
}


# --------------------------------------------------------------------------------------------- inputs


def demo_sized_dataset(work: Path) -> tuple[Path, Path]:
    """(dataset, dev set): the demo's training split materialized with synonym copies by a MiniLM teacher."""
    from kdaug.core.assets.mr import mr_splits
    from kdaug.core.recipe import Recipe
    from kdaug.pipelines.materialize import run

    train_path, dev_path = mr_splits()
    teacher = minilm_teacher(work / "minilm")
    out = work / "dataset"
    run(
        Recipe(
            input=str(train_path),
            output=str(out),
            teacher=str(teacher),
            augment=["synonym:ratio=0.3,copies=4"],
            id_column="id",
            seed=0,
        ),
        ["--runner=DirectRunner"],
        command="benchmarks.training",
    )
    return out, dev_path


def config(data: Path, dev: Path, out: Path, student: str, **kw):
    from kdaug.trainers.config import TrainConfig

    base = dict(
        data=str(data), student=student, eval=str(dev), output=str(out), epochs=1, batch_size=64, seed=0, restart=True
    )
    return TrainConfig(**{**base, **kw})


# ------------------------------------------------------------------------------------ 1. throughput


def matmul_gflops(seconds: float = 3.0, n: int = 2048) -> float:
    """The CPU's practical fp32 peak on torch's threads: the best rate of a large square matmul."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def bare_loop(cfg, rows_batches: list[list[dict]]) -> tuple[float, object]:
    """Seconds for the plainest loop over the same batches: the same student built the same way, AdamW,
    the KD loss, gradient clipping; the rows already in memory. Returns (seconds, the trained student)."""
    import torch

    from kdaug.trainers.dataset import open_split
    from kdaug.trainers.losses import kd_loss
    from kdaug.trainers.students import StudentSpec
    from kdaug.trainers.train import new_student

    split = open_split(cfg.data)
    spec = StudentSpec.parse(cfg.student)
    torch.manual_seed(cfg.seed)
    student, _ = new_student(split, cfg, spec)
    student.train()
    optimizer = torch.optim.AdamW(student.parameters(), lr=spec.learning_rate)
    t0 = time.perf_counter()
    for rows in rows_batches:
        logits = student(student.encode([r["text"] for r in rows], [r["text_pair"] for r in rows]))
        teacher = torch.tensor([r["teacher_logits"] for r in rows])
        labels = torch.tensor([r["label"] if r["label"] is not None else -1 for r in rows])
        original = torch.tensor([r["aug_method"] == "original" for r in rows])
        loss = kd_loss(logits, teacher, labels, original & (labels >= 0), torch.ones(len(rows)), 2.0, 0.5)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
    return time.perf_counter() - t0, student


def training_flops(student, rows_batches: list[list[dict]], sample: int = 12) -> float:
    """FLOPs of training on all the batches (forward + backward), from the first `sample` batches (drawn in a
    random order, so representative): counted by torch's FlopCounterMode for transformers (on the padded
    tokens they really process); for the BiLSTM, whose fused kernel the counter does not see, 3x the
    forward's 2 x 4H(E + H) multiply-adds per real token and direction (packed sequences skip padding)."""
    from torch.utils.flop_counter import FlopCounterMode

    counted = rows = 0
    for batch_rows in rows_batches[:sample]:
        batch = student.encode([r["text"] for r in batch_rows], [r["text_pair"] for r in batch_rows])
        if student.kind == "bilstm":
            lstm = student.model.lstm
            e, h = lstm.input_size, lstm.hidden_size
            counted += 3 * 2 * (2 * 4 * h * (e + h)) * int(batch["attention_mask"].sum())
        else:
            with FlopCounterMode(display=False) as counter:
                student(batch).sum().backward()
            student.zero_grad()
            counted += counter.get_total_flops()
        rows += len(batch_rows)
    return counted / rows * sum(len(b) for b in rows_batches)


def bench_kind(name: str, student: str, steps: int | None, data: Path, dev: Path, work: Path, peak: float) -> dict:
    from kdaug.trainers.dataset import epoch_batches, open_split
    from kdaug.trainers.evaluation import eval_columns, evaluate, load_eval
    from kdaug.trainers.train import train

    runs = {}
    for pool in (32, 1):
        cfg = config(data, dev, work / f"run_{pool}", student, bucket_pool=pool, stop_after_steps=steps)
        runs[pool] = train(cfg, progress=False)["timing"]
    cfg = config(data, dev, work / "bare", student, stop_after_steps=steps)
    split = open_split(str(data))
    rows_batches = list(epoch_batches(split, cfg, 0))[: steps or None]
    bare_s, trained = bare_loop(cfg, rows_batches)
    flops = training_flops(trained, rows_batches)
    t0 = time.perf_counter()
    evaluate(trained, *load_eval(cfg.eval, eval_columns(cfg, split), split.label_names))
    eval_s = time.perf_counter() - t0
    rows = sum(len(b) for b in rows_batches)
    ours = runs[32]
    ours_s = ours["train_s"] + ours["checkpoint_s"]  # the steps with the data's streaming, and checkpoints
    return {
        "kind": name,
        "student": student,
        "batches": len(rows_batches),
        "rows": rows,
        "trainer_rows_per_s": rows / ours_s,
        "trainer_plain_batches_rows_per_s": rows / (runs[1]["train_s"] + runs[1]["checkpoint_s"]),
        "bare_loop_rows_per_s": rows / bare_s,
        "trainer_overhead_vs_bare_loop": ours_s / bare_s - 1.0,
        "length_pooling_speedup": (runs[1]["train_s"] + runs[1]["checkpoint_s"]) / ours_s,
        "startup_s": ours["startup_s"],
        "checkpoint_s": ours["checkpoint_s"],
        "eval_s": eval_s,
        "gflop_per_row": flops / rows / 1e9,
        "achieved_gflops": flops / bare_s / 1e9,
        "share_of_matmul_peak": flops / bare_s / 1e9 / peak,
    }


# ------------------------------------------------------------------------------------ 2. many runs


def cli_run(data: Path, dev: Path, out: Path, epochs: int, seed: int, threads: int | None) -> subprocess.Popen:
    args = [sys.executable, "-m", "kdaug", "distill", "--data", str(data), "--eval", str(dev)]
    args += ["--student", DEMO_STUDENT, "--output", str(out), "--epochs", str(epochs), "--seed", str(seed)]
    args += ["--restart"] + (["--torch-threads", str(threads)] if threads else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(f"kdaug distill failed: {err[-2000:]}")


def bench_many(data: Path, dev: Path, work: Path, epochs: int) -> dict:
    from kdaug.runs import train_many

    timings = {}
    t0 = time.perf_counter()
    for seed in (0, 1):
        wait_all([cli_run(data, dev, work / f"seq{seed}", epochs, seed, None)])
    timings["one after the other, default threads (one per core)"] = time.perf_counter() - t0
    for label, threads in (("side by side, default threads each", None), ("side by side, --torch-threads 1 each", 1)):
        t0 = time.perf_counter()
        wait_all([cli_run(data, dev, work / f"side{threads}_{seed}", epochs, seed, threads) for seed in (0, 1)])
        timings[label] = time.perf_counter() - t0
    configs = [config(data, dev, work / f"many{seed}", DEMO_STUDENT, epochs=epochs, seed=seed) for seed in (0, 1)]
    t0 = time.perf_counter()
    train_many(configs, parallel=2)
    timings["train_many, 2 at a time (each pinned to its core)"] = time.perf_counter() - t0
    sequential = next(iter(timings.values()))
    rows = [
        {
            "runs (2 students)": label,
            "seconds": seconds,
            "vs_sequential": seconds / sequential,
            "runs_per_hour": 2 * 3600 / seconds,
        }
        for label, seconds in timings.items()
    ]
    return {"epochs": epochs, "student": DEMO_STUDENT, "rows": rows}


# ----------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="a materialized dataset to train on (default: build the demo-sized one)")
    p.add_argument("--many-epochs", type=int, default=2, help="epochs of each run in the many-runs comparison")
    p.add_argument("--only", choices=["throughput", "many"], action="append")
    args = p.parse_args(argv)
    only = set(args.only or ["throughput", "many"])
    from kdaug.core.assets.mr import mr_splits
    from kdaug.core.threads import set_torch_threads

    results: dict = {"settings": vars(args)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        data, dev = (Path(args.data), mr_splits()[1]) if args.data else demo_sized_dataset(work)
        print(f"dataset ready in {time.perf_counter() - t0:.0f} s: {data}", flush=True)
        if "throughput" in only:
            threads = set_torch_threads()
            peak = matmul_gflops()
            kinds = []
            for name, (student, steps) in KINDS.items():
                kinds.append(bench_kind(name, student, steps, data, dev, work / name.split()[0], peak))
                print(json.dumps(kinds[-1]), flush=True)
            results["throughput"] = {"torch_threads": threads, "matmul_peak_gflops": peak, "rows": kinds}
        if "many" in only:
            results["many"] = bench_many(data, dev, work, args.many_epochs)
    print_tables(results)
    path = write_results("training", results)
    print(f"\nwrote {path}")
    return 0


def print_tables(results: dict) -> None:
    if "throughput" in results:
        t = results["throughput"]
        print(
            f"\nStudent training throughput, {t['torch_threads']} torch threads; CPU fp32 matmul peak "
            f"{t['matmul_peak_gflops']:.0f} GFLOP/s"
        )
        print(
            table(
                rounded(t["rows"]),
                [
                    "kind",
                    "batches",
                    "trainer_rows_per_s",
                    "trainer_plain_batches_rows_per_s",
                    "bare_loop_rows_per_s",
                    "trainer_overhead_vs_bare_loop",
                    "length_pooling_speedup",
                    "startup_s",
                    "eval_s",
                    "gflop_per_row",
                    "share_of_matmul_peak",
                ],
            )
        )
    if "many" in results:
        m = results["many"]
        print(f"\nTwo demo-sized students ({m['student']}, {m['epochs']} epochs each) on this machine")
        print(table(rounded(m["rows"]), ["runs (2 students)", "seconds", "vs_sequential", "runs_per_hour"]))


if __name__ == "__main__":
    raise SystemExit(main())
