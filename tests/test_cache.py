"""The process' one cache: compute once, per-key locks, LRU eviction by bytes, pinned entries kept."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from core.cache import MemoryCache, disk_array


def test_a_value_is_computed_once_even_when_many_threads_ask_at_once():
    cache, calls = MemoryCache(1 << 20), []

    def compute():
        calls.append(1)
        time.sleep(0.2)
        return np.ones(10)

    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(lambda _: cache.get("k", compute), range(8)))
    assert len(calls) == 1 and all(v is values[0] for v in values)
    assert cache.stats().misses == 1 and cache.stats().hits == 7


def test_a_slow_key_never_holds_another_key():
    cache, started, release = MemoryCache(1 << 20), threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return "slow"

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(cache.get, "slow", slow)
        assert started.wait(5)
        began = time.perf_counter()
        assert cache.get("fast", lambda: "fast") == "fast"
        assert time.perf_counter() - began < 1  # the slow key is still computing
        release.set()
        assert pending.result() == "slow"


def test_evictable_entries_go_least_recently_used_first_by_bytes_and_pinned_ones_stay():
    cache = MemoryCache(budget_bytes=3000)
    cache.get("pinned", lambda: np.zeros(1000, np.uint8), pinned=True)
    for name in ("a", "b", "c"):
        cache.get(name, lambda: np.zeros(1000, np.uint8))
    cache.get("a", lambda: pytest.fail("a is cached"))  # a is now the most recently used
    cache.get("d", lambda: np.zeros(1000, np.uint8))
    assert cache.peek("b") is None  # the least recently used went
    assert all(cache.peek(k) is not None for k in ("pinned", "a", "c", "d"))
    stats = cache.stats()
    assert stats.evictable_bytes == 3000 and stats.pinned_bytes == 1000 and stats.evictions == 1


def test_a_failed_computation_is_not_stored_and_the_next_caller_tries_again():
    cache = MemoryCache(1 << 20)
    with pytest.raises(RuntimeError, match="boom"):
        cache.get("k", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert cache.get("k", lambda: 42) == 42


def test_a_waiter_computes_itself_when_the_first_computation_fails():
    cache, started = MemoryCache(1 << 20), threading.Event()

    def failing():
        started.set()
        time.sleep(0.2)
        raise RuntimeError("first try fails")

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(cache.get, "k", failing)
        assert started.wait(5)
        second = pool.submit(cache.get, "k", lambda: "second")
        with pytest.raises(RuntimeError):
            first.result()
        assert second.result() == "second"


def test_disk_array_reads_back_and_recomputes_an_unreadable_file(tmp_path):
    path = tmp_path / "a.npy"
    assert disk_array(path, lambda: np.arange(3)).tolist() == [0, 1, 2]
    assert disk_array(path, lambda: pytest.fail("read from disk")).tolist() == [0, 1, 2]
    path.write_bytes(b"garbage")
    assert disk_array(path, lambda: np.arange(2)).tolist() == [0, 1]


def test_a_value_too_large_to_keep_is_handed_to_its_waiters_and_evicts_nothing():
    cache, calls = MemoryCache(budget_bytes=3000), []
    cache.get("small", lambda: np.zeros(1000, np.uint8))

    def huge():
        calls.append(1)
        time.sleep(0.2)
        return np.zeros(10_000, np.uint8)

    with ThreadPoolExecutor(max_workers=4) as pool:
        values = list(pool.map(lambda _: cache.get("huge", huge), range(4)))
    assert len(calls) == 1 and all(len(v) == 10_000 for v in values)
    assert cache.peek("huge") is None and cache.peek("small") is not None


def test_peeking_counts_as_a_use():
    cache = MemoryCache(budget_bytes=2000)
    cache.get("a", lambda: np.zeros(1000, np.uint8))
    cache.get("b", lambda: np.zeros(1000, np.uint8))
    assert cache.peek("a") is not None  # a visitor keeps searching their upload
    cache.get("c", lambda: np.zeros(1000, np.uint8))
    assert cache.peek("a") is not None and cache.peek("b") is None


def test_a_computation_that_asks_for_its_own_key_fails_instead_of_hanging():
    cache = MemoryCache(1 << 20)
    with pytest.raises(RuntimeError, match="while it is being computed"):
        cache.get("r", lambda: cache.get("r", lambda: 1))
    assert cache.get("r", lambda: 2) == 2


@pytest.mark.parametrize(
    ("value", "megabytes"), [("nan", 512), ("inf", 512), ("0", 512), ("-3", 512), ("x", 512), ("64", 64)]
)
def test_the_memory_budget_setting_is_checked(monkeypatch, value, megabytes):
    from core.cache import _budget

    monkeypatch.setenv("WORKBENCH_MEMORY_MB", value)
    assert _budget() == megabytes * 2**20


def test_the_cache_lives_on_a_spaces_persistent_storage(tmp_path, monkeypatch):
    from core import paths

    storage = tmp_path / "data"
    monkeypatch.setattr(paths, "SPACE_STORAGE", storage)
    monkeypatch.delenv("WORKBENCH_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    monkeypatch.delenv("SPACE_ID", raising=False)
    storage.mkdir()
    assert paths.cache_dir() == tmp_path / "home-cache" / "spanish-embeddings-workbench"  # not a Space
    monkeypatch.setenv("SPACE_ID", "someone/espacio")
    assert paths.cache_dir() == storage / "spanish-embeddings-workbench"  # survives the Space's restarts
    storage.chmod(0o500)
    try:
        if not os.access(storage, os.W_OK):  # (root writes anyway)
            assert paths.cache_dir() == tmp_path / "home-cache" / "spanish-embeddings-workbench"
    finally:
        storage.chmod(0o700)
    storage.rmdir()
    assert paths.cache_dir() == tmp_path / "home-cache" / "spanish-embeddings-workbench"  # no storage bought
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "explicit"))
    storage.mkdir()
    assert paths.cache_dir() == tmp_path / "explicit"  # the variable always wins


def test_the_one_disk_cache_reads_back_recomputes_what_is_broken_and_survives_a_full_disk(
    tmp_path, monkeypatch
):
    import json

    from core import cache as cache_module
    from core.cache import on_disk

    path, calls = tmp_path / "value.json", []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    def load(p):
        return json.loads(p.read_text())

    def save(handle, value):
        json.dump(value, handle)

    assert on_disk(path, compute, load, save) == ({"n": 1}, False)
    assert on_disk(path, compute, load, save) == ({"n": 1}, True) and len(calls) == 1  # read back
    path.write_text("{broken")
    assert on_disk(path, compute, load, save) == ({"n": 2}, False)  # unreadable: computed again
    assert on_disk(path, compute, load, save, valid=lambda v: v["n"] > 5) == ({"n": 3}, False)  # stale

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module, "write_file_atomically", full_disk)
    assert on_disk(tmp_path / "other.json", compute, load, save) == ({"n": 4}, False)  # served anyway


def test_only_a_miss_is_computed_under_the_guard_and_a_nested_miss_under_the_same_one():
    from contextlib import contextmanager

    from core.cache import computing_under

    cache, entered = MemoryCache(2**20), []

    @contextmanager
    def guard():
        entered.append("in")
        yield

    with computing_under(guard):
        assert cache.get("outer", lambda: cache.get("inner", lambda: 1) + 1) == 2
        assert entered == ["in"]  # the inner miss is computed inside the outer guard, not a second one
        assert cache.get("outer", lambda: pytest.fail("computed again")) == 2 and entered == ["in"]
    assert cache.get("plain", lambda: 3) == 3 and entered == ["in"]  # outside the block: no guard
