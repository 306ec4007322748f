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
import gc
import sys

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
