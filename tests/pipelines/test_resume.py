"""A materialize job killed with SIGKILL: no reader sees a partial split, and the same command run again
reuses the chunks that were finished and writes files byte-identical to an uninterrupted run's."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from kdaug.core.dataset import DatasetDir, IncompleteDatasetError
from kdaug.trainers.dataset import open_split
from tests.conftest import write_jsonl

CHUNKS = 8


def command(corpus: Path, out: Path, teacher: Path, seed: int) -> list[str]:
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
        "synonym:ratio=0.3,copies=2",
        "--seed",
        str(seed),
        "--chunk-size",
        "25",
        "--id-column",
        "id",
        "--runner=DirectRunner",
    ]


def staged_chunks(out: Path) -> int:
    return DatasetDir(str(out)).staged_chunk_count("train")


def run_and_kill_after(cmd: list[str], out: Path, chunks: int) -> None:
    """Starts the job, waits until `chunks` chunks are staged, and kills it (SIGKILL: no clean-up runs)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while staged_chunks(out) < chunks and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the job finished before it could be killed"


def files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for sub in ("data", "dead_letter") for p in sorted((out / sub).glob("*"))}


def what_readers_see(out: Path):
    """(kdaug's rows, pandas' rows from data/): ids, or the error kdaug raises."""
    try:
        kdaug_ids = sorted(r["id"] for r in open_split(str(out)).iter_rows(columns=["id"]))
    except IncompleteDatasetError as err:
        kdaug_ids = str(err)
    data = out / "data"
    pandas_ids = sorted(pd.read_parquet(data)["id"]) if data.is_dir() and list(data.glob("*.parquet")) else []
    return kdaug_ids, pandas_ids


@pytest.fixture(scope="module")
def job(tmp_path_factory, mr_rows, tiny_teacher):
    tmp = tmp_path_factory.mktemp("resume")
    rows = mr_rows[: CHUNKS * 25 // 2] + mr_rows[-CHUNKS * 25 // 2 + 1 :]  # and a broken line: CHUNKS x 25 records
    corpus = write_jsonl(tmp / "corpus.jsonl", rows[:-1] + ['{"text": "a broken line"', rows[-1]])
    reference = tmp / "reference"  # seed 2, never interrupted
    subprocess.run(command(corpus, reference, tiny_teacher, 2), check=True, capture_output=True)
    return tmp, corpus, reference


def test_a_killed_first_run_shows_nothing_and_its_rerun_finishes_identically(job, tiny_teacher):
    tmp, corpus, reference = job
    out = tmp / "first"
    run_and_kill_after(command(corpus, out, tiny_teacher, 2), out, chunks=3)
    kdaug_sees, pandas_sees = what_readers_see(out)
    assert "first materialize run did not finish" in kdaug_sees and pandas_sees == []
    assert not (out / "manifest.json").exists() and not (out / "README.md").exists()

    done = subprocess.run(command(corpus, out, tiny_teacher, 2), check=True, capture_output=True, text=True)
    manifest = json.loads((out / "manifest.json").read_text())["splits"]["train"]
    assert manifest["chunks"]["reused"] >= 3 and manifest["chunks"]["reused"] + manifest["chunks"]["written"] == CHUNKS
    assert "chunks reused" in done.stderr
    assert files(out) == files(reference)  # byte for byte
    assert not (out / ".kdaug").exists()


def test_a_killed_rerun_leaves_the_previous_complete_run_visible(job, tiny_teacher):
    tmp, corpus, reference = job
    out = tmp / "again"
    subprocess.run(command(corpus, out, tiny_teacher, 1), check=True, capture_output=True)  # an older run, seed 1
    before = what_readers_see(out)
    old_files = files(out)
    assert len(before[0]) == len(before[1]) > CHUNKS * 25 - 1

    for killed_at in (1, CHUNKS - 2):  # early, and with most chunks staged
        run_and_kill_after(command(corpus, out, tiny_teacher, 2), out, chunks=killed_at)
        assert what_readers_see(out) == before  # kdaug and pandas read the seed-1 run, whole
        assert files(out) == old_files
    import datasets  # the card lists the seed-1 run's exact files

    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp / "hf-cache"))["train"]
    assert sorted(loaded["id"]) == before[0]
    subprocess.run(command(corpus, out, tiny_teacher, 2), check=True, capture_output=True)
    manifest = json.loads((out / "manifest.json").read_text())["splits"]["train"]
    assert manifest["chunks"]["reused"] >= CHUNKS - 2
    assert files(out) == files(reference)
    card = (out / "README.md").read_text()
    assert all(f"data/{name}" in card for name in files(reference) if name.endswith(".parquet"))
