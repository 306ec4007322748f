"""What a student buys, measured side by side in one run on one machine (python -m benchmarks.students):
the teacher and each student kind, in PyTorch (fp32, and int8 by torch's dynamic quantization) and in
ONNX Runtime (fp32, and int8 by its dynamic quantization): parameters, file size, CPU latency at batch 1
(p50 and p95 over single test sentences, tokenization included: what a caller waits for), throughput at
batch 32, and test accuracy on the demo's MR split with the gap to the teacher.

Inputs: a `kdaug demo` output directory (--demo, default demo_output): its fine-tuned MiniLM teacher, its
materialized dataset and its first KD + augmentation BiLSTM student. The transformer students (bert 4 x
256 from scratch, bert_from_teacher with 3 of MiniLM's 6 layers) are distilled here on the same dataset
once (kept in --work, reused by later runs). Threads: torch and ONNX Runtime each use every core.
Writes benchmarks/results/students.json and docs/students_tradeoff.png, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from benchmarks.common import rounded, table, write_results

ROOT = Path(__file__).resolve().parent.parent
TRAINED_HERE = {  # name -> (student spec, epochs)
    "bert (4 x 256, from scratch)": ("bert", 2),
    "bert_from_teacher (3 of MiniLM's 6 layers)": ("bert_from_teacher:layers=3", 2),
}
LATENCY_TEXTS, WARMUP, BATCH = 300, 20, 32


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.students", description=__doc__)
    p.add_argument("--demo", default=str(ROOT / "demo_output"), help="a `kdaug demo` output directory")
    p.add_argument("--work", default=str(ROOT / "runs" / "bench-students"), help="trained students and exports")
    p.add_argument("--skip-training", action="store_true", help="only the teacher and the demo's BiLSTM student")
    return p.parse_args(argv)


def models(args) -> dict[str, Path]:
    """name -> model directory: the teacher, the demo's student and the students distilled here."""
    from kdaug.core.assets.mr import mr_three_way_splits
    from kdaug.core.errors import KdaugError
    from kdaug.runs import train_one
    from kdaug.trainers.config import TrainConfig

    demo = Path(args.demo)
    teacher, bilstm = demo / "teacher" / "best", demo / "students" / "distill-0-s0" / "best"
    if not (teacher.is_dir() and bilstm.is_dir() and (demo / "dataset" / "manifest.json").is_file()):
        raise KdaugError(f"{demo} is not a finished `kdaug demo` output: run `make demo` first (14 min on 2 cores)")
    out = {"teacher (MiniLM-L6, fine-tuned)": teacher, "bilstm (the demo's KD + synonym student)": bilstm}
    if args.skip_training:
        return out
    _, dev, test = mr_three_way_splits()
    for name, (spec, epochs) in TRAINED_HERE.items():
        run = Path(args.work) / "runs" / spec.split(":")[0]
        print(f"distilling {name} on {demo / 'dataset'} ({epochs} epochs; 5-8 min each on 2 cores, once)", flush=True)
        cfg = TrainConfig(
            data=str(demo / "dataset"),
            student=spec,
            eval=str(dev),
            test=str(test),
            output=str(run),
            objective="distill",
            epochs=epochs,
            batch_size=32,
            seed=0,
        )
        train_one(cfg, retrain_mismatched=True, progress=None)
        out[name] = run / "best"
    return out


def variants(name: str, directory: Path, work: Path):
    """(runtime, precision, Model, file bytes) of one model: PyTorch fp32 and int8, ONNX fp32 and int8."""
    import torch

    from kdaug.experiments import slug
    from kdaug.trainers.export import as_student, export_onnx
    from kdaug.trainers.inference import load_model, student_model

    student = as_student(directory).eval()
    weights = sum(f.stat().st_size for f in directory.glob("*.safetensors"))
    yield "PyTorch", "fp32", student_model(student, str(directory)), weights
    quantized = torch.ao.quantization.quantize_dynamic(
        as_student(directory).eval(), {torch.nn.Linear, torch.nn.LSTM}, dtype=torch.qint8
    )
    size = sum(v.numel() * v.element_size() for v in quantized.state_dict().values() if isinstance(v, torch.Tensor))
    yield "PyTorch", "int8 (dynamic)", student_model(quantized, str(directory)), size or None
    for int8 in (False, True):
        target = work / "exports" / slug(f"{name} {'int8' if int8 else 'fp32'}")
        manifest = export_onnx(directory, target, int8=int8)
        yield "ONNX Runtime", "int8 (dynamic)" if int8 else "fp32", load_model(target), manifest["onnx_bytes"]


def measure(model, texts: list[str], gold: list[int]) -> dict:
    """Latency at batch 1 (p50, p95 in ms over LATENCY_TEXTS single texts), throughput at batch 32, accuracy."""
    for text in texts[:WARMUP]:
        model.logits([text])
    times = []
    for text in texts[:LATENCY_TEXTS]:
        t0 = time.perf_counter()
        model.logits([text])
        times.append(1000 * (time.perf_counter() - t0))
    times.sort()
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        for i in range(0, len(texts), BATCH):
            model.logits(texts[i : i + BATCH])
        best = min(best, time.perf_counter() - t0)
    predicted = model.logits(texts).argmax(axis=1)
    return {
        "latency_b1_p50_ms": statistics.median(times),
        "latency_b1_p95_ms": times[int(0.95 * (len(times) - 1))],
        "throughput_b32_per_s": len(texts) / best,
        "test_accuracy": float((predicted == gold).mean()),
    }


def main(argv: list[str]) -> int:
    import numpy as np
    import onnxruntime
    import torch

    from kdaug.core.assets.mr import mr_three_way_splits
    from kdaug.core.corpus import ColumnSpec
    from kdaug.trainers.evaluation import load_eval
    from kdaug.trainers.students import load_student

    args = parse(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    print(
        "benchmarks.students: the teacher and each student kind in PyTorch and ONNX Runtime, fp32 and int8: size, "
        "latency at batch 1, throughput at batch 32, test accuracy (about 15 minutes on 2 cores the first time, "
        "most of it distilling the two transformer students; 3 minutes after)",
        flush=True,
    )
    found = models(args)
    _, _, test = mr_three_way_splits()
    texts, _, gold = load_eval(str(test), ColumnSpec(text="text", label="label"), ["negative", "positive"], "test")
    gold_a = np.array(gold)
    rows = []
    for name, directory in found.items():
        params = sum(p.numel() for p in load_student(directory).parameters())
        for runtime, precision, model, size in variants(name, directory, Path(args.work)):
            print(f"measuring {name}, {runtime} {precision}", flush=True)
            rows.append(
                {
                    "model": name,
                    "runtime": runtime,
                    "precision": precision,
                    "parameters_m": params / 1e6,
                    "file_mb": size / 1e6 if size else None,
                    **measure(model, texts, gold_a),
                }
            )
    teacher = next(r for r in rows if r["model"].startswith("teacher") and r["runtime"] == "PyTorch")
    fastest_teacher = min(r["latency_b1_p50_ms"] for r in rows if r["model"].startswith("teacher"))
    for r in rows:
        r["accuracy_gap_to_teacher"] = teacher["test_accuracy"] - r["test_accuracy"]
        r["speedup_b1_vs_fastest_teacher"] = fastest_teacher / r["latency_b1_p50_ms"]
    threads = {"torch": torch.get_num_threads(), "onnxruntime": "default (one per physical core)"}
    settings = {"demo": args.demo, "test_examples": len(texts), "latency_texts": LATENCY_TEXTS, "batch": BATCH}
    path = write_results(
        "students", {"rows": rows, "threads": threads, "settings": settings, "onnxruntime": onnxruntime.__version__}
    )
    plot(rows, ROOT / "docs" / "students_tradeoff.png")
    columns = ["model", "runtime", "precision", "parameters_m", "file_mb", "latency_b1_p50_ms", "latency_b1_p95_ms"]
    columns += ["throughput_b32_per_s", "test_accuracy", "accuracy_gap_to_teacher", "speedup_b1_vs_fastest_teacher"]
    print(table(rounded(rows), columns))
    print(f"\nwritten: {path}, docs/students_tradeoff.png; threads {json.dumps(threads)}")
    return 0


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.8))
    markers = {"PyTorch": "o", "ONNX Runtime": "s"}
    names = list(dict.fromkeys(r["model"] for r in rows))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r in rows:
        color = colors[names.index(r["model"]) % len(colors)]
        filled = r["precision"] == "fp32"
        ax.scatter(
            r["latency_b1_p50_ms"],
            100 * r["test_accuracy"],
            marker=markers[r["runtime"]],
            s=60,
            facecolors=color if filled else "none",
            edgecolors=color,
        )
    for i, name in enumerate(names):
        ax.scatter([], [], color=colors[i % len(colors)], label=name)
    ax.scatter([], [], marker="o", color="gray", label="circle: PyTorch")
    ax.scatter([], [], marker="s", color="gray", label="square: ONNX Runtime")
    ax.scatter([], [], marker="o", facecolors="none", edgecolors="gray", label="filled: fp32, hollow: int8")
    ax.set_xscale("log")
    ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32) if t <= 2 * max(r["latency_b1_p50_ms"] for r in rows)]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("latency at batch 1, p50 (ms, log scale; tokenization included)")
    ax.set_ylabel("MR test accuracy (%)")
    ax.set_title("What a student buys: accuracy against latency (CPU)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
