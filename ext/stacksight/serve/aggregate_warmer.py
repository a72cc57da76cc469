"""Aggregate new profiles in the background, before anyone asks for them.

Decoding a pprof in pure Python is the slow part of a first view (~75 ms for
3,000 stacks, ~0.3 s for 14,000), and a merge of 200 profiles would pay it
200 times.  Profiles arrive about once a minute per process, so doing the
work as they arrive costs little and makes the first view, and merges of
recent profiles, answer from the cache.  The warmer steps aside while the
explorer is answering requests (they come first), looks at the newest
profiles only and never warms more than it can keep.
"""

from __future__ import annotations

import sys
import threading
import time

from .filters import ProfileFilter

POLL_SECONDS = 2.0
NEWEST_PROFILES = 400       # the ones a user is likely to open or merge
MAX_WARM_ROWS_SHARE = 0.8   # leave a fifth of the cache to what users open


class AggregateWarmer:
    def __init__(self, store, cache, busy):
        self._store = store
        self._cache = cache
        self._busy = busy          # () -> True while requests are being answered
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stacksight-warmer", daemon=True)
        self.warmed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(10)

    def _run(self) -> None:
        failed: set[int] = set()
        while not self._stop.wait(POLL_SECONDS):
            try:
                ids = self._store.matching_ids(ProfileFilter(), NEWEST_PROFILES)
                for profile_id in ids:
                    if self._stop.is_set():
                        return
                    if profile_id in failed or self._cache.cached(profile_id):
                        continue
                    if self._cache.rows() > self._cache.max_rows * MAX_WARM_ROWS_SHARE:
                        break
                    while self._busy() and not self._stop.is_set():
                        time.sleep(0.05)
                    try:
                        self._cache.get(profile_id)
                        self.warmed += 1
                    except Exception as error:  # a broken profile: the view will report it
                        failed.add(profile_id)
                        sys.stderr.write(f"stacksight serve: cannot pre-read profile {profile_id}: {error!r}\n")
            except Exception as error:  # the store may be busy or closing: try later
                if not self._stop.is_set():
                    sys.stderr.write(f"stacksight serve: warming profiles failed: {error!r}\n")
