"""Keep the aggregates of recently viewed profiles, bounded by their size.

Decompressing and reading a 14k-stack pprof costs ~15 ms (C reader; 0.3 s in
pure Python); a merge of 200 profiles would pay that 200 times on every switch of
type or thread.  Stored profiles never change (they only disappear), so the
aggregate of each is made once and kept here, least recently used dropped
first once the rows held pass a budget.  All aggregates share one
``FrameTable``; when it grows past its own budget everything is dropped and a
new table started (ids of the old one are never mixed with the new).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .pprof_reader import DecodeLimits
from .profile_aggregate import FrameTable, ProfileAggregate, aggregate_attachments

# Larger than any upload the intake accepts: stored profiles passed its limit.
MAX_DECOMPRESSED_BYTES = 1 << 30
# Counts as at the intake, but no CPU deadline: a stored profile must open
# even on a busy machine.
STORED_LIMITS = DecodeLimits(cpu_seconds=float("inf"))
DEFAULT_MAX_ROWS = 3_000_000      # 200 profiles of 14k rows, ~0.5 GiB at worst (stacks are shared)
DEFAULT_MAX_FRAMES = 2_000_000
PROCESS_TAG = "runtime-id"


class AggregateCache:
    def __init__(self, store, max_rows: int = DEFAULT_MAX_ROWS, max_frames: int = DEFAULT_MAX_FRAMES):
        self._store = store
        self._max_rows = max_rows
        self._max_frames = max_frames
        self._entries: OrderedDict[int, ProfileAggregate] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()
        self._pending: dict[int, threading.Event] = {}  # ids being decoded right now
        self.frames = FrameTable()
        self.generation = 0  # bumped when the frame table is replaced
        self.decoded = 0     # profiles decoded since start (tests and the benchmark read it)

    @property
    def max_rows(self) -> int:
        return self._max_rows

    def rows(self) -> int:
        return self._rows

    def cached(self, profile_id: int) -> bool:
        with self._lock:
            return profile_id in self._entries

    def get(self, profile_id: int) -> ProfileAggregate | None:
        """The aggregate of a stored profile, None if it is gone."""
        while True:
            with self._lock:
                entry = self._entries.get(profile_id)
                if entry is not None:
                    self._entries.move_to_end(profile_id)
                    return entry
                pending = self._pending.get(profile_id)
                if pending is None:  # nobody is decoding it: this thread does
                    self._pending[profile_id] = threading.Event()
                    frames = self.frames
                    break
            # Another thread is decoding it: take its result (or, if that
            # failed, try again here).
            pending.wait(30)
        try:
            return self._load(profile_id, frames)
        finally:
            with self._lock:
                self._pending.pop(profile_id).set()

    def _load(self, profile_id: int, frames: FrameTable) -> ProfileAggregate | None:
        attachments = self._store.pprof_attachments(profile_id)
        if not attachments:
            return None
        # Sample types renamed to the seed's vocabulary per attachment, exactly
        # as the intake did when it computed the totals.
        aggregate = aggregate_attachments(profile_id, attachments, frames, STORED_LIMITS, MAX_DECOMPRESSED_BYTES)
        summary = self._store.get_profile(profile_id) or {}
        tags = {tag["key"]: tag["value"] for tag in summary.get("tags", [])}
        aggregate.process = tags.get(PROCESS_TAG) or f"{summary.get('host', '')}/{profile_id}"
        aggregate.start_ns = summary.get("start_ns", 0)
        with self._lock:
            self.decoded += 1
            if frames is not self.frames or profile_id in self._entries:
                return aggregate  # the table was replaced meanwhile, or another thread was first
            self._entries[profile_id] = aggregate
            self._rows += aggregate.row_count()
            while self._entries and (self._rows > self._max_rows):
                _, dropped = self._entries.popitem(last=False)
                self._rows -= dropped.row_count()
            if len(self.frames) > self._max_frames or self.frames.stack_count() > self._max_frames:
                self._entries.clear()
                self._rows = 0
                self.frames = FrameTable()
                self.generation += 1
        return aggregate

    def get_many(self, profile_ids: list[int]) -> tuple[list[ProfileAggregate], FrameTable]:
        """Aggregates that all share one frame table (retried if it was replaced)."""
        for _ in range(3):
            generation = self.generation
            frames = self.frames
            aggregates = [aggregate for aggregate in map(self.get, profile_ids) if aggregate is not None]
            if generation == self.generation and frames is self.frames:
                return aggregates, frames
        return aggregates, frames
