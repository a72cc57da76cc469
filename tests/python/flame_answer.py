"""Read the explorer's columnar flame graph answers back into nested trees.

The API sends one array per field (see ext/stacksight/serve/flame_payload.py);
tests check the tree they describe, so this turns the arrays into
``{"n": name, "f": file, "v": total, "s": self, "hidden": n, "c": [...]}``
nodes (a diff adds "b" and "bs": the base side's total and self) and gives
the function table as a dict by name.
"""

from __future__ import annotations


def tree(answer: dict) -> dict:
    frames, nodes = answer["frames"], answer["nodes"]
    built = []
    for i, frame in enumerate(nodes["frame"]):
        name = frames["name"][frame] if frame >= 0 else "<other>"
        node = {"n": name, "f": frames["file"][frame] if frame >= 0 else "", "v": nodes["value"][i],
                "s": nodes["self"][i], "hidden": nodes["hidden"][i], "id": nodes["id"][i], "c": []}
        if "base" in nodes:
            node["b"], node["bs"] = nodes["base"][i], nodes["base_self"][i]
        built.append(node)
        parent = nodes["parent"][i]
        if parent >= 0:
            assert parent < i, "a parent must come before its children"
            built[parent]["c"].append(node)
    return built[0]


def child(node: dict, name: str) -> dict:
    matches = [c for c in node["c"] if c["n"] == name]
    assert matches, f"{name} not under {node['n']}: {[c['n'] for c in node['c']]}"
    return matches[0]


def path(node: dict, *names: str) -> dict:
    for name in names:
        node = child(node, name)
    return node


def functions(answer: dict) -> dict:
    table = answer["functions"]
    out = {name: {"file": table["file"][i], "line": table["line"][i], "kind": table["kind"][i],
                  "self": table["self"][i], "total": table["total"][i]} for i, name in enumerate(table["name"])}
    if "base_total" in table:
        for i, name in enumerate(table["name"]):
            out[name].update(base_self=table["base_self"][i], base_total=table["base_total"][i])
    return out


def walk(node: dict):
    yield node
    for c in node["c"]:
        yield from walk(c)
