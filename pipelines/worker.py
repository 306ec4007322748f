"""Process-level tuning for the processes that run a job: the CLI's own process and Beam's SDK workers.

A job's long-lived objects (WordNet's ~0.5M index objects, imported modules, the teacher) are alive
from setup to exit. Python's cyclic garbage collector scans all of them on every full collection
(~0.3 s each with WordNet loaded) and again, several times, while the interpreter shuts down: a
process holding WordNet, GloVe, torch and Beam took ~2.8 s to exit (0.3 s frozen), and the local runner
stops its worker processes one after another. Freezing them (gc.freeze) takes them out of those scans;
objects freed later by reference counting are still freed.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import sys
from collections.abc import Callable

SDK_WORKER_MAIN = "apache_beam.runners.worker.sdk_worker_main"
_exit_hook_registered = False


def in_sdk_worker() -> bool:
    """True in a process Beam started to run DoFns (local multi-processing workers, Dataflow workers):
    one that holds nothing of the user's."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec is not None and spec.name == SDK_WORKER_MAIN


def keep_long_lived_out_of_gc() -> bool:
    """Call after loading long-lived assets. In every process: everything alive at exit is frozen first,
    so shutting down does not scan it. In an SDK worker (which holds nothing but the job) also now:
    what is garbage is collected, everything alive is frozen. Not now elsewhere: in a process that
    runs the user's code too (a notebook, a test session), a frozen object that became part of a
    garbage cycle later would never be collected. Returns whether it froze now."""
    global _exit_hook_registered
    if not _exit_hook_registered:
        atexit.register(gc.freeze)
        _exit_hook_registered = True
    if not in_sdk_worker():
        return False
    gc.collect()
    gc.freeze()
    return True


# glibc's allocator keeps what a process frees inside its heap whenever a live allocation sits above it,
# and a worker's long-lived allocations (caches filled as new words come) sit among each chunk's
# short-lived ones. Measured on a 100k-source job: a worker's allocations in use stayed flat (~250 MB)
# while its heap held 1.1 GB more of free memory. malloc_trim(0) gives the free pages anywhere in the
# heap back to the system (madvise), so after each chunk RSS is what is in use (~1.0 GB a worker at 100k
# and at 1M sources). It walks the heap (~30 ms), so it runs at each end of a chunk's chain: both ends
# where the chain is fused (the second finds little), one on a right-fitted worker. Within a chunk the
# heap grows by what the chunk churns through, mostly the teacher's activations (bounded on a CPU by
# Teacher.CPU_TOKEN_BUDGET, and by HeadroomGuard below: peaks of 1.24 GB at 100k, 1.32 GB at 1M); a fixed
# mmap threshold (MALLOC_MMAP_THRESHOLD_=4194304 in the workers' environment) removes more at 27% more
# wall time (docs/benchmarks.md), so it is the user's trade, not a default.
@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # musl has no malloc_trim
        return None


def release_freed_memory() -> bool:
    """Returns memory the process freed to the system (glibc's malloc_trim); False where there is no
    glibc (macOS, musl) and nothing was done."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def resident_bytes() -> int | None:
    """This process's resident set size in bytes (Linux's /proc/self/statm: a read of a few
    microseconds), None where there is none."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


# Within a chunk the teacher's forward passes leave freed blocks in glibc's heap, and how much of it they
# touch drifts up as a worker runs: its allocations in use stayed flat (~270 MB) while the free memory
# inside its heap at a chunk's peak grew from ~290 to ~600 MB in 10 minutes of a million-source job. The
# drift is the same in one thread with no Beam (1.20 -> 1.36 GB over 40 chunks) and with one arena
# (MALLOC_ARENA_MAX=1), so it is the allocator's fragmentation, not the harness. A trim after every
# 8th forward pass held that process at 1.10-1.17 GB but cost 16% more time (pages come back as faults);
# trimming only when the process has grown past a headroom pays that cost only where the drift happened.
LABELLING_HEADROOM = 256 * 2**20


class HeadroomGuard:
    """Keeps a long step's RSS within `headroom` bytes of what the process held when the step began:
    `check()` (after each unit of work, e.g. a forward pass) gives freed memory back once it has grown
    past that. What is still resident after a trim is in use, so it becomes the new floor; if a single
    unit of work outgrows the headroom by itself (trims on consecutive checks), the headroom doubles
    rather than trimming every time."""

    def __init__(self, headroom: int = LABELLING_HEADROOM):
        self.headroom = headroom
        self.floor: int | None = None
        self.trims = 0
        self._trimmed_last = False

    def begin(self) -> None:
        self.floor, self._trimmed_last = resident_bytes(), False

    def check(self) -> bool:
        """Returns whether it gave memory back."""
        if self.floor is None or (rss := resident_bytes()) is None or rss - self.floor <= self.headroom:
            self._trimmed_last = False
            return False
        if self._trimmed_last:
            self.headroom *= 2
        if not release_freed_memory():
            self.floor = None  # nothing to give back with: stop reading /proc
            return False
        self.trims += 1
        self.floor = max(self.floor, resident_bytes() or 0)
        self._trimmed_last = True
        return True
