"""Answers of the flame graph API, for one profile or a merge of several.

``GET /api/profiles/<id>/flamegraph`` and ``GET /api/merged`` take:
``type`` (a sample type; unknown or missing: the default type, saying so),
``thread`` (a thread name), ``task`` (an asyncio task name), ``view`` (tree, inverted, callers, callees),
``function`` and ``file`` (the function of a callers/callees view),
``group`` (a label key whose values become the first level), ``focus`` (a
node number of the full tree: answer with its subtree) and ``max_nodes``.

Trees are built from cached profile aggregates and kept in an LRU per view;
the encoded answer (JSON and its gzip) is kept too, so a repeated request is
answered without any work.
"""

from __future__ import annotations

import gzip
import json
import time

from .aggregate_cache import AggregateCache
from .filters import FilterError
from .flame_payload import DEFAULT_MAX_NODES, functions_payload, tree_payload
from .flame_tree import VIEWS, TreeQuery, _snapshot_members, build_tree, collect_rows, tree_from_rows
from .graph_cache import answer_cache, tree_cache
from .sample_types import SNAPSHOT_TYPES, default_type, display_name, sort_key

MAX_NODES_LIMIT = 500_000
GZIP_LEVEL = 5


def _param(query, name: str) -> str | None:
    return query.get(name, [""])[0] or None


def _int(query, name: str, default: int, low: int, high: int) -> int:
    raw = _param(query, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise FilterError(f"{name} must be an integer") from error
    if not low <= value <= high:
        raise FilterError(f"{name} must be between {low} and {high}")
    return value


def sample_type_entries(aggregates) -> list[dict]:
    """The types the type switch offers: those with a sample somewhere in
    ``aggregates``.  A type that is zero in every profile (ddtrace declares
    six ``gpu-*`` types it fills only on GPU machines) has nothing to draw."""
    filled = {type_name for aggregate in aggregates for type_name, total in aggregate.totals.items() if total}
    seen: dict[str, dict] = {}
    for aggregate in aggregates:
        for type_name, unit in aggregate.types:
            if type_name not in filled:
                continue
            seen.setdefault(type_name, {"type": type_name, "unit": unit, "display": display_name(type_name, unit),
                                        "total": 0, "snapshot": type_name in SNAPSHOT_TYPES})
    for type_name, entry in seen.items():
        members, _ = _snapshot_members(aggregates, type_name)
        entry["total"] = sum(aggregate.totals.get(type_name, 0) for aggregate in members)
    return sorted(seen.values(), key=lambda entry: sort_key(entry["type"]))


class GraphViews:
    def __init__(self, aggregates: AggregateCache):
        self.aggregates = aggregates
        self.trees = tree_cache()
        self.answers = answer_cache()

    def answer(self, profile_ids: list[int], query, extra: dict, base_ids: list[int] | None = None) -> tuple[bytes, bytes]:
        """(json, gzip of it) of one flame graph request; with ``base_ids``,
        the diff of ``profile_ids`` (side B) against them (side A)."""
        started = time.perf_counter()
        answer_key = (tuple(profile_ids), tuple(base_ids) if base_ids is not None else None, self.aggregates.generation,
                      tuple(sorted((key, tuple(values)) for key, values in query.items())),
                      tuple(sorted(extra.items(), key=lambda item: item[0])) if extra else ())
        try:
            cached = self.answers.get(answer_key)
        except TypeError:  # an unhashable extra value: just do not cache
            answer_key, cached = None, None
        if cached is not None:
            return cached
        if base_ids is None:
            aggregates, frames = self.aggregates.get_many(profile_ids)
            base = None
        else:  # one frame table for both sides
            everything, frames = self.aggregates.get_many(list(dict.fromkeys(base_ids + profile_ids)))
            by_id = {aggregate.profile_id: aggregate for aggregate in everything}
            aggregates = [by_id[i] for i in profile_ids if i in by_id]
            base = [by_id[i] for i in base_ids if i in by_id]
        payload = self._payload(aggregates, frames, query, base)
        payload.update(extra)
        payload["profile_ids"] = [aggregate.profile_id for aggregate in aggregates]
        if base is not None:
            payload["base_profile_ids"] = [aggregate.profile_id for aggregate in base]
        payload["build_ms"] = round((time.perf_counter() - started) * 1000, 1)
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        packed = gzip.compress(body, GZIP_LEVEL, mtime=0)
        if answer_key is not None:
            self.answers.put(answer_key, (body, packed))
        return body, packed

    def _tree(self, aggregates, frames, tree_query: TreeQuery, base=None):
        key = (tuple(a.profile_id for a in aggregates), self.aggregates.generation, tree_query.type_name,
               tree_query.thread, tree_query.task, tree_query.view, tree_query.function, tree_query.group_by,
               tuple(a.profile_id for a in base) if base is not None else None)
        tree = self.trees.get(key)
        if tree is None:
            tree = build_tree(aggregates, frames, tree_query) if base is None else _diff_tree(
                base, aggregates, frames, tree_query)
            self.trees.put(key, tree)
        return tree

    def _payload(self, aggregates, frames, query, base=None) -> dict:
        types = sample_type_entries(aggregates if base is None else base + aggregates)
        type_names = [entry["type"] for entry in types]
        declared = aggregates[0].default_type if aggregates else ""
        fallback = default_type(type_names, declared)
        wanted = _param(query, "type")
        notice = None
        if wanted is not None and wanted not in type_names:
            notice = f"these profiles have no {wanted!r} samples; showing {fallback or 'nothing'}"
            wanted = fallback
        wanted = wanted or fallback
        view = _param(query, "view") or "tree"
        if view not in VIEWS:
            raise FilterError(f"view must be one of {', '.join(VIEWS)}")
        function_name, function_file = _param(query, "function"), query.get("file", [None])[0]
        function_ids: tuple[int, ...] = ()
        if view in ("callers", "callees"):
            if not function_name:
                raise FilterError(f"a {view} view needs ?function=NAME")
            function_ids = tuple(frames.find(function_name, function_file))
        thread = _param(query, "thread")
        task = _param(query, "task")
        group_by = _param(query, "group")
        focus = _int(query, "focus", 0, 0, 1 << 40)
        max_nodes = _int(query, "max_nodes", DEFAULT_MAX_NODES, 2, MAX_NODES_LIMIT)
        payload = {"type": wanted, "unit": "", "display": display_name(wanted or ""), "total": 0,
                   "thread": thread, "threads": [], "task": task, "tasks": [], "view": view, "group": group_by, "label_keys": [],
                   "function": function_name, "file": function_file, "sample_types": types,
                   "type_notice": notice, "snapshot": None}
        if not wanted:
            payload.update(tree_payload(build_tree([], frames, TreeQuery("")), frames))
            payload["functions"] = functions_payload(build_tree([], frames, TreeQuery("")), frames)
            return payload
        tree_query = TreeQuery(wanted, thread, view, function_ids, group_by, task)
        tree = self._tree(aggregates, frames, tree_query, base)
        try:
            payload.update(tree_payload(tree, frames, focus, max_nodes))
        except ValueError as error:
            raise FilterError(str(error)) from error
        unit = tree.unit or dict(t for a in aggregates for t in a.types).get(wanted, "")
        payload.update({"unit": unit, "display": display_name(wanted, unit), "total": tree.total,
                        "threads": [{"name": name, "value": value} for name, value in
                                    sorted(tree.threads.items(), key=lambda item: (-item[1], item[0]))],
                        "tasks": [{"name": name, "value": value} for name, value in
                                  sorted(tree.tasks.items(), key=lambda item: (-item[1], item[0]))],
                        "label_keys": tree.label_keys, "snapshot": tree.snapshot, "stacks": tree.stacks})
        if not focus:  # a zoom keeps the table it has
            table_tree = tree if view == "tree" and not group_by else self._tree(
                aggregates, frames, TreeQuery(wanted, thread, "tree", (), None, task), base)
            payload["functions"] = functions_payload(table_tree, frames)
        return payload


def _diff_tree(base, aggregates, frames, query: TreeQuery):
    """One tree over the stacks of both sides: values of side B (``aggregates``)
    with side A's (``base``) beside them in ``extra``."""
    rows_b, (threads_b, tasks_b), keys_b, unit_b, snapshot_b = collect_rows(aggregates, frames, query)
    rows_a, (threads_a, tasks_a), keys_a, unit_a, snapshot_a = collect_rows(base, frames, query)
    tree = tree_from_rows(rows_b, rows_a)
    tree.threads = {name: threads_a.get(name, 0) + threads_b.get(name, 0) for name in threads_a.keys() | threads_b.keys()}
    tree.tasks = {name: tasks_a.get(name, 0) + tasks_b.get(name, 0) for name in tasks_a.keys() | tasks_b.keys()}
    tree.label_keys = sorted(set(keys_a) | set(keys_b))
    tree.unit = unit_b or unit_a
    tree.snapshot = ({"policy": "latest per process", "a": snapshot_a, "b": snapshot_b,
                      "processes": sum(s["processes"] for s in (snapshot_a, snapshot_b) if s),
                      "profiles": sum(s["profiles"] for s in (snapshot_a, snapshot_b) if s)}
                     if snapshot_a or snapshot_b else None)
    return tree
