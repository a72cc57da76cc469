"""Say when a profile is missing samples, so its figures are not trusted blindly.

The profiler reports in the upload's ``internal`` object how many samples of
the period it could not keep: ``samples_dropped`` (lost: the figures of the
profile, and its CPU in the list, are low by that much) and
``samples_folded`` (kept under one "[other stacks]" row per thread: totals are
right, the stacks are not).  ``sampler.thread_samples`` is how many were
taken, so the share lost can be given.
"""

from __future__ import annotations

# Shares at or above this are shown as a warning, below it as a note.
WARN_SHARE = 0.01


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def lost_samples(event: dict) -> dict | None:
    """{"dropped", "folded", "taken", "dropped_share", "folded_share", "warn"} or None if nothing was lost."""
    internal = event.get("internal") if isinstance(event, dict) else None
    if not isinstance(internal, dict):
        return None
    dropped = _count(internal.get("samples_dropped"))
    folded = _count(internal.get("samples_folded"))
    if not dropped and not folded:
        return None
    sampler = internal.get("sampler") if isinstance(internal.get("sampler"), dict) else {}
    taken = _count(sampler.get("thread_samples"))
    whole = max(taken, dropped + folded) or 1
    return {"dropped": dropped, "folded": folded, "taken": taken,
            "dropped_share": dropped / whole, "folded_share": folded / whole,
            "warn": dropped / whole >= WARN_SHARE}
