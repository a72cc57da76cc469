"""Keep recently viewed profiles decoded in memory.

Switching profile type, filtering by thread or merging a page of profiles
asks for the same pprof attachments again and again; decompressing and
decoding them in pure Python each time would make the page sluggish.  Stored
profiles never change (only disappear), so caching by id is safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from . import compression
from .pprof_reader import Profile, decode_profile

MAX_DECOMPRESSED_BYTES = 1 << 30


class DecodedProfileCache:
    def __init__(self, store, max_entries: int = 64):
        self._store = store
        self._max_entries = max_entries
        self._entries: OrderedDict[int, list[Profile]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, profile_id: int) -> list[Profile]:
        """The decoded pprof attachments of a profile ([] if it is gone)."""
        with self._lock:
            if profile_id in self._entries:
                self._entries.move_to_end(profile_id)
                return self._entries[profile_id]
        profiles = []
        for data in self._store.pprof_attachments(profile_id):
            _, decoded = compression.decompress(data, MAX_DECOMPRESSED_BYTES)
            profiles.append(decode_profile(decoded))
        with self._lock:
            self._entries[profile_id] = profiles
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return profiles
