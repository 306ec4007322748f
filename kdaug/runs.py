"""Many trainings on one machine: the demo, the sweep and the benchmarks train dozens of small students.

train_many() runs them in N worker processes at once, each pinned to its own share of the cores (its CPU
affinity), so each training's torch threads default to that share and the machine is never
oversubscribed. (Two trainings that each start one thread per core on the same cores run several
times slower together than one after the other: torch's OpenMP threads spin while they wait.) On a
2-core machine two BiLSTM students on one core each finish ~1.4x sooner than one after the other on two
cores: a small model's many short parallel regions keep two threads of one run only half busy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from kdaug.core.threads import available_cores
from kdaug.trainers.checkpoint import CheckpointMismatchError
from kdaug.trainers.config import TrainConfig
from kdaug.trainers.train import train

log = logging.getLogger("kdaug")


def default_parallel(runs: int) -> int:
    """One training per core this process is given, at most one per run."""
    return max(1, min(available_cores(), runs))


def core_shares(cores: Sequence[int], parallel: int) -> list[list[int]]:
    """`cores` split into `parallel` disjoint, contiguous, nearly equal sets (none empty)."""
    parallel = max(1, min(parallel, len(cores)))
    size, extra = divmod(len(cores), parallel)
    shares, start = [], 0
    for i in range(parallel):
        end = start + size + (1 if i < extra else 0)
        shares.append(list(cores[start:end]))
        start = end
    return shares


def train_one(cfg: TrainConfig, retrain_mismatched: bool = False, progress: bool | None = False) -> dict:
    """One training. With retrain_mismatched, a checkpoint of another run in its output (an earlier demo
    with other settings, a re-materialized dataset) is discarded and the run trained again; its metrics
    then say why (`retrained_because`)."""
    try:
        return train(cfg, progress=progress)
    except CheckpointMismatchError as err:
        if not retrain_mismatched:
            raise
        log.debug("%s: an earlier run there differs (%s): training it again", cfg.output, err.why)
        return {**train(_restarted(cfg), progress=progress), "retrained_because": err.why}


def train_many(
    configs: Sequence[TrainConfig],
    parallel: int | None = None,
    retrain_mismatched: bool = False,
    on_done: Callable[[int, TrainConfig, dict], None] | None = None,
) -> list[dict]:
    """Trains every config, `parallel` at a time (default: one per core, at most one per run), and returns
    their metrics in the configs' order. parallel=1 trains them here, one after the other, on every core;
    otherwise each worker process is pinned to its own share of the cores and trains with that many
    torch threads (a config's own torch_threads wins; the count goes into the run's config). At most one
    training per core. A run that fails raises here, once the others have finished."""
    configs = list(configs)
    if not configs:
        return []
    cores = sorted(_affinity())
    parallel = max(
        1, min(parallel or default_parallel(len(configs)), len(configs), len(cores))
    )  # never more than cores
    results: list[dict | None] = [None] * len(configs)
    if parallel == 1:
        for i, cfg in enumerate(configs):
            results[i] = metrics = train_one(cfg, retrain_mismatched, progress=None)  # a bar on a terminal
            if on_done:
                on_done(i, cfg, metrics)
        return results  # type: ignore[return-value]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch threads inherited
    shares = context.Queue()
    split = core_shares(cores, parallel)
    for share in split:
        shares.put(share)
    threads = min(len(share) for share in split)
    level = logging.getLogger("kdaug").getEffectiveLevel()  # workers log as this process does
    with ProcessPoolExecutor(parallel, mp_context=context, initializer=_start, initargs=(shares, level)) as pool:
        futures = {
            pool.submit(train_one, _with_threads(cfg, threads), retrain_mismatched): i for i, cfg in enumerate(configs)
        }
        for future in as_completed(futures):
            i = futures[future]
            results[i] = metrics = future.result()
            if on_done:
                on_done(i, configs[i], metrics)
    return results  # type: ignore[return-value]


def _affinity() -> set[int]:
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def _start(shares, level: int) -> None:
    """Worker start: keep to its own share of the cores (where the platform lets a process choose), and
    log progress as the parent does (a spawned interpreter starts with no logging set up)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kdaug").setLevel(level)
    share = shares.get()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, share)


def _with_threads(cfg: TrainConfig, threads: int) -> TrainConfig:
    return cfg if cfg.torch_threads is not None else dataclasses.replace(cfg, torch_threads=threads)


def _restarted(cfg: TrainConfig) -> TrainConfig:
    return dataclasses.replace(cfg, restart=True)
