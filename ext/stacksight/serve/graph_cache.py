"""Least-recently-used caches of built call trees and of encoded answers.

Switching type and back, moving between tabs, zooming (each zoom asks for a
subtree of the same tree) and reloading a page ask for the same views again;
building a merged tree of 200 profiles takes seconds, answering from here
takes microseconds.  Both caches are bounded by size (nodes held, bytes
held), not by entry count, since one merged tree can be as big as a hundred
small ones.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

DEFAULT_MAX_TREE_NODES = 1_500_000
DEFAULT_MAX_ANSWER_BYTES = 64 << 20


class SizedLRU:
    def __init__(self, budget: int, size_of):
        self._budget = budget
        self._size_of = size_of
        self._entries: OrderedDict = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key, value) -> None:
        size = self._size_of(value)
        if size > self._budget:
            return  # would push out everything else and still not fit
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._used -= self._size_of(old)
            self._entries[key] = value
            self._used += size
            while self._used > self._budget:
                _, dropped = self._entries.popitem(last=False)
                self._used -= self._size_of(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._used = 0


def tree_cache(budget: int = DEFAULT_MAX_TREE_NODES) -> SizedLRU:
    return SizedLRU(budget, lambda tree: tree.node_count())


def answer_cache(budget: int = DEFAULT_MAX_ANSWER_BYTES) -> SizedLRU:
    """Values are (json bytes, gzip bytes)."""
    return SizedLRU(budget, lambda answer: len(answer[0]) + len(answer[1]))
