"""Cost of one long record: time and peak memory per record against text length, for every augmenter, and
a corpus with one 200,000-character text against the same corpus without it.

1. Per record (`--lengths`, default 100 ... 100,000 words of MR sentences run together): one source (in a
   batch with one short sentence, the partner AugPro-Mix needs), 2 copies at ratio 0.3, each (augmenter,
   length) in a fresh process, so its peak RSS is its own (measured after the augmenter's set-up and a
   warm-up on a short text). No max_words window here: this is the
   augmenters' own growth. The masked LM is a small one built from a config (2 layers, hidden 32, MiniLM's
   vocabulary): its cost per window is fixed, so the growth is the algorithm's. The growth exponent is the
   log-log slope between the two longest lengths (1 = linear).
2. Corpus (`kdaug materialize`, the tiny teacher): 229 MR sentences, and the same with one 200,000-character
   text added, per augmenter set, with the default --max-words (2000): wall time and peak RSS of the job.

    python -m benchmarks.long_texts [--lengths 100,1000,10000,100000] [--skip-corpus]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import rounded, table, write_results

AUGMENTERS = {
    "synonym": "synonym:ratio=0.3,copies=2",
    "knn": "knn:ratio=0.3,copies=2",
    "mlm per_word": "mlm:model={mlm},ratio=0.3,copies=2",
    "mlm joint": "mlm:model={mlm},ratio=0.3,copies=2,mode=joint",
    "augpro_mix": "augpro_mix:copies=2,model={teacher}",
    "augpro_fgsm": "augpro_fgsm:copies=2,model={teacher}",
}
CORPUS_AUGMENTERS = {
    "synonym + knn": ["synonym:ratio=0.3,copies=2", "knn:ratio=0.3,copies=2"],
    "mlm": ["mlm:model={mlm},ratio=0.3,copies=2"],
    "augpro_mix + augpro_fgsm": ["augpro_mix:copies=2", "augpro_fgsm:copies=1"],
}

ONE_RECORD = r"""
import json, resource, sys, time
from kdaug.core.augment import build_augmenters, parse_augment_spec
from kdaug.core.corpus import SourceExample
spec, path = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
aug = build_augmenters([parse_augment_spec(spec)])[0]
aug.setup()
aug.augment_batch([SourceExample("warm", "a short warm-up sentence about a good film .", None, 0, "")], seed=0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
# a short partner in the batch: AugPro-Mix mixes each source with another one of its batch
partner = SourceExample("partner", "a dull and lifeless story that goes nowhere .", None, 0, "")
result = aug.augment_batch([SourceExample("long", text, None, 0, ""), partner], seed=0)[0]
seconds = time.perf_counter() - t0
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_rss_growth_mib": (after - before) / 1024, "copies": len(result.copies),
                  "mean_ratio": sum(c.shift.ratio for c in result.copies) / max(len(result.copies), 1)}))
"""


def words_of_mr(n: int) -> str:
    from kdaug.core.assets.mr import fetch_mr

    with open(fetch_mr(), encoding="utf-8") as f:
        sentences = [json.loads(line)["text"] for line in f]
    out, count, i = [], 0, 0
    while count < n:
        s = sentences[i % len(sentences)]
        out.append(s)
        count += len(s.split())
        i += 1
    return " ".join(" ".join(out).split()[:n])


def build_models(tmp: Path) -> tuple[Path, Path]:
    from tests.conftest import _build_tiny_bert, build_tiny_teacher

    teacher = build_tiny_teacher(tmp / "teacher", id2label={0: "negative", 1: "positive"})
    mlm = _build_tiny_bert(tmp / "mlm", "BertForMaskedLM", 0)
    return teacher, mlm


def per_record(lengths: list[int], tmp: Path, teacher: Path, mlm: Path) -> list[dict]:
    rows = []
    for name, spec in AUGMENTERS.items():
        spec = spec.format(mlm=mlm, teacher=teacher)
        for n in lengths:
            path = tmp / f"text-{n}.txt"
            if not path.exists():
                path.write_text(words_of_mr(n), encoding="utf-8")
            out = subprocess.run(
                [sys.executable, "-c", ONE_RECORD, spec, str(path)],
                capture_output=True,
                text=True,
                env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"},
            )
            if out.returncode:
                raise RuntimeError(f"{name} at {n} words failed:\n{out.stderr[-3000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"augmenter": name, "words": n, **result, "us_per_word": 1e6 * result["seconds"] / n})
            print(
                f"  {name:<14} {n:>7} words: {result['seconds']:.2f} s, +{result['peak_rss_growth_mib']:.0f} MiB",
                flush=True,
            )
    return rows


def growth(rows: list[dict]) -> list[dict]:
    """Log-log slope of time against length between the two longest texts, per augmenter."""
    out = []
    for name in AUGMENTERS:
        mine = sorted((r for r in rows if r["augmenter"] == name), key=lambda r: r["words"])
        if len(mine) >= 2:
            a, b = mine[-2], mine[-1]
            slope = math.log(max(b["seconds"], 1e-6) / max(a["seconds"], 1e-6)) / math.log(b["words"] / a["words"])
            out.append(
                {
                    "augmenter": name,
                    "from_words": a["words"],
                    "to_words": b["words"],
                    "time_exponent": slope,
                    "peak_rss_growth_mib_at_longest": b["peak_rss_growth_mib"],
                }
            )
    return out


def run_job(corpus: Path, out: Path, teacher: Path, specs: list[str]) -> dict:
    cmd = [
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
        "--id-column",
        "id",
        "--runner=DirectRunner",
    ]
    for spec in specs:
        cmd += ["--augment", spec]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if status:
        raise RuntimeError(f"materialize failed: {proc.stderr.read()[-3000:]}")
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024}


def corpus_comparison(tmp: Path, teacher: Path, mlm: Path) -> list[dict]:
    from kdaug.core.assets.mr import fetch_mr

    with open(fetch_mr(), encoding="utf-8") as f:
        rows = [json.loads(line) for _, line in zip(range(229), f)]
    plain = tmp / "plain.jsonl"
    plain.write_text("".join(json.dumps(r) + "\n" for r in rows))
    long_text = words_of_mr(40_000)[:200_000]
    with_long = tmp / "with_long.jsonl"
    with_long.write_text(plain.read_text() + json.dumps({"id": "long", "text": long_text, "label": "positive"}) + "\n")
    out = []
    for name, specs in CORPUS_AUGMENTERS.items():
        specs = [s.format(mlm=mlm) for s in specs]
        base = run_job(plain, tmp / f"out-{len(out)}-plain", teacher, specs)
        longer = run_job(with_long, tmp / f"out-{len(out)}-long", teacher, specs)
        out.append(
            {
                "augmenters": name,
                "seconds_without": base["seconds"],
                "seconds_with": longer["seconds"],
                "time_ratio": longer["seconds"] / base["seconds"],
                "peak_rss_mib_without": base["peak_rss_mib"],
                "peak_rss_mib_with": longer["peak_rss_mib"],
                "memory_ratio": longer["peak_rss_mib"] / base["peak_rss_mib"],
            }
        )
        print(f"  {name}: {out[-1]['time_ratio']:.2f}x time, {out[-1]['memory_ratio']:.2f}x memory", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", default="100,1000,10000,100000")
    p.add_argument("--skip-corpus", action="store_true")
    args = p.parse_args(argv)
    lengths = [int(n) for n in args.lengths.split(",")]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        teacher, mlm = build_models(tmp)
        print("One record, by length (no window):")
        records = per_record(lengths, tmp, teacher, mlm)
        slopes = growth(records)
        corpus = [] if args.skip_corpus else corpus_comparison(tmp, teacher, mlm)
    print("\nOne record: seconds and peak RSS growth by length")
    print(table(rounded(records), ["augmenter", "words", "seconds", "us_per_word", "peak_rss_growth_mib", "copies"]))
    print("\nGrowth of time with length (log-log slope; 1 = linear)")
    print(
        table(
            rounded(slopes), ["augmenter", "from_words", "to_words", "time_exponent", "peak_rss_growth_mib_at_longest"]
        )
    )
    if corpus:
        print("\n229 MR sentences, with and without one 200,000-character text (default --max-words 2000)")
        print(
            table(
                rounded(corpus),
                [
                    "augmenters",
                    "seconds_without",
                    "seconds_with",
                    "time_ratio",
                    "peak_rss_mib_without",
                    "peak_rss_mib_with",
                    "memory_ratio",
                ],
            )
        )
    path = write_results(
        "long_texts", {"settings": vars(args), "per_record": records, "growth": slopes, "corpus": corpus}
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
