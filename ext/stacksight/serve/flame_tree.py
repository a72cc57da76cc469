"""Build the call tree of one view (type, thread, label grouping, top-down,
bottom-up or sandwich) from profile aggregates, as flat arrays.

The tree is kept whole (``FullTree``): nothing is dropped for being small.
What goes to the browser is cut to a node budget in ``flame_payload``, and
every cut is accounted for there.  Nodes are numbered in pre-order (a parent
before its children, a subtree one contiguous range), which is what lets a
zoom ask for "the subtree under node N" of the same, deterministic tree.

Views:
* ``tree``: root's children are the outermost callers (top-down).
* ``inverted``: root's children are the leaf functions by self value
  (bottom-up); below each, its callers.
* ``callers`` / ``callees`` of a function F (the two halves of a sandwich):
  stacks through F cut at F's outermost call, callers reversed, so F is the
  root's only child in both and its value is F's total.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .profile_aggregate import FrameTable, ProfileAggregate
from .sample_types import SNAPSHOT_TYPES

THREAD_NAME_LABEL = "thread name"
TASK_NAME_LABEL = "task name"   # asyncio tasks (pprof label of the Python profiler)
VIEWS = ("tree", "inverted", "callers", "callees")
LABEL_FRAME_FILE = "<label>"


@dataclass
class TreeQuery:
    type_name: str
    thread: str | None = None
    view: str = "tree"
    function: tuple[int, ...] = ()   # frame ids of the sandwiched function (callers/callees)
    group_by: str | None = None      # a label key: its values become the first level
    task: str | None = None          # keep only samples of this asyncio task name


@dataclass
class FullTree:
    frame: list[int]        # frame id per node (node 0 is the root, frame 0)
    parent: list[int]       # parent node per node (-1 for the root)
    value: list[int]        # total value per node
    self_value: list[int]   # self value per node
    size: list[int]         # nodes in the subtree of each node, itself included
    function_self: dict[int, int]
    function_total: dict[int, int]   # recursion counted once per stack
    threads: dict[str, int]
    label_keys: list[str]
    unit: str = ""
    snapshot: dict | None = None     # how snapshot profiles were merged
    stacks: int = 0                  # distinct stacks that went in
    extra: dict = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)   # value per task name, like threads

    @property
    def total(self) -> int:
        return self.value[0]

    def node_count(self) -> int:
        return len(self.frame)


def _snapshot_members(aggregates: list[ProfileAggregate], type_name: str) -> tuple[list, dict | None]:
    """A snapshot (live heap) is a state, not a count over time: adding two
    snapshots of one process counts its memory twice.  Keep the latest
    snapshot of each process; processes add up."""
    having = [a for a in aggregates if type_name in a.values]
    if type_name not in SNAPSHOT_TYPES or len(having) <= 1:
        return having, None
    latest: dict[str, ProfileAggregate] = {}
    for aggregate in having:
        kept = latest.get(aggregate.process)
        if kept is None or (aggregate.start_ns, aggregate.profile_id) > (kept.start_ns, kept.profile_id):
            latest[aggregate.process] = aggregate
    members = sorted(latest.values(), key=lambda a: a.profile_id)
    return members, {"policy": "latest per process", "processes": len(members), "profiles": len(having),
                     "used_profile_ids": [a.profile_id for a in members]}


def _transform(stack: tuple[int, ...], query: TreeQuery, targets: frozenset) -> tuple[int, ...] | None:
    view = query.view
    if view == "tree":
        return stack
    if view == "inverted":
        return stack[::-1]
    for position, frame_id in enumerate(stack):  # outermost call of the function
        if frame_id in targets:
            break
    else:
        return None
    if view == "callees":
        return stack[position:]
    return stack[position::-1]  # callers: the function, then who called it


def collect_rows(aggregates: list[ProfileAggregate], frames: FrameTable, query: TreeQuery):
    """Merge the rows of all aggregates into {transformed stack: value}."""
    members, snapshot = _snapshot_members(aggregates, query.type_name)
    rows: dict[tuple[int, ...], int] = {}
    threads: dict[str, int] = {}
    tasks: dict[str, int] = {}
    label_keys: set[str] = set()
    unit = ""
    targets = frozenset(query.function)
    group_frames: dict[str | None, int] = {}
    for aggregate in members:
        column = aggregate.values[query.type_name]
        unit = unit or dict(aggregate.types).get(query.type_name, "")
        # Label sets are shared tuples; decide once per distinct set.
        decision: dict[tuple, tuple[bool, int | None]] = {}
        for stack, labels, value in zip(aggregate.stacks, aggregate.label_sets, column):
            if not value:
                continue
            verdict = decision.get(labels)
            if verdict is None:
                label_map = dict(labels)
                label_keys.update(label_map)
                keep = ((query.thread is None or label_map.get(THREAD_NAME_LABEL) == query.thread)
                        and (query.task is None or label_map.get(TASK_NAME_LABEL) == query.task))
                group_frame = None
                if query.group_by:
                    group_value = label_map.get(query.group_by)
                    group_frame = group_frames.get(group_value)
                    if group_frame is None:
                        shown = group_value if group_value is not None else "(none)"
                        group_frame = group_frames[group_value] = frames.intern(
                            f"{query.group_by}: {shown}", LABEL_FRAME_FILE, 0)
                verdict = decision[labels] = (keep, group_frame, label_map.get(THREAD_NAME_LABEL),
                                              label_map.get(TASK_NAME_LABEL))
            keep, group_frame, thread_name, task_name = verdict
            if thread_name is not None:
                threads[thread_name] = threads.get(thread_name, 0) + value
            if task_name is not None:
                tasks[task_name] = tasks.get(task_name, 0) + value
            if not keep:
                continue
            if query.view != "tree":
                stack = _transform(stack, query, targets)
                if stack is None:
                    continue
            if group_frame is not None:
                stack = (group_frame,) + stack
            rows[stack] = rows.get(stack, 0) + value
    return rows, (threads, tasks), sorted(label_keys), unit, snapshot


def build_tree(aggregates: list[ProfileAggregate], frames: FrameTable, query: TreeQuery) -> FullTree:
    rows, (threads, tasks), label_keys, unit, snapshot = collect_rows(aggregates, frames, query)
    tree = tree_from_rows(rows)
    tree.threads, tree.tasks, tree.label_keys, tree.unit, tree.snapshot = threads, tasks, label_keys, unit, snapshot
    return tree


def tree_from_rows(rows: dict[tuple[int, ...], int], base_rows: dict[tuple[int, ...], int] | None = None) -> FullTree:
    """The call tree of {stack: value}.  With ``base_rows`` (a diff), the tree
    holds the stacks of both, and ``extra`` has the base side's per-node
    values and function figures next to the main ones."""
    stacks = rows.keys() if base_rows is None else rows.keys() | base_rows.keys()
    frame = [0]
    parent = [-1]
    self_value = [0]
    base_self = [0]
    path = [0]               # node ids from the root to the current node
    previous: tuple = ()
    on_path: dict[int, int] = {}   # frame id -> times it is on the current path
    outermost: list[bool] = [False]
    # Sorted stacks visit the tree in pre-order: a stack shares with the one
    # before it exactly the prefix that is already built.
    for stack in sorted(stacks):
        common = 0
        limit = min(len(previous), len(stack))
        while common < limit and previous[common] == stack[common]:
            common += 1
        for frame_id in previous[common:]:
            on_path[frame_id] -= 1
        del path[common + 1:]
        for frame_id in stack[common:]:
            node = len(frame)
            frame.append(frame_id)
            parent.append(path[-1])
            self_value.append(0)
            base_self.append(0)
            seen = on_path.get(frame_id, 0)
            outermost.append(seen == 0)
            on_path[frame_id] = seen + 1
            path.append(node)
        self_value[path[-1]] += rows.get(stack, 0)
        if base_rows is not None:
            base_self[path[-1]] += base_rows.get(stack, 0)
        previous = stack
    value, size = _totals(parent, self_value)
    function_self, function_total = _function_figures(frame, outermost, self_value, value)
    tree = FullTree(frame=frame, parent=parent, value=value, self_value=self_value, size=size,
                    function_self=function_self, function_total=function_total, threads={},
                    label_keys=[], stacks=len(stacks))
    if base_rows is not None:
        base_value, _ = _totals(parent, base_self)
        base_function_self, base_function_total = _function_figures(frame, outermost, base_self, base_value)
        tree.extra = {"base_value": base_value, "base_self": base_self, "base_function_self": base_function_self,
                      "base_function_total": base_function_total}
    return tree


def _totals(parent: list[int], self_value: list[int]) -> tuple[list[int], list[int]]:
    """Total value and subtree size per node (children come after parents)."""
    count = len(parent)
    value = list(self_value)
    size = [1] * count
    for node in range(count - 1, 0, -1):
        up = parent[node]
        value[up] += value[node]
        size[up] += size[node]
    return value, size


def _function_figures(frame, outermost, self_value, value) -> tuple[dict[int, int], dict[int, int]]:
    function_self: dict[int, int] = {}
    function_total: dict[int, int] = {}
    for node in range(1, len(frame)):
        frame_id = frame[node]
        if self_value[node]:
            function_self[frame_id] = function_self.get(frame_id, 0) + self_value[node]
        if outermost[node]:
            function_total[frame_id] = function_total.get(frame_id, 0) + value[node]
    return function_self, function_total
