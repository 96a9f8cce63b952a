"""The one in-memory cache of the process: models, corpora, embeddings, indexes, maps.

Every value is computed once per key, by the first caller; a second caller of the same key waits for
that result, while callers of other keys never wait (one lock per key, and the shared lock is held
only to look up and store). Entries are pinned (what the process serves to everyone: its models, the
built-in corpus and what is derived from it) or evictable (what one visitor brought: an uploaded
corpus' embeddings, index and map). Evictable entries are dropped least recently used first once
their bytes pass the budget, ``$WORKBENCH_MEMORY_MB`` (default 512).

Expensive results derived from what the project ships are also kept on disk (``disk_array``), keyed
by fingerprints of their inputs, so that a restart reads them back; uploads never touch the disk.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from core.io import write_file_atomically

logger = logging.getLogger(__name__)
T = TypeVar("T")
MEMORY_ENV = "WORKBENCH_MEMORY_MB"
DEFAULT_MEMORY_MB = 512


@dataclass
class _Entry:
    value: Any
    size: int
    pinned: bool


@dataclass
class _Pending:
    """A key being computed: its owner thread, and the result handed to those who wait for it."""

    owner: int
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    failed: bool = True


@dataclass(frozen=True)
class CacheStats:
    entries: int
    pinned_bytes: int
    evictable_bytes: int
    budget_bytes: int
    hits: int
    misses: int
    evictions: int


def size_of(value: Any) -> int:
    """Bytes a value holds, as far as the cache can tell: arrays (and objects with ``nbytes``) exactly,
    tuples, lists and dicts as the sum of their parts, anything else by ``sys.getsizeof``."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if isinstance(value, tuple | list):
        return sys.getsizeof(value) + sum(size_of(v) for v in value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(size_of(k) + size_of(v) for k, v in value.items())
    return sys.getsizeof(value)


class MemoryCache:
    """Thread-safe compute-once cache with per-key locks and LRU eviction by bytes.

    Args:
        budget_bytes: Most bytes the evictable entries may hold together; pinned entries do not count.
    """

    def __init__(self, budget_bytes: int):
        self.budget_bytes = budget_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._pending: dict[Hashable, _Pending] = {}
        self._evictable_bytes = 0
        self._hits = self._misses = self._evictions = 0

    def get(
        self,
        key: Hashable,
        compute: Callable[[], T],
        *,
        pinned: bool = False,
        size: Callable[[T], int] = size_of,
    ) -> T:
        """The value under ``key``; computed by ``compute()`` when absent. Callers of the same key wait for
        the first one's result (even one too large to keep); callers of other keys never wait. An
        exception reaches the caller that computed, nothing is stored, and a waiter then tries itself.

        Raises:
            RuntimeError: ``compute`` asked for its own key (it would wait for itself for ever).
        """
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
                    self._hits += 1
                    return entry.value
                pending = self._pending.get(key)
                owner = pending is None
                if owner:
                    pending = self._pending[key] = _Pending(threading.get_ident())
                    self._misses += 1
                elif pending.owner == threading.get_ident():
                    raise RuntimeError(f"{_short(key)} is asked for while it is being computed")
            if not owner:
                pending.done.wait()
                if pending.failed:
                    continue  # the first caller failed: try again (maybe computing it ourselves)
                with self._lock:
                    self._hits += 1
                return pending.value
            try:
                value = _guarded(compute)
                pending.value, pending.failed = value, False
                self._store(key, value, pinned, size(value))
                return value
            finally:
                with self._lock:
                    del self._pending[key]
                pending.done.set()

    def peek(self, key: Hashable) -> Any | None:
        """The value under ``key`` if present, without computing anything (a use, as for ``get``)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry.value

    def discard(self, key: Hashable) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None and not entry.pinned:
                self._evictable_bytes -= entry.size

    def clear(self, predicate: Callable[[Hashable], bool] | None = None) -> None:
        """Forget every entry, or those whose key satisfies ``predicate``."""
        with self._lock:
            for key in [k for k in self._entries if predicate is None or predicate(k)]:
                entry = self._entries.pop(key)
                if not entry.pinned:
                    self._evictable_bytes -= entry.size

    def stats(self) -> CacheStats:
        with self._lock:
            pinned = sum(e.size for e in self._entries.values() if e.pinned)
            return CacheStats(
                len(self._entries),
                pinned,
                self._evictable_bytes,
                self.budget_bytes,
                self._hits,
                self._misses,
                self._evictions,
            )

    def _store(self, key: Hashable, value: Any, pinned: bool, size: int) -> None:
        if not pinned and size > self.budget_bytes:
            logger.info("Not keeping %s (%d MB): larger than the memory budget", _short(key), size >> 20)
            return  # keeping it would evict everything else, then itself
        with self._lock:
            self._entries[key] = _Entry(value, size, pinned)
            if pinned:
                return
            self._evictable_bytes += size
            for old in [k for k, e in self._entries.items() if not e.pinned]:
                if self._evictable_bytes <= self.budget_bytes:
                    break
                self._evictable_bytes -= self._entries.pop(old).size
                self._evictions += 1
                logger.info("Evicted %s from the memory cache", _short(old))


def _short(key: Hashable) -> str:
    return str(key)[:120]


def _budget() -> int:
    try:
        megabytes = float(os.environ.get(MEMORY_ENV, DEFAULT_MEMORY_MB))
    except ValueError:
        megabytes = math.nan
    if not (math.isfinite(megabytes) and megabytes > 0):
        logger.warning("$%s must be a number of MB above 0; using %d", MEMORY_ENV, DEFAULT_MEMORY_MB)
        megabytes = DEFAULT_MEMORY_MB
    return int(megabytes * 2**20)


CACHE = MemoryCache(_budget())


# What wraps a cache miss's computation in this context (``computing_under``); None: nothing.
_compute_guard: contextvars.ContextVar[Callable[[], contextlib.AbstractContextManager] | None] = (
    contextvars.ContextVar("compute_guard", default=None)
)


@contextlib.contextmanager
def computing_under(guard: Callable[[], contextlib.AbstractContextManager]):
    """Within this block, every value this context computes for the cache (a miss, not a hit) is
    computed inside ``guard()``: the Space lets a request whose results are cached answer at once,
    and makes one that must compute wait for the one heavy slot. Nested misses use the outer guard."""
    token = _compute_guard.set(guard)
    try:
        yield
    finally:
        _compute_guard.reset(token)


def _guarded(compute: Callable[[], T]) -> T:
    guard = _compute_guard.get()
    if guard is None:
        return compute()
    token = _compute_guard.set(None)  # a miss inside this computation is already inside the guard
    try:
        with guard():
            return compute()
    finally:
        _compute_guard.reset(token)


def cached_array(key: Hashable, compute: Callable[[], np.ndarray], disk_path: Path | None) -> np.ndarray:
    """An array computed once: with ``disk_path`` (what is served to everyone) pinned in memory and kept
    on disk there; without (what one visitor brought) evictable and in memory only."""
    if disk_path is not None:
        return CACHE.get(key, lambda: disk_array(disk_path, compute), pinned=True)
    return CACHE.get(key, compute)


def on_disk(
    path: Path,
    compute: Callable[[], T],
    load: Callable[[Path], T],
    save: Callable[[Any, T], None],
    binary: bool = False,
    valid: Callable[[T], bool] = lambda _: True,
) -> tuple[T, bool]:
    """The one "read it from disk, else compute it and write it" of the project: ``load(path)`` when the
    file is there, readable and ``valid``; else ``compute()``, saved with ``save(handle, value)`` into a
    file renamed into place (never half-written). An unreadable or stale file is recomputed, never fatal;
    a file that cannot be written (full or read-only disk) is only logged. Returns the value and whether
    it came from disk."""
    if path.is_file():
        try:
            value = load(path)
            if valid(value):
                return value, True
        except Exception as err:  # any reader's error (JSON, numpy, FAISS) means: compute again
            logger.warning("Recomputing unreadable cached %s (%s)", path.name, type(err).__name__)
    value = compute()
    try:
        write_file_atomically(path, lambda handle: save(handle, value), binary=binary)
    except OSError as err:
        logger.warning("Could not keep %s: %s", path, err)
    return value, False


def disk_array(path: Path, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """A ``.npy`` file's array, else ``compute()`` saved there (``on_disk``)."""
    return on_disk(path, compute, np.load, lambda handle, array: np.save(handle, array), binary=True)[0]
