"""How many threads torch (and the fast tokenizers) may use in a worker process."""

from __future__ import annotations

import os


def set_torch_threads(processes_per_machine: int = 1, threads: int | None = None) -> int:
    """Splits the machine's cores between the worker processes on it, so N processes running torch do
    not each start one thread per core and fight over them; 0 processes means one per core (Dataflow's
    default), so one thread each. The fast tokenizers' thread pool (Rayon, which reads
    RAYON_NUM_THREADS when it first starts) gets the same count unless the user set it. Returns the
    thread count set."""
    import torch

    cores = os.cpu_count() or 1
    n = threads or max(1, cores // (processes_per_machine or cores))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    os.environ.setdefault("RAYON_NUM_THREADS", str(n))
    return n
