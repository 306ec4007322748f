"""A big job on one machine: `kdaug materialize` at 10k, 100k and 1M sources, a kill half-way and its rerun,
and `kdaug plan`'s estimate against the measured run.

The corpus: MR's 4,000 sentences, and past them the same sentences with one or two words replaced from
MR's own vocabulary (positions and words from sha256 of the index: stable ids, stable texts, realistic
lengths). The teacher: a small BERT from a config (2 layers, hidden 128, MiniLM's tokenizer; random
weights: its cost is a trained one's). 4 synonym copies per source at ratio 0.3 without the context check
(`context=none`: this benchmark measures the pipeline's growth; what the context check and the other
augmenters cost per source is `kdaug plan`'s table, docs/running-at-scale.md). Local runner, several
worker processes (`--direct_running_mode=multi_processing`), the corpus in files of at most 50,000
sources (a unit of work each), at least one a worker.

Measured per size: wall time per 1,000 sources (linear growth: flat), peak RSS of each worker process
(sampled from /proc every 0.5 s), rows written. Then, at `--kill-at` sources:
the job killed (SIGKILL, its whole process group) when half its chunks are staged, rerun with the same
command: chunks reused, the rerun's time, and its files byte for byte against the uninterrupted run's.
Output size per million rows at float32, float16 and top-1 soft labels (the smallest size, rewritten).
Per core: augmentation and labelling rows per second (kdaug.core.cost on a 512-source sample, one thread).
Finally `kdaug plan` on the `--check-size` corpus against that run's measured wall time.

    python -m benchmarks.scale [--sizes 10000,100000,1000000] [--workers 2] [--kill-at 100000]
                               [--check-size 100000] [--work DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import rounded, table, write_results
from benchmarks.labelling import config_teacher

ROOT = Path(__file__).resolve().parent.parent
AUGMENT = "synonym:ratio=0.3,copies=4,context=none"
FILE_SOURCES = 50_000
RESULT = ROOT / "benchmarks" / "results" / "scale.json"


def corpus_rows(n: int):
    """(id, text, label) of n sources: MR's sentences, then variants with 1-2 words replaced."""
    from kdaug.core.assets.mr import fetch_mr

    with open(fetch_mr(), encoding="utf-8") as f:
        base = [json.loads(line) for line in f]
    vocab = sorted({w for r in base for w in r["text"].split() if w.isalpha() and len(w) > 2})
    for i in range(n):
        row = base[i % len(base)]
        words = row["text"].split()
        if i >= len(base):
            h = hashlib.sha256(str(i).encode()).digest()
            for k in range(1 + (h[0] & 1)):
                words[int.from_bytes(h[1 + 4 * k : 5 + 4 * k], "big") % len(words)] = vocab[
                    int.from_bytes(h[9 + 4 * k : 13 + 4 * k], "big") % len(vocab)
                ]
        yield {"id": f"s{i:07d}", "text": " ".join(words), "label": row["label"]}


def write_corpus(n: int, dest: Path, workers: int) -> Path:
    if (dest / "done").exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    files = max(workers, -(-n // FILE_SOURCES))
    per = -(-n // files)
    rows = corpus_rows(n)
    for f in range(files):
        with open(dest / f"part-{f:03d}.jsonl", "w", encoding="utf-8") as out:
            for _, row in zip(range(per), rows):
                out.write(json.dumps(row) + "\n")
    (dest / "done").write_text("")
    return dest


class RssSampler(threading.Thread):
    """Peak RSS (MiB) of every process descending from `pid`, sampled from /proc."""

    def __init__(self, pid: int, every_s: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every_s, self.peak, self.stopped = pid, every_s, {}, threading.Event()

    def descendants(self) -> list[int]:
        parents = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        found, frontier = [], [self.pid]
        while frontier:
            p = frontier.pop()
            kids = [c for c, parent in parents.items() if parent == p]
            found += kids
            frontier += kids
        return found

    def run(self):
        while not self.stopped.is_set():
            for pid in [self.pid, *self.descendants()]:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                if m := re.search(r"VmRSS:\s+(\d+) kB", status):
                    self.peak[pid] = max(self.peak.get(pid, 0), int(m.group(1)) / 1024)
            self.stopped.wait(self.every_s)


def materialize_args(corpus: Path, out: Path, teacher: Path, workers: int, soft_labels: str = "float32") -> list:
    return [
        sys.executable,
        "-m",
        "kdaug",
        "materialize",
        "--input",
        str(corpus),
        "--output",
        str(out),
        "--teacher",
        str(teacher),
        "--augment",
        AUGMENT,
        "--id-column",
        "id",
        "--seed",
        "1",
        "--device",
        "cpu",
        "--soft-labels",
        soft_labels,
        "--runner=DirectRunner",
        "--direct_running_mode=multi_processing",
        f"--direct_num_workers={workers}",
    ]


def run_job(cmd: list[str], kill_when=None) -> dict:
    """Runs a job in its own process group: wall seconds, CPU seconds of the group, peak RSS per process;
    with `kill_when()` true, the whole group is killed (SIGKILL) and `killed` is set."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True
    )
    sampler = RssSampler(proc.pid)
    sampler.start()
    killed = False
    stderr_tail: list[str] = []
    reader = threading.Thread(target=lambda: stderr_tail.extend(proc.stderr.readlines()[-40:]), daemon=True)
    reader.start()
    while proc.poll() is None:
        if kill_when is not None and kill_when():
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.2)
    proc.wait()
    seconds = time.perf_counter() - t0
    sampler.stopped.set()
    sampler.join()
    reader.join(timeout=5)
    if proc.returncode and not killed:
        raise RuntimeError("materialize failed:\n" + "".join(stderr_tail))
    workers = sorted((v for k, v in sampler.peak.items() if k != proc.pid), reverse=True)
    return {
        "seconds": seconds,
        "killed": killed,
        "launcher_peak_rss_mib": sampler.peak.get(proc.pid, 0.0),
        "worker_peak_rss_mib": workers or [0.0],
    }


def staged_chunks(out: Path) -> int:
    from kdaug.core.dataset import DatasetDir

    return DatasetDir(str(out)).staged_chunk_count("train")


def data_files(out: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("data", "dead_letter")
        for p in sorted((out / sub).glob("*"))
    }


def split_entry(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())["splits"]["train"]


def per_core_rates(corpus: Path, teacher: Path) -> dict:
    from kdaug.core.augment import parse_augment_spec
    from kdaug.core.corpus import ColumnSpec, LabelSpace, plan_read_units
    from kdaug.core.cost import count_corpus, measure_costs
    from kdaug.core.teacher import TeacherSettings

    count = count_corpus(
        plan_read_units(str(corpus)),
        ColumnSpec("text", None, "label", "id"),
        LabelSpace({0: "negative", 1: "positive"}),
        512,
    )
    timed, warmup = count.sample[:256], count.sample[256:]  # half warms the caches, as kdaug plan does
    costs = measure_costs(timed, [parse_augment_spec(AUGMENT)], 1, TeacherSettings(str(teacher), device="cpu"), warmup)
    sources_per_s = 1 / costs.augment_seconds["synonym.0"]
    return {
        "augment_sources_per_s_per_core": sources_per_s,
        "augment_copies_per_s_per_core": sources_per_s * costs.copies_per_source["synonym.0"],
        "label_rows_per_s_per_core": 1 / costs.label_seconds_per_row,
        "tokens_per_row": costs.tokens_per_row,
    }


def plan_estimate(corpus: Path, out: Path, teacher: Path, workers: int, work: Path) -> dict:
    dest = work / "plan.json"
    cmd = [
        sys.executable, "-m", "kdaug", "plan", "--input", str(corpus), "--output", str(out), "--teacher", str(teacher),
        "--augment", AUGMENT, "--id-column", "id", "--seed", "1", "--cores", str(workers), "--json", str(dest),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return json.loads(dest.read_text())


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--kill-at", type=int, default=100_000, help="the size killed half-way and rerun (0: none)")
    p.add_argument("--check-size", type=int, default=100_000, help="the size kdaug plan's estimate is checked on")
    p.add_argument("--work", default="/tmp/kdaug_bench_scale")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"benchmarks.scale: materialize {', '.join(f'{n:,}' for n in sizes)} sources ({AUGMENT}, a 2-layer "
        f"teacher) on {args.workers} worker processes, a kill at {args.kill_at:,} and its rerun; roughly "
        f"{sum(sizes) * (2 if args.kill_at else 1) / 1e6 * 0.6:.1f} h on 2 cores (about 33 min per million "
        "sources as measured here)",
        flush=True,
    )
    teacher = work / "teacher"
    if not (teacher / "config.json").exists():
        config_teacher(teacher, hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)
    runs = []
    for n in sizes:
        corpus = write_corpus(n, work / f"corpus_{n}", args.workers)
        out = work / f"out_{n}"
        if not (out / "manifest.json").exists():
            job = run_job(materialize_args(corpus, out, teacher, args.workers))
        else:
            job = json.loads((work / f"run_{n}.json").read_text())
        (work / f"run_{n}.json").write_text(json.dumps(job))
        entry = split_entry(out)
        runs.append(
            {
                "sources": n,
                "seconds": job["seconds"],
                "seconds_per_1k_sources": 1000 * job["seconds"] / n,
                "rows": entry["rows_written"],
                "rows_per_s": entry["rows_written"] / job["seconds"],
                "worker_peak_rss_mib": max(job["worker_peak_rss_mib"]),
                "launcher_peak_rss_mib": job["launcher_peak_rss_mib"],
                "data_bytes_per_million_rows": entry["data_bytes"] / entry["rows_written"] * 1e6,
            }
        )
        print(table(rounded(runs[-1:]), list(runs[-1])), flush=True)
    results: dict = {"augment": AUGMENT, "workers": args.workers, "runs": runs}

    smallest = min(sizes)
    sizes_by_format = {}
    for fmt in ("float32", "float16", "topk:1", "float16,topk:1"):
        out = work / f"format_{fmt.replace(',', '_').replace(':', '')}"
        if not (out / "manifest.json").exists():
            run_job(materialize_args(work / f"corpus_{smallest}", out, teacher, args.workers, soft_labels=fmt))
        entry = split_entry(out)
        sizes_by_format[fmt] = entry["data_bytes"] / entry["rows_written"] * 1e6
    results["bytes_per_million_rows"] = sizes_by_format
    results["per_core"] = per_core_rates(work / f"corpus_{smallest}", teacher)

    previous = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    if (
        args.kill_at
        and previous.get("kill", {}).get("sources") == args.kill_at
        and (work / f"killed_{args.kill_at}" / "manifest.json").exists()
    ):
        results["kill"] = previous["kill"]  # measured by an earlier run of this benchmark on these files
    elif args.kill_at:
        n = args.kill_at
        corpus, reference, out = work / f"corpus_{n}", work / f"out_{n}", work / f"killed_{n}"
        total = split_entry(reference)["chunks"]["written"] + split_entry(reference)["chunks"]["reused"]
        first = run_job(materialize_args(corpus, out, teacher, args.workers), lambda: staged_chunks(out) >= total / 2)
        staged = staged_chunks(out)
        rerun = run_job(materialize_args(corpus, out, teacher, args.workers))
        chunks = split_entry(out)["chunks"]
        results["kill"] = {
            "sources": n,
            "chunks": total,
            "killed_after_s": first["seconds"],
            "staged_when_killed": staged,
            "rerun_seconds": rerun["seconds"],
            "reused": chunks["reused"],
            "byte_identical": data_files(out) == data_files(reference),
        }
        print(table(rounded([results["kill"]]), list(results["kill"])), flush=True)

    if args.check_size in sizes:
        n = args.check_size
        planned = plan_estimate(work / f"corpus_{n}", work / f"plan_out_{n}", teacher, args.workers, work)
        measured = next(r for r in runs if r["sources"] == n)
        results["estimate_check"] = {
            "sources": n,
            "estimated_seconds": planned["wall_hours"] * 3600,
            "measured_seconds": measured["seconds"],
            "ratio": planned["wall_hours"] * 3600 / measured["seconds"],
            "estimated_rows": planned["rows"],
            "measured_rows": measured["rows"],
        }
        print(table(rounded([results["estimate_check"]]), list(results["estimate_check"])), flush=True)

    path = write_results("scale", results)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
