"""How many threads torch (and the fast tokenizers) may use in a worker process."""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, as taskset, cgroups' cpusets or a parent that
    split the machine set it), else the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def set_torch_threads(processes_per_machine: int = 1, threads: int | None = None) -> int:
    """Splits the cores this process is given between the worker processes on it, so N processes running torch do
    not each start one thread per core and fight over them; 0 processes means one per core (Dataflow's
    default), so one thread each. The fast tokenizers' thread pool (Rayon, which reads
    RAYON_NUM_THREADS when it first starts) gets the same count unless the user set it. Returns the
    thread count set."""
    import torch

    cores = available_cores()
    n = threads or max(1, cores // (processes_per_machine or cores))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    os.environ.setdefault("RAYON_NUM_THREADS", str(n))
    return n


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (Linux); None where it is not there."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return None
