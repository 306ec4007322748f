"""Teacher labelling at scale, measured side by side in one run on one machine (python -m benchmarks.labelling):

1. throughput: kdaug's labelling inside a Beam pipeline (TeacherModelHandler on chunks) against Beam's own
   best path (PytorchModelHandlerKeyedTensor with Beam 2.77's length-aware batching: batch_length_fn and
   batch_bucket_boundaries, each batch padded to its longest), Beam's pad-to-128 example, and a bare
   PyTorch loop over the same batches; same model (all-MiniLM-L6-v2 with a 2-class head), same MR sentences;
1b. precision: the teacher in fp32 and under bf16 autocast on this CPU, its speed and how far its logits
   move (max abs error; argmax changes; KL between the two distributions), on real MR sentences with a
   fine-tuned teacher (the demo's when there is one, else MiniLM fine-tuned here for one short epoch);
2. the local runner: a synonym + kNN job (a tiny teacher) on 1 and 2 worker processes
   (--direct_running_mode=multi_processing), torch threads split between them as kdaug sets them and
   pinned to one per process, beside the same work done by a bare script (no Beam) in 1 and 2 processes;
   each job's CPU seconds, i.e. how many cores it kept busy;
3. one file: the same job on a corpus of one JSONL file with 2 worker processes, the file read whole (one
   unit of work, so one process does it all) against the file read as 16 byte ranges (--input-range-bytes);
4. memory: a job's peak RSS on a 100k-example corpus against a 10k-example one (same job);
5. on a GPU, when there is one: examples/s, tokens/s and the share of the GPU's peak for a BERT-base-sized
   teacher built from a config.
Writes benchmarks/results/labelling.json and prints the tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS, rounded, table, write_results

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------ inputs


def mr_texts(n: int) -> list[str]:
    """n MR sentences (repeated with a counter past the corpus's 10,662), in corpus order: a realistic spread
    of lengths (1 to ~60 words)."""
    from kdaug.core.assets.mr import fetch_mr

    with open(fetch_mr(), encoding="utf-8") as f:
        base = [json.loads(line)["text"] for line in f]
    return [base[i % len(base)] + ("" if i < len(base) else f" ({i // len(base)})") for i in range(n)]


def minilm_teacher(dest: Path) -> Path:
    """all-MiniLM-L6-v2 with a fresh 2-class head (speed does not depend on the head's training)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from kdaug.core.assets.minilm import minilm_path

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(minilm_path()),
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    model.save_pretrained(dest, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(minilm_path())).save_pretrained(dest)
    return dest


def config_teacher(dest: Path, **config) -> Path:
    """A BERT classifier from a config (random weights) with MiniLM's (bert-base-uncased) tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from kdaug.core.assets.minilm import minilm_path

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=tokenizer.vocab_size,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
        **config,
    )
    BertForSequenceClassification(cfg).eval().save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    return dest


# ------------------------------------------------------------------------------------ 1. throughput


def kdaug_pipeline(teacher: Path, texts: list[str], chunk_size: int) -> float:
    """Seconds for a Beam pipeline that labels `texts` in chunks with kdaug's handler (model load included)."""
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference

    from kdaug.core.teacher import TeacherSettings
    from kdaug.pipelines.model_handler import TeacherModelHandler

    rows = [
        {"id": str(i), "source_id": str(i), "text": t, "text_pair": None, "aug_method": "original"}
        for i, t in enumerate(texts)
    ]
    chunks = [(f"{i:05d}", rows[i : i + chunk_size]) for i in range(0, len(rows), chunk_size)]
    count_file = Path(tempfile.mkdtemp()) / "count"
    t0 = time.perf_counter()
    with beam.Pipeline(runner="DirectRunner") as p:
        _ = (
            p
            | beam.Create(chunks)
            | beam.Map(lambda c: [c])
            | RunInference(TeacherModelHandler(TeacherSettings(str(teacher), device="cpu")).with_no_batching())
            | beam.Map(lambda kv: len(kv[1].rows))
            | beam.CombineGlobally(sum)
            | beam.Map(_write_count, str(count_file))
        )
    seconds = time.perf_counter() - t0
    assert int(count_file.read_text()) == len(texts)
    return seconds


def _write_count(n: int, path: str) -> None:
    Path(path).write_text(str(n))


def bare_loop(teacher: Path, texts: list[str], chunk_size: int) -> tuple[float, int, int]:
    """Seconds for a plain PyTorch script over the same batches (load the model, tokenize, pad, forward);
    also the real and the padded token counts."""
    import torch

    from kdaug.core.teacher import TeacherSettings

    t0 = time.perf_counter()
    model = TeacherSettings(str(teacher), device="cpu").load()
    real = padded = 0
    with torch.inference_mode():
        for i in range(0, len(texts), chunk_size):
            for _, batch, _ in model.batches(texts[i : i + chunk_size]):
                model.model(**batch).logits.float().numpy()
                real += int(batch["attention_mask"].sum())
                padded += batch["input_ids"].numel()
    return time.perf_counter() - t0, real, padded


def stock_beam(teacher: Path, texts: list[str]) -> float:
    """Seconds for Beam's stock approach: tokenize each text padded to 128, RunInference with
    PytorchModelHandlerKeyedTensor (BatchElements batching), model load included."""
    import torch
    from apache_beam.ml.inference.pytorch_inference import PytorchModelHandlerKeyedTensor
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(teacher))
    state = Path(tempfile.mkdtemp()) / "state_dict.pt"  # the stock handler loads a torch.save'd state dict
    torch.save(StockClassifier(str(teacher)).state_dict(), state)

    def tokenize(text):
        enc = tokenizer(text, padding="max_length", max_length=128, truncation=True, return_tensors="pt")
        return {k: v.squeeze(0) for k, v in enc.items()}

    handler = PytorchModelHandlerKeyedTensor(
        state_dict_path=str(state), model_class=StockClassifier, model_params={"directory": str(teacher)}, device="CPU"
    )
    return timed_run_inference(texts, tokenize, handler, state.parent / "count")


def timed_run_inference(texts: list[str], tokenize, handler, count_file: Path) -> float:
    """Seconds for a Beam pipeline (model load included): texts -> tokenize -> RunInference(handler);
    checks that every text came out."""
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference

    t0 = time.perf_counter()
    with beam.Pipeline(runner="DirectRunner") as p:
        _ = (
            p
            | beam.Create(texts)
            | beam.Map(tokenize)
            | RunInference(handler)
            | beam.combiners.Count.Globally()
            | beam.Map(_write_count, str(count_file))
        )
    seconds = time.perf_counter() - t0
    assert int(count_file.read_text()) == len(texts)
    return seconds


def beam_length_aware(teacher: Path, texts: list[str], max_batch_size: int = 256) -> float:
    """Seconds for Beam's own length-aware path, set up as its docs describe: RunInference with
    PytorchModelHandlerKeyedTensor, batch_length_fn (tokens) and batch_bucket_boundaries so that a batch
    holds texts of similar length, max_batch_duration_secs (the length-aware keying lives on Beam's
    stateful batching path), and an inference_fn that pads each batch to its longest (the stock one
    stacks equal-length tensors). Model load included."""
    import torch
    from apache_beam.ml.inference import utils
    from apache_beam.ml.inference.pytorch_inference import PytorchModelHandlerKeyedTensor
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(teacher))
    pad_id = tokenizer.pad_token_id
    state = Path(tempfile.mkdtemp()) / "state_dict.pt"
    torch.save(StockClassifier(str(teacher)).state_dict(), state)

    def tokenize(text):
        enc = tokenizer(text, truncation=True, max_length=128, return_tensors="pt")
        return {k: v.squeeze(0) for k, v in enc.items()}

    def padded_inference(batch, model, device, inference_args=None, model_id=None):
        tensors = {
            key: torch.nn.utils.rnn.pad_sequence(
                [b[key] for b in batch], batch_first=True, padding_value=pad_id if key == "input_ids" else 0
            ).to(device)
            for key in batch[0]
        }
        with torch.no_grad():
            return utils._convert_to_result(batch, model(**tensors, **(inference_args or {})), model_id)

    handler = PytorchModelHandlerKeyedTensor(
        state_dict_path=str(state),
        model_class=StockClassifier,
        model_params={"directory": str(teacher)},
        device="CPU",
        inference_fn=padded_inference,
        batch_length_fn=lambda e: len(e["input_ids"]),
        batch_bucket_boundaries=[16, 24, 32, 48, 64, 96],
        max_batch_duration_secs=10,  # (Beam 2.77's DirectRunner fails an assertion on this path for ~100 texts)
        min_batch_size=32,  # Beam's size estimator would otherwise start at 1 (dozens of tiny batches)
        max_batch_size=max_batch_size,
    )
    return timed_run_inference(texts, tokenize, handler, state.parent / "count")


def _stock_classifier():
    """Beam's stock recipe: an nn.Module whose forward returns logits, its weights from a state dict."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    class StockClassifier(torch.nn.Module):
        def __init__(self, directory: str):
            super().__init__()
            self.model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(directory))
            self.model.load_state_dict(
                AutoModelForSequenceClassification.from_pretrained(directory, use_safetensors=True).state_dict()
            )

        def forward(self, **inputs):
            return self.model(**inputs).logits

    return StockClassifier


StockClassifier = None  # set on first use (keeps torch out of the import of this module)


def bench_throughput(n: int, chunk_size: int, repeats: int, work: Path) -> dict:
    """kdaug and the bare loop alternate `repeats` times and keep their best (the overhead between them is
    a few percent, within a shared machine's noise); the much slower stock run goes once."""
    global StockClassifier
    if StockClassifier is None:
        StockClassifier = _stock_classifier()
    teacher = minilm_teacher(work / "minilm")
    texts = mr_texts(n)
    bare_s = ours_s = length_aware_s = float("inf")
    for _ in range(repeats):
        seconds, real_tokens, padded_tokens = bare_loop(teacher, texts, chunk_size)
        bare_s = min(bare_s, seconds)
        ours_s = min(ours_s, kdaug_pipeline(teacher, texts, chunk_size))
        length_aware_s = min(length_aware_s, beam_length_aware(teacher, texts))
    stock_s = stock_beam(teacher, texts)
    rows = [
        {"method": "kdaug TeacherModelHandler in a Beam pipeline", "seconds": ours_s, "examples_per_s": n / ours_s},
        {"method": "bare PyTorch loop, same batches", "seconds": bare_s, "examples_per_s": n / bare_s},
        {
            "method": "Beam length-aware RunInference (buckets, padded per batch)",
            "seconds": length_aware_s,
            "examples_per_s": n / length_aware_s,
        },
        {
            "method": "Beam stock PytorchModelHandlerKeyedTensor, padded to 128",
            "seconds": stock_s,
            "examples_per_s": n / stock_s,
        },
    ]
    return {
        "examples": n,
        "chunk_size": chunk_size,
        "repeats": repeats,
        "real_tokens": real_tokens,
        "padded_tokens": padded_tokens,
        "stock_padded_tokens": 128 * n,
        "rows": rows,
        "speedup_vs_stock": stock_s / ours_s,
        "speedup_vs_beam_length_aware": length_aware_s / ours_s,
        "pipeline_overhead_vs_bare_loop": ours_s / bare_s - 1.0,
    }


# -------------------------------------------------------------------------------------- 1b. precision


def trained_teacher(work: Path) -> tuple[Path, str]:
    """A fine-tuned MR teacher (logit errors only mean something on a trained head): the demo's when `make
    demo` left one, else MiniLM fine-tuned here on 1,600 MR sentences for one epoch."""
    demo = ROOT / "demo_output" / "teacher" / "best"
    if (demo / "config.json").is_file():
        return demo, "the demo's teacher (MiniLM fine-tuned on MR)"
    from kdaug.core.assets.mr import mr_splits
    from kdaug.trainers.config import TrainConfig
    from kdaug.trainers.train import train

    train_path, dev_path = mr_splits()
    lines = train_path.read_text(encoding="utf-8").splitlines()
    subset = work / "mr_1600.jsonl"
    subset.write_text("\n".join(lines[:800] + lines[-800:]) + "\n", encoding="utf-8")  # both classes
    out = work / "teacher"
    cfg = TrainConfig(
        data=str(subset), student="hf:model=minilm", eval=str(dev_path), output=str(out), objective="finetune"
    )
    train(dataclasses.replace(cfg, epochs=1, batch_size=32), progress=False)
    return out / "best", "MiniLM fine-tuned here on 1,600 MR sentences, 1 epoch"


def bench_precision(n: int, repeats: int, work: Path) -> dict:
    """fp32 against bf16 autocast for the teacher on this CPU, alternating, best of `repeats`."""
    import numpy as np
    import torch

    from kdaug.core.teacher import TeacherSettings

    teacher, which = trained_teacher(work)
    texts = mr_texts(n)
    models = {p: TeacherSettings(str(teacher), device="cpu", precision=p).load() for p in ("fp32", "bf16")}
    best = {p: float("inf") for p in models}
    logits = {}
    for _ in range(repeats):
        for p, model in models.items():
            t0 = time.perf_counter()
            logits[p] = model.label(texts).logits
            best[p] = min(best[p], time.perf_counter() - t0)
    exact, low = logits["fp32"], logits["bf16"]

    def kl(temperature: float) -> np.ndarray:
        p = torch.log_softmax(torch.from_numpy(exact) / temperature, -1)
        q = torch.log_softmax(torch.from_numpy(low) / temperature, -1)
        return (p.exp() * (p - q)).sum(-1).numpy()

    error = np.abs(exact - low)
    flags = Path("/proc/cpuinfo").read_text() if os.path.exists("/proc/cpuinfo") else ""
    return {
        "examples": n,
        "teacher": which,
        "repeats": repeats,
        "cpu_bf16": {flag: flag in flags for flag in ("avx512_bf16", "amx_bf16")},
        "rows": [{"precision": p, "seconds": best[p], "examples_per_s": n / best[p]} for p in ("fp32", "bf16")],
        "speedup_bf16": best["fp32"] / best["bf16"],
        "logit_range": float(np.abs(exact).max()),
        "max_abs_logit_error": float(error.max()),
        "mean_abs_logit_error": float(error.mean()),
        "argmax_changed": float(np.mean(exact.argmax(-1) != low.argmax(-1))),
        "kl_t1_mean": float(kl(1.0).mean()),
        "kl_t1_max": float(kl(1.0).max()),
        "kl_t2_mean": float(kl(2.0).mean()),
        "kl_t2_max": float(kl(2.0).max()),
    }


# ---------------------------------------------------------------------------- 2-3. jobs in subprocesses


def write_corpus(path: Path, texts: list[str], files: int = 1) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    per = -(-len(texts) // files)
    for f in range(files):
        with open(path / f"part-{f:03d}.jsonl", "w", encoding="utf-8") as out:
            for i, t in enumerate(texts[f * per : (f + 1) * per]):
                out.write(json.dumps({"text": t, "label": (f * per + i) % 2}) + "\n")
    return path


def run_job(args: list[str]) -> tuple[float, float, float]:
    """(seconds, peak RSS in MiB, CPU seconds) of `kdaug materialize ARGS`, the job and every process it
    started together."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
        "s = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(r.stderr[-3000:], file=sys.stderr) if r.returncode else None; "
        "print(s, u.ru_maxrss, u.ru_utime + u.ru_stime); sys.exit(r.returncode)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "kdaug", "materialize", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode:
        raise RuntimeError(f"materialize failed: {out.stderr}")
    seconds, rss_kib, cpu = out.stdout.split()[-3:]
    return float(seconds), int(rss_kib) / 1024, float(cpu)


SCALING_SPECS = ["synonym:ratio=0.3,copies=4", "knn:ratio=0.3,copies=4"]


def bench_processes(n: int, files: int, repeats: int, work: Path) -> dict:
    """The job on 1 and 2 local worker processes, with torch threads as kdaug sets them (cores / processes:
    the 1-process job runs the teacher and the tokenizer on both cores) and with one thread in every
    process (what processes alone add), beside the same work as a bare script (no Beam): how far the
    job's scaling is the work's own. Each job's CPU seconds say how many cores it kept busy. Runs
    alternate between the settings and each keeps its best time of `repeats` (a shared machine is noisy)."""
    teacher = config_teacher(
        work / "tiny", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    texts = mr_texts(n)
    corpus = write_corpus(work / "scaling_corpus", texts, files=files)
    common = ["--input", str(corpus), "--teacher", str(teacher), "--chunk-size", "1000", "--device", "cpu"]
    for spec in SCALING_SPECS:
        common += ["--augment", spec]
    best: dict[tuple, tuple[float, float | None]] = {}  # (kind, processes, threads) -> (seconds, CPU seconds)

    def keep(key, seconds, cpu=None):
        if key not in best or seconds < best[key][0]:
            best[key] = (seconds, cpu)

    # on 2 cores the 2-process job gets one thread per process by default: it serves both comparisons
    for _ in range(repeats):
        for processes, threads in ((1, None), (1, 1), (2, None)):
            seconds, _, cpu = run_job(
                [
                    *common,
                    "--output",
                    str(work / f"scaling_{processes}"),
                    "--direct_running_mode=multi_processing",
                    f"--direct_num_workers={processes}",
                    *(["--torch-threads", str(threads)] if threads else []),
                ]
            )
            keep(("job", processes, threads), seconds, cpu)
        for processes in (1, 2):
            keep(("bare", processes, None), bare_script(texts, files, teacher, processes))
    rows = []
    for (kind, p, threads), (seconds, cpu) in best.items():
        plural = "es" if p > 1 else ""
        rows.append(
            {
                "runner": f"kdaug materialize, {p} worker process{plural}"
                if kind == "job"
                else f"bare script (no Beam), {p} process{plural}",
                "torch_threads": threads or f"{max(1, (os.cpu_count() or 1) // p)} (default)",
                "seconds": seconds,
                "examples_per_s": n / seconds,
                "cpu_seconds": cpu,
                "cores_busy": cpu / seconds if cpu is not None else None,
            }
        )
    two = best[("job", 2, None)][0]
    job, one_thread = best[("job", 1, None)][0] / two, best[("job", 1, 1)][0] / two
    bare = best[("bare", 1, None)][0] / best[("bare", 2, None)][0]
    return {
        "examples": n,
        "files": files,
        "copies_per_example": 8,
        "repeats": repeats,
        "rows": rows,
        "speedup_2_vs_1_processes": job,
        "speedup_2_vs_1_processes_one_thread_each": one_thread,
        "bare_speedup_2_vs_1_processes": bare,
        "job_speedup_share_of_bare": job / bare,
        "cores_busy_1_process": rows[0]["cores_busy"],
    }


def bench_one_file(n: int, ranges: int, repeats: int, work: Path) -> dict:
    """2 worker processes on a corpus of one file: read whole (one unit of work) vs in `ranges` byte ranges."""
    teacher = config_teacher(
        work / "tiny_one_file", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    corpus = write_corpus(work / "one_file", mr_texts(n), files=1) / "part-000.jsonl"
    range_bytes = -(-corpus.stat().st_size // ranges)
    common = [
        "--input",
        str(corpus),
        "--teacher",
        str(teacher),
        "--chunk-size",
        "1000",
        "--device",
        "cpu",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ]
    for spec in SCALING_SPECS:
        common += ["--augment", spec]
    best: dict[int, float] = {}
    for _ in range(repeats):
        for setting in (0, range_bytes):
            seconds, _, _ = run_job(
                [*common, "--output", str(work / f"one_file_{setting}"), "--input-range-bytes", str(setting)]
            )
            best[setting] = min(seconds, best.get(setting, seconds))
    rows = [
        {"input": "one file, read whole (0: never split)", "seconds": best[0], "examples_per_s": n / best[0]},
        {
            "input": f"one file in {ranges} byte ranges of {range_bytes} bytes",
            "seconds": best[range_bytes],
            "examples_per_s": n / best[range_bytes],
        },
    ]
    return {
        "examples": n,
        "ranges": ranges,
        "range_bytes": range_bytes,
        "file_bytes": corpus.stat().st_size,
        "processes": 2,
        "repeats": repeats,
        "rows": rows,
        "speedup_ranges_vs_whole": best[0] / best[range_bytes],
    }


def bare_script(texts: list[str], files: int, teacher: Path, processes: int) -> float:
    """Seconds for the job's work without Beam: fresh processes (spawned, like Beam's workers) each set
    up the augmenters and the teacher, augment their share of the files in chunks and label every row."""
    import multiprocessing

    per = -(-len(texts) // files)
    parts = [[texts[f * per : (f + 1) * per] for f in range(files)][p::processes] for p in range(processes)]
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        counts = pool.map(_bare_worker, [(part, str(teacher), processes) for part in parts])
    seconds = time.perf_counter() - t0
    assert sum(counts) > len(texts)
    return seconds


def _bare_worker(args) -> int:
    file_texts, teacher_dir, processes = args
    from kdaug.core.augment import build_augmenters, parse_augment_spec
    from kdaug.core.corpus import SourceExample
    from kdaug.core.teacher import TeacherSettings
    from kdaug.core.threads import set_torch_threads

    set_torch_threads(processes)
    augmenters = build_augmenters([parse_augment_spec(s) for s in SCALING_SPECS])
    for aug in augmenters:
        aug.setup()
    teacher = TeacherSettings(teacher_dir, device="cpu").load()
    rows = 0
    for f, texts in enumerate(file_texts):
        for start in range(0, len(texts), 1000):
            sources = sorted(
                (
                    SourceExample(f"{f}:{start + i}", t, None, None, "")
                    for i, t in enumerate(texts[start : start + 1000])
                ),
                key=lambda s: (len(s.text), s.id),
            )
            out = [s.text for s in sources]
            for b in range(0, len(sources), 64):
                for aug in augmenters:
                    out += [c.text for res in aug.augment_batch(sources[b : b + 64], 0) for c in res.copies]
            teacher.label(out)
            rows += len(out)
    return rows


def bench_memory(small: int, large: int, work: Path) -> dict:
    teacher = config_teacher(
        work / "tiny_mem", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    rows = []
    for n in (small, large):
        corpus = write_corpus(work / f"memory_corpus_{n}", mr_texts(n))
        seconds, peak, _ = run_job(
            [
                "--input",
                str(corpus),
                "--teacher",
                str(teacher),
                "--output",
                str(work / f"mem_{n}"),
                "--augment",
                "synonym:ratio=0.3,copies=1",
                "--device",
                "cpu",
            ]
        )
        rows.append({"examples": n, "seconds": seconds, "peak_rss_mib": peak})
    return {"rows": rows, "ratio_large_vs_small": rows[1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]}


# ---------------------------------------------------------------------------------------------- 4. GPU


def bench_gpu(n: int, work: Path) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"available": False, "note": "no CUDA GPU on this machine: GPU figures not measured"}
    from kdaug.core.teacher import TeacherSettings

    teacher_dir = config_teacher(work / "bert_base")  # BertConfig defaults: BERT-base, 12 x 768
    teacher = TeacherSettings(str(teacher_dir), device="cuda").load()
    texts = mr_texts(n)
    teacher.label(texts[:512])  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    labels = teacher.label(texts)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    real = padded = 0
    for _, batch, _ in teacher.batches(texts):
        real += int(batch["attention_mask"].sum())
        padded += batch["input_ids"].numel()
    params = sum(p.numel() for p in teacher.model.parameters() if p.dim() > 1)
    flops = 2 * params * padded  # matmul FLOPs of the forward over padded tokens (attention scores excluded)
    name = torch.cuda.get_device_name(0)
    peak = next((v for k, v in PEAK_DENSE_TFLOPS.items() if k in name), None)
    achieved = flops / seconds / 1e12
    return {
        "available": True,
        "gpu": name,
        "precision": teacher.precision,
        "examples": n,
        "seconds": seconds,
        "examples_per_s": n / seconds,
        "tokens_per_s": real / seconds,
        "padded_tokens_per_s": padded / seconds,
        "achieved_tflops": achieved,
        "peak_tflops": peak,
        "share_of_peak": achieved / peak if peak else None,
        "logits_finite": bool(torch.isfinite(torch.from_numpy(labels.logits)).all()),
    }


# Dense bf16/fp16 tensor-core peaks (no sparsity), from the vendors' data sheets.
PEAK_DENSE_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0, "T4": 65.0, "V100": 125.0}


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=4000, help="MR sentences labelled in the throughput comparison")
    p.add_argument("--chunk-size", type=int, default=1000)
    p.add_argument("--throughput-repeats", type=int, default=3)
    p.add_argument("--scaling-examples", type=int, default=64000)
    p.add_argument("--scaling-files", type=int, default=16)
    p.add_argument("--scaling-repeats", type=int, default=2)
    p.add_argument("--one-file-examples", type=int, default=16000)
    p.add_argument("--one-file-ranges", type=int, default=16)
    p.add_argument("--one-file-repeats", type=int, default=2)
    p.add_argument("--memory-small", type=int, default=10_000)
    p.add_argument("--memory-large", type=int, default=100_000)
    p.add_argument("--gpu-examples", type=int, default=20_000)
    p.add_argument("--precision-examples", type=int, default=4000)
    p.add_argument("--precision-repeats", type=int, default=3)
    sections = ["throughput", "precision", "processes", "one_file", "memory", "gpu"]
    p.add_argument("--only", choices=sections, action="append")
    args = p.parse_args(argv)
    only = set(args.only or sections)
    results: dict = {"settings": vars(args)}
    previous = RESULTS / "labelling.json"
    if args.only and previous.is_file():  # a partial run keeps the other sections of the last full one
        results = {**{k: v for k, v in json.loads(previous.read_text()).items() if k != "machine"}, **results}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "throughput" in only:
            t = results["throughput"] = bench_throughput(args.examples, args.chunk_size, args.throughput_repeats, work)
            print(
                f"\nTeacher labelling, MiniLM-L6 (2 classes), {t['examples']} MR sentences, CPU, best of "
                f"{t['repeats']} (real tokens {t['real_tokens']}, padded {t['padded_tokens']}, "
                f"stock padded {t['stock_padded_tokens']})"
            )
            print(table(rounded(t["rows"]), ["method", "seconds", "examples_per_s"]))
            print(
                f"kdaug vs Beam length-aware: {t['speedup_vs_beam_length_aware']:.2f}x; vs Beam pad-to-128: "
                f"{t['speedup_vs_stock']:.2f}x; pipeline overhead vs bare loop: "
                f"{100 * t['pipeline_overhead_vs_bare_loop']:+.1f}%"
            )
        if "precision" in only:
            r = results["precision"] = bench_precision(args.precision_examples, args.precision_repeats, work)
            print(f"\nTeacher precision on this CPU ({r['teacher']}, {r['examples']} MR sentences, {r['cpu_bf16']})")
            print(table(rounded(r["rows"]), ["precision", "seconds", "examples_per_s"]))
            print(
                f"bf16 speed-up {r['speedup_bf16']:.2f}x; logit error max {r['max_abs_logit_error']:.3g} "
                f"(mean {r['mean_abs_logit_error']:.3g}, logits up to {r['logit_range']:.3g}); argmax changed "
                f"{100 * r['argmax_changed']:.2f}%; KL(fp32 || bf16) mean {r['kl_t1_mean']:.2g} max "
                f"{r['kl_t1_max']:.2g} (at T=2: {r['kl_t2_mean']:.2g} / {r['kl_t2_max']:.2g})"
            )
        if "processes" in only:
            s = results["processes"] = bench_processes(
                args.scaling_examples, args.scaling_files, args.scaling_repeats, work
            )
            print(
                f"\nLocal runner, synonym + kNN (4 copies each), tiny teacher, {s['examples']} MR sentences in "
                f"{s['files']} files, best of {s['repeats']}"
            )
            print(
                table(
                    rounded(s["rows"]),
                    ["runner", "torch_threads", "seconds", "examples_per_s", "cpu_seconds", "cores_busy"],
                )
            )
            print(
                f"2 processes vs 1: kdaug {s['speedup_2_vs_1_processes']:.2f}x (the 1-process job kept "
                f"{s['cores_busy_1_process']:.2f} cores busy), {s['speedup_2_vs_1_processes_one_thread_each']:.2f}x "
                f"with one torch thread per process; bare script {s['bare_speedup_2_vs_1_processes']:.2f}x"
            )
        if "one_file" in only:
            o = results["one_file"] = bench_one_file(
                args.one_file_examples, args.one_file_ranges, args.one_file_repeats, work
            )
            print(
                f"\nOne JSONL file ({o['file_bytes']} bytes, {o['examples']} MR sentences), the same job, 2 worker "
                f"processes, best of {o['repeats']}"
            )
            print(table(rounded(o["rows"]), ["input", "seconds", "examples_per_s"]))
            print(f"byte ranges vs whole file: {o['speedup_ranges_vs_whole']:.2f}x")
        if "memory" in only:
            m = results["memory"] = bench_memory(args.memory_small, args.memory_large, work)
            print("\nPeak memory of a job (synonym, 1 copy, tiny teacher, in-process DirectRunner)")
            print(table(rounded(m["rows"]), ["examples", "seconds", "peak_rss_mib"]))
            print(f"{args.memory_large} vs {args.memory_small}: {m['ratio_large_vs_small']:.3f}x")
        if "gpu" in only:
            g = results["gpu"] = bench_gpu(args.gpu_examples, work)
            print("\nGPU: " + (json.dumps(g, indent=1) if g.get("available") else g["note"]))
    path = write_results("labelling", results)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
