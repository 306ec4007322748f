import dataclasses

import pytest

from kdaug.runs import core_shares, train_many
from kdaug.trainers.checkpoint import CheckpointMismatchError
from kdaug.trainers.config import TrainConfig


def test_core_shares_are_disjoint_nearly_equal_and_never_empty():
    assert core_shares([0, 1], 2) == [[0], [1]]
    assert core_shares([0, 1, 2, 3, 4], 2) == [[0, 1, 2], [3, 4]]
    assert core_shares([4, 5], 3) == [[4], [5]]  # never more shares than cores
    shares = core_shares(list(range(16)), 5)
    assert sorted(c for s in shares for c in s) == list(range(16))
    assert {len(s) for s in shares} == {3, 4}


def _configs(tiny_dataset, tmp_path, **kw):
    data, heldout = tiny_dataset
    return [
        TrainConfig(
            data=str(data),
            student="bilstm:hidden=16,embed_dim=16",
            eval=str(heldout),
            output=str(tmp_path / f"run{seed}"),
            epochs=1,
            batch_size=16,
            seed=seed,
            **kw,
        )
        for seed in (0, 1)
    ]


def test_parallel_runs_get_a_share_of_the_cores_and_train_as_alone(tiny_dataset, tmp_path):
    alone = train_many(_configs(tiny_dataset, tmp_path / "alone", torch_threads=1), parallel=1)
    finished = []
    together = train_many(
        _configs(tiny_dataset, tmp_path / "together"), parallel=2, on_done=lambda i, cfg, m: finished.append(i)
    )
    assert sorted(finished) == [0, 1]
    for a, b in zip(alone, together):
        assert a["history"] == b["history"]  # same seed, same batches, one thread each: the same student
    import os

    share = max(1, len(os.sched_getaffinity(0)) // 2)
    assert [m["config"]["torch_threads"] for m in together] == [share, share]


def test_a_mismatched_checkpoint_is_retrained_only_when_asked(tiny_dataset, tmp_path):
    first = _configs(tiny_dataset, tmp_path)[:1]
    train_many(first, parallel=1)
    changed = [dataclasses.replace(first[0], batch_size=8)]
    with pytest.raises(CheckpointMismatchError):
        train_many(changed, parallel=1)
    [metrics] = train_many(changed, parallel=1, retrain_mismatched=True)
    assert metrics["config"]["batch_size"] == 8 and "batch_size 16 -> 8" in metrics["retrained_because"]
