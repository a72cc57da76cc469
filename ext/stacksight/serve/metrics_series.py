"""The Metrics tab's series: measures of a service's profiles over time, one
series per host (or version, env, runtime).

Each stored profile already carries its per-type totals, so a point per
profile costs nothing to decode.  A measure is a rate over the profile's own
duration (CPU and wall time in cores/threads, exceptions per second, lock wait
in threads waiting), or the value itself for a snapshot (heap live size).  A
profile that lacks a type has no point for that measure (a gap, not a zero);
the page also breaks a line where profiles of a series stop arriving.
"""

from __future__ import annotations

from .filters import FilterError, ProfileFilter

GROUP_KEYS = ("host", "version", "env", "runtime")
NS_PER_S = 1_000_000_000

# key, title, unit the page formats, how a profile row gives the value.
def _rate(type_name: str, per_ns: float):
    def value(row: dict, totals: dict):
        if type_name not in totals or not row["duration_ns"]:
            return None
        return totals[type_name] * per_ns / row["duration_ns"]
    return value


MEASURES = [
    ("cpu", "CPU", "cores", lambda row, totals: row["cpu_cores"]),
    ("wall", "Wall time", "threads", _rate("wall-time", 1.0)),
    ("alloc", "Memory allocation rate", "bytes/s", lambda row, totals: row["alloc_bytes_per_sec"]),
    ("heap", "Heap live size", "bytes", lambda row, totals: totals.get("heap-space")),
    ("exceptions", "Thrown exceptions", "per second", _rate("exception-samples", NS_PER_S)),
    ("lock_wait", "Lock wait", "threads", _rate("lock-acquire-wait", 1.0)),
]


def metrics_answer(store, query, limit: int) -> dict:
    service = query.get("service", [None])[0]
    if service is None:
        raise FilterError("metrics need ?service=NAME")
    group = query.get("group", ["host"])[0] or "host"
    if group not in GROUP_KEYS:
        raise FilterError(f"group must be one of {', '.join(GROUP_KEYS)}")
    wanted = {key: values for key, values in query.items() if key not in ("service", "group")}
    profile_filter = ProfileFilter.from_query({**wanted, "service": [service]})
    rows, total = store.list_profiles(profile_filter, limit, 0)
    rows.reverse()  # oldest first
    series: dict[str, dict] = {}
    points = []
    for row in rows:
        totals = {entry["type"]: entry["total"] for entry in row["totals"]}
        values = {key: measure(row, totals) for key, _, _, measure in MEASURES}
        point = {"id": row["id"], "start_ns": row["start_ns"], "end_ns": row["end_ns"],
                 "duration_ns": row["duration_ns"], "host": row["host"], "version": row["version"],
                 "env": row["env"], "runtime": row["runtime"], "cpu_cores": row["cpu_cores"],
                 "alloc_bytes_per_sec": row["alloc_bytes_per_sec"], "values": values}
        points.append(point)
        name = row[group] or ""
        series.setdefault(name, {"name": name, "points": []})["points"].append(point)
    return {"service": service, "group": group, "groups": list(GROUP_KEYS),
            "measures": [{"key": key, "title": title, "unit": unit} for key, title, unit, _ in MEASURES],
            "series": sorted(series.values(), key=lambda s: s["name"]), "points": points,
            "truncated": total > len(rows), "from_ns": profile_filter.from_ns, "to_ns": profile_filter.to_ns}
