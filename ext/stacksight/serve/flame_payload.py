"""Turn a ``FullTree`` into the columnar JSON answer the flame graph draws.

Columnar: one array per field (frame, parent, value, self) instead of nested
objects – a 14k-stack profile is a few hundred kB of gzip instead of megabytes
of JSON, and the browser lays it out in one pass.  Frames are listed once in
a table the nodes index into.

Budget: at most ``max_nodes`` nodes are sent.  The biggest nodes are kept
(a node is never smaller than its children, so the kept ones form a tree that
holds every hot path whatever its depth); the children left out under a node
become one "other" node there with their summed value and the count of
frames it stands for, so the picture's totals stay right and says what is
missing.  ``id`` gives each sent node's number in the full tree: asking again
with ``focus=ID`` returns that subtree, cut to the same budget, which is how a
zoom reaches any frame.
"""

from __future__ import annotations

from .flame_tree import FullTree
from .profile_aggregate import FrameTable

DEFAULT_MAX_NODES = 80_000  # a 14k-stack profile (~63k nodes) arrives whole
OTHER_FRAME = -1


def _kept_nodes(tree: FullTree, start: int, end: int, max_nodes: int, values) -> list[int]:
    """Pre-order node numbers in [start, end) to send, the biggest first in mind
    (``values``: a magnitude per node, never bigger than its parent's)."""
    if end - start <= max_nodes:
        return list(range(start, end))
    # Threshold: the max_nodes-th biggest magnitude.  Strictly bigger nodes
    # are kept, so ties at the threshold cannot overflow the budget.
    threshold = sorted((abs(values[node]) for node in range(start, end)), reverse=True)[max_nodes - 1]
    parent = tree.parent
    keep = bytearray(len(values))
    keep[start] = 1
    kept = [start]
    for node in range(start + 1, end):
        if keep[parent[node]] and abs(values[node]) > threshold:
            keep[node] = 1
            kept.append(node)
    return kept


def diff_weights(tree: FullTree) -> list[float]:
    """What a node of a diff weighs: its share of side B plus its share of
    side A, so that sides of different sizes count alike."""
    base = tree.extra["base_value"]
    total_b, total_a = abs(tree.value[0]) or 1, abs(base[0]) or 1
    return [abs(b) / total_b + abs(a) / total_a for b, a in zip(tree.value, base)]


def tree_payload(tree: FullTree, frames: FrameTable, focus: int = 0, max_nodes: int = DEFAULT_MAX_NODES) -> dict:
    """The answer for the subtree at ``focus``.  A diff tree (``base_value`` in
    its extra) also sends the base side's value and self per node."""
    if not 0 <= focus < tree.node_count():
        raise ValueError(f"focus {focus} is not a node of this graph (it has {tree.node_count()})")
    end = focus + tree.size[focus]
    base_value = tree.extra.get("base_value")
    weights = diff_weights(tree) if base_value is not None else tree.value
    kept = _kept_nodes(tree, focus, end, max(1, max_nodes - 1), weights)
    position = {node: index for index, node in enumerate(kept)}
    local_frames: dict[int, int] = {}
    out_frame, out_parent, out_value, out_self, out_id = [], [], [], [], []

    def local(frame_id: int) -> int:
        index = local_frames.get(frame_id)
        if index is None:
            index = local_frames[frame_id] = len(local_frames)
        return index

    for node in kept:
        out_frame.append(local(tree.frame[node]))
        out_parent.append(position.get(tree.parent[node], -1) if node != focus else -1)
        out_value.append(tree.value[node])
        out_self.append(tree.self_value[node])
        out_id.append(node)
    # Children left out: one "other" node per kept parent.
    hidden_value: dict[int, int] = {}
    hidden_count: dict[int, int] = {}
    hidden_base: dict[int, int] = {}
    cut_nodes = (end - focus) - len(kept)
    if cut_nodes:
        for node in range(focus + 1, end):
            up = tree.parent[node]
            if node not in position and up in position:
                hidden_value[up] = hidden_value.get(up, 0) + tree.value[node]
                hidden_count[up] = hidden_count.get(up, 0) + tree.size[node]
                if base_value is not None:
                    hidden_base[up] = hidden_base.get(up, 0) + base_value[node]
    out_hidden = [0] * len(out_frame)
    for up, value in hidden_value.items():
        out_frame.append(OTHER_FRAME)
        out_parent.append(position[up])
        out_value.append(value)
        out_self.append(0)
        out_id.append(up)  # zooming into "other" means zooming into its parent
        out_hidden.append(hidden_count[up])
    ancestors = []
    node = tree.parent[focus] if focus else -1
    while node >= 0:
        ancestors.append({"frame": local(tree.frame[node]), "value": tree.value[node], "id": node})
        node = tree.parent[node]
    ancestors.reverse()
    table_ids = sorted(local_frames, key=local_frames.get)
    answer = {
        "frames": {"name": [frames.names[i] for i in table_ids], "file": [frames.files[i] for i in table_ids],
                   "line": [frames.lines[i] for i in table_ids], "kind": [frames.kinds[i] for i in table_ids]},
        "nodes": {"frame": out_frame, "parent": out_parent, "value": out_value, "self": out_self,
                  "id": out_id, "hidden": out_hidden},
        "focus": focus,
        "ancestors": ancestors,
        "node_count": tree.node_count(),
        "cut": {"nodes": cut_nodes, "value": sum(hidden_value.values()), "places": len(hidden_value)},
    }
    if base_value is not None:
        base_self = tree.extra["base_self"]
        answer["nodes"]["base"] = [base_value[node] for node in kept] + [hidden_base.get(up, 0) for up in hidden_value]
        answer["nodes"]["base_self"] = [base_self[node] for node in kept] + [0] * len(hidden_value)
        for entry in ancestors:
            entry["base"] = base_value[entry["id"]]
        answer["base_total"] = base_value[0]
    return answer


def functions_payload(tree: FullTree, frames: FrameTable) -> dict:
    """Every function with its self and total value (the summary table); a
    diff adds the base side's (base_self, base_total)."""
    ids = sorted(tree.function_total, key=lambda f: (-tree.function_self.get(f, 0), -tree.function_total[f], f))
    answer = {"name": [frames.names[i] for i in ids], "file": [frames.files[i] for i in ids],
            "line": [frames.lines[i] for i in ids], "kind": [frames.kinds[i] for i in ids],
            "self": [tree.function_self.get(i, 0) for i in ids], "total": [tree.function_total[i] for i in ids],
            "whole": tree.total}  # what the shares are of (a sandwich's own total is only one function's)
    if "base_function_total" in tree.extra:
        answer["base_self"] = [tree.extra["base_function_self"].get(i, 0) for i in ids]
        answer["base_total"] = [tree.extra["base_function_total"].get(i, 0) for i in ids]
        answer["base_whole"] = tree.extra["base_value"][0]
    return answer
