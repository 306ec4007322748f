"""Materialize on Beam's portable path, as Flink, Spark and Dataflow Runner v2 run Python: the pipeline goes
to a job service (Beam's embedded one, offline) and runs in SDK worker processes that a worker pool starts,
in their own working directory, sharing nothing with the launcher but the files. Its files must be those
of the DirectRunner, byte for byte; a worker killed mid-job fails the job cleanly (Beam's local job
service does not retry bundles) and the same command run again finishes it identically."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_jsonl
from tests.pipelines.test_resume import files, staged_chunks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory):
    """Beam's worker pool (`python -m apache_beam.runners.worker.worker_pool_main`) in a directory of its
    own: every SDK worker it starts is a separate process there. Yields (address, pool process)."""
    cwd = tmp_path_factory.mktemp("worker_pool_cwd")
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    pool = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"],
        cwd=cwd,
        env=env,  # the pool starts workers as `python -c ...`: this interpreter's
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("localhost", port), timeout=1).close()
            break
        except OSError:
            assert pool.poll() is None and time.time() < deadline, "the worker pool did not start"
            time.sleep(0.2)
    yield f"localhost:{port}", pool
    os.killpg(pool.pid, signal.SIGKILL)
    pool.wait()


def command(out: str, runner_args: list[str]) -> list[str]:
    """Paths relative to the job's directory: a worker elsewhere must still find them."""
    return [
        sys.executable,
        "-m",
        "kdaug",
        "materialize",
        "--input",
        "corpus.jsonl",
        "--output",
        out,
        "--teacher",
        "teacher",
        "--augment",
        "synonym:ratio=0.3,copies=2",  # its context check loads the teacher too, by the same relative path
        "--seed",
        "5",
        "--chunk-size",
        "10",
        "--id-column",
        "id",
        *runner_args,
    ]


def portable(address: str) -> list[str]:
    return [
        "--runner=PortableRunner",
        "--job_endpoint=embed",
        "--environment_type=EXTERNAL",
        f"--environment_config={address}",
    ]


def split_entry(out: Path) -> dict:
    """The manifest's record of the split, without what names the run (its command line and time)."""
    entry = json.loads((out / "manifest.json").read_text())["splits"]["train"]
    return {k: v for k, v in entry.items() if k not in ("command", "created", "chunks")}


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory, mr_rows, tiny_teacher):
    """A job directory: the teacher, and 120 MR sentences with records that must be dead-lettered."""
    tmp = tmp_path_factory.mktemp("portable")
    shutil.copytree(tiny_teacher, tmp / "teacher")
    rows = mr_rows[:60] + mr_rows[-60:]
    broken = ['{"text": "a broken line"', {"id": rows[0]["id"], "text": "a repeated id", "label": "negative"}]
    write_jsonl(tmp / "corpus.jsonl", rows[:50] + broken + rows[50:] + [{"id": "x-1", "text": "", "label": "positive"}])
    subprocess.run(command("direct", ["--runner=DirectRunner"]), cwd=tmp, check=True, capture_output=True)
    return tmp


def test_the_portable_runner_writes_the_direct_runners_files(job_dir, worker_pool):
    address, _ = worker_pool
    done = subprocess.run(command("portable", portable(address)), cwd=job_dir, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    direct, on_workers = job_dir / "direct", job_dir / "portable"
    assert len(list((direct / "data").glob("*.parquet"))) == 13  # 123 records in chunks of 10
    assert list((direct / "dead_letter").glob("*.jsonl")), "the broken records were not dead-lettered"
    assert files(on_workers) == files(direct)  # data and dead letters, byte for byte (metadata included)
    assert split_entry(on_workers) == split_entry(direct)  # counts, reasons, checksums
    entry = split_entry(direct)
    assert entry["records_read"] == entry["records_written"] + entry["records_dead_lettered"] == 123
    recorded = json.loads((direct / "manifest.json").read_text())["splits"]["train"]["recipe"]
    assert recorded["teacher"] == "teacher"  # as given: the dataset does not depend on where it was run


def test_a_worker_killed_mid_job_fails_it_cleanly_and_a_rerun_finishes_it_identically(job_dir, worker_pool):
    address, pool = worker_pool
    out = job_dir / "killed"
    job = subprocess.Popen(
        command("killed", portable(address)), cwd=job_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 300
    while staged_chunks(out) < 3 and job.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    workers = children(pool.pid)
    assert workers and job.poll() is None, "the job finished before a worker could be killed"
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    _, stderr = job.communicate(timeout=300)

    if job.returncode != 0:  # Beam's local job service does not retry: the job fails, saying what to do
        last = stderr.strip().splitlines()[-1]
        assert "the runner failed the job" in last and "run the same command again" in last, last
        assert not (out / "manifest.json").exists() and not list(out.glob("data/*.parquet"))
        assert staged_chunks(out) >= 3
        rerun = subprocess.run(command("killed", portable(address)), cwd=job_dir, capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        chunks = json.loads((out / "manifest.json").read_text())["splits"]["train"]["chunks"]
        assert chunks["reused"] >= 3 and chunks["reused"] + chunks["written"] == 13
    assert files(out) == files(job_dir / "direct")  # nothing lost, nothing duplicated
    assert split_entry(out) == split_entry(job_dir / "direct")
    assert not (out / ".kdaug").exists()
