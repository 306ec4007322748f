import gc
import platform
import re
import sys
import types
import weakref

import pytest

from kdaug.pipelines import worker


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()


def test_outside_a_beam_worker_nothing_is_frozen_until_exit(monkeypatch, unfrozen):
    registered = []
    monkeypatch.setattr(worker, "_exit_hook_registered", False)
    monkeypatch.setattr(worker.atexit, "register", registered.append)
    before = gc.get_freeze_count()
    assert not worker.in_sdk_worker()  # pytest is not Beam's SDK worker
    assert worker.keep_long_lived_out_of_gc() is False
    assert gc.get_freeze_count() == before and registered == [gc.freeze]
    worker.keep_long_lived_out_of_gc()
    assert registered == [gc.freeze]  # registered once per process


def test_in_a_beam_worker_garbage_goes_and_the_rest_is_frozen_now(monkeypatch, unfrozen):
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name=worker.SDK_WORKER_MAIN)
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(worker.atexit, "register", lambda f: None)
    assert worker.in_sdk_worker()

    class Node:
        pass

    garbage = Node()
    garbage.itself = garbage  # a cycle: only the cyclic collector frees it
    gone = weakref.ref(garbage)
    del garbage
    kept = Node()
    assert worker.keep_long_lived_out_of_gc() is True
    assert gone() is None  # collected before freezing, not frozen for ever
    assert gc.get_freeze_count() > 0 and not any(o is kept for o in gc.get_objects())  # frozen: never scanned


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_memory_goes_back_to_the_system():
    freed, pins = [], []
    for _ in range(3000):  # 190 MiB freed later, each block below a small one that stays: the heap cannot shrink
        freed.append(bytearray(b"x") * (64 * 1024))
        pins.append(bytearray(b"p") * 1024)
    del freed
    before = _rss_mib()
    assert worker.release_freed_memory()
    assert before - _rss_mib() > 100
