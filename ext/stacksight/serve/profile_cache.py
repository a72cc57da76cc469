"""Keep recently viewed profiles decoded in memory.

Switching profile type, filtering by thread or merging a page of profiles
asks for the same pprof attachments again and again; decompressing and
decoding them in pure Python each time would make the page sluggish.  Stored
profiles never change (only disappear), so caching by id is safe.

The cache has a budget in decoded elements (samples, locations, functions:
each a few hundred bytes of Python objects) as well as in entries, so a
page of the largest accepted profiles cannot hold unbounded memory.  Sample
types are renamed to the seed's vocabulary per attachment (profile_types.py),
exactly as the intake did when it computed the totals.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from . import compression
from .pprof_reader import DecodeLimits, Profile, decode_profile
from .profile_types import canonicalize

# Larger than any upload the intake accepts (--max-decoded-mb is at most 64 GiB
# in theory, 64 MiB by default): stored profiles passed the intake's limit.
MAX_DECOMPRESSED_BYTES = 1 << 30
DEFAULT_MAX_ELEMENTS = 1_500_000
# Counts as at the intake, but no CPU deadline: a stored profile must open
# even on a busy machine.
STORED_LIMITS = DecodeLimits(cpu_seconds=float("inf"))


def _elements(profiles: list[Profile]) -> int:
    return sum(len(p.samples) + len(p.locations) + len(p.functions) + 1 for p in profiles)


class DecodedProfileCache:
    def __init__(self, store, max_entries: int = 64, max_elements: int = DEFAULT_MAX_ELEMENTS):
        self._store = store
        self._max_entries = max_entries
        self._max_elements = max_elements
        self._entries: OrderedDict[int, tuple[list[Profile], int]] = OrderedDict()
        self._elements = 0
        self._lock = threading.Lock()

    @property
    def element_count(self) -> int:
        return self._elements

    def get(self, profile_id: int) -> list[Profile]:
        """The decoded pprof attachments of a profile ([] if it is gone)."""
        with self._lock:
            if profile_id in self._entries:
                self._entries.move_to_end(profile_id)
                return self._entries[profile_id][0]
        profiles = []
        for name, data in self._store.pprof_attachments(profile_id):
            _, decoded = compression.decompress(data, MAX_DECOMPRESSED_BYTES)
            profiles.append(canonicalize(name, decode_profile(decoded, STORED_LIMITS)))
        cost = _elements(profiles)
        with self._lock:
            if profile_id not in self._entries:
                self._entries[profile_id] = (profiles, cost)
                self._elements += cost
            # The newest entry stays even alone over budget: it is being used.
            while len(self._entries) > 1 and (len(self._entries) > self._max_entries
                                              or self._elements > self._max_elements):
                _, (_, evicted_cost) = self._entries.popitem(last=False)
                self._elements -= evicted_cost
        return profiles
