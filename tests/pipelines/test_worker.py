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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_resident_bytes_is_this_processs_rss():
    assert abs(worker.resident_bytes() / 2**20 - _rss_mib()) < 16


class FakeProcess:
    """RSS as a test sets it; a trim drops it to what is `in_use`."""

    def __init__(self, monkeypatch, rss_mib):
        self.rss, self.in_use, self.trims = rss_mib, rss_mib, 0
        monkeypatch.setattr(worker, "resident_bytes", lambda: self.rss * 2**20)
        monkeypatch.setattr(worker, "release_freed_memory", self.trim)

    def trim(self):
        self.trims += 1
        self.rss = self.in_use
        return True


def test_headroom_guard_trims_only_past_the_headroom_and_raises_its_floor(monkeypatch):
    proc = FakeProcess(monkeypatch, rss_mib=1000)
    guard = worker.HeadroomGuard(headroom=256 * 2**20)
    guard.begin()
    proc.rss = 1200  # within the headroom: left alone
    assert not guard.check() and proc.trims == 0
    proc.rss, proc.in_use = 1300, 1050  # past it: trimmed back to what is in use
    assert guard.check() and proc.trims == 1 and proc.rss == 1050
    assert guard.check() is False  # next pass, nothing grew: no trim
    proc.rss = 1280  # 280 MB over the first floor (1000), 230 over the new one (1050): left alone
    assert not guard.check()
    proc.rss = 1320  # 270 over the floor of 1050
    assert guard.check() and proc.trims == 2 and guard.headroom == 256 * 2**20


def test_headroom_guard_doubles_its_headroom_when_one_pass_outgrows_it(monkeypatch):
    proc = FakeProcess(monkeypatch, rss_mib=1000)
    guard = worker.HeadroomGuard(headroom=100 * 2**20)
    guard.begin()
    for _ in range(2):  # every pass grows 150 MB and frees it
        proc.rss = 1150
        guard.check()
    assert proc.trims == 2 and guard.headroom == 200 * 2**20
    proc.rss = 1150
    assert not guard.check() and proc.trims == 2  # now within the larger headroom


def test_headroom_guard_does_nothing_where_memory_cannot_be_given_back(monkeypatch):
    monkeypatch.setattr(worker, "resident_bytes", lambda: 2**40)
    monkeypatch.setattr(worker, "release_freed_memory", lambda: False)
    guard = worker.HeadroomGuard()
    guard.begin()
    assert guard.floor == 2**40
    guard.floor = 0  # pretend it grew past the headroom
    assert not guard.check() and guard.floor is None and guard.trims == 0
    assert not guard.check()  # and it stopped looking
