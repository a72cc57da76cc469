"""A generated pprof profile as big as the largest real ones the explorer sees.

The explorer must draw, and answer for, profiles with ~14,000 distinct stacks
that are up to ~40 frames deep, where one deep leaf holds almost all of the
wall time (a thread parked in ``select``).  Real uploads of that size take
minutes of a busy service to make, so the benchmark and the browser tests
build one here, deterministically (fixed seed), with the independent encoder
in ``pprof_pb``.  ``expected_*`` helpers give the figures a test checks
against, computed from the generated rows, not from the explorer.
"""

from __future__ import annotations

import random

import pprof_pb

SAMPLE_TYPES = [("cpu-samples", "count"), ("cpu-time", "nanoseconds"), ("wall-time", "nanoseconds"),
                ("alloc-samples", "count"), ("alloc-space", "bytes"), ("heap-space", "bytes")]
HOT_LEAF = "selector_select_wait"
HOT_WALL_SHARE = 0.928
THREADS = ["MainThread", "worker-1", "worker-2", "worker-3", "asyncio-loop"]


def _function_pool(rng: random.Random, count: int) -> list[tuple[str, str, int]]:
    modules = [f"app/module_{index}.py" for index in range(60)]
    return [(f"fn_{index}_{rng.choice(['load', 'parse', 'render', 'query', 'encode', 'call'])}",
             rng.choice(modules), rng.randint(1, 900)) for index in range(count)]


def big_rows(distinct_stacks: int = 14_000, seed: int = 16, pool_seed: int = 16) -> list[tuple]:
    """[(stack root first, values, labels)] with ``distinct_stacks`` distinct stacks.

    Stacks grow as a random tree: each new stack copies a prefix of an earlier
    one and adds new frames, so prefixes are shared as in a real program.
    Profiles of one service share ``pool_seed`` (the same functions) and
    differ in ``seed`` (which stacks and how much)."""
    pool = _function_pool(random.Random(pool_seed), 3000)
    rng = random.Random(seed)
    base = [("<module>", "app/main.py", 1), ("main", "app/main.py", 10), ("serve_forever", "app/server.py", 40)]
    stacks: list[tuple] = []
    seen: set[tuple] = set()
    hot_stack = tuple(base + [pool[i] for i in range(20, 46)] + [(HOT_LEAF, "selectors.py", 468)])
    seen.add(hot_stack)
    stacks.append(hot_stack)
    while len(stacks) < distinct_stacks:
        parent = stacks[rng.randrange(len(stacks))] if stacks else tuple(base)
        keep = rng.randint(3, max(3, min(len(parent), 34)))
        extra = rng.randint(1, 8)
        stack = tuple(list(parent[:keep]) + [rng.choice(pool) for _ in range(extra)])
        if len(stack) > 42 or stack in seen:
            continue
        seen.add(stack)
        stacks.append(stack)
    rows = []
    other_wall = 0
    for index, stack in enumerate(stacks):
        samples = rng.randint(1, 6)
        cpu = samples * 10_000_000
        wall = 0 if index == 0 else cpu + rng.randint(0, 5) * 10_000_000
        other_wall += wall
        alloc = rng.randint(0, 3) * 4096 * rng.randint(1, 64)
        rows.append([list(stack), [samples, cpu if index else 0, wall, 1 if alloc else 0, alloc, alloc // 2],
                     {"thread name": THREADS[index % len(THREADS)], "thread id": index % len(THREADS) + 1}])
    # The parked thread: HOT_WALL_SHARE of all wall time in one deep leaf.
    rows[0][1][2] = int(other_wall * HOT_WALL_SHARE / (1 - HOT_WALL_SHARE))
    return [tuple(row) for row in rows]


def service_rows(seed: int, stacks_per_profile: int = 3000, universe: int = 14_000) -> list[tuple]:
    """Rows of one profile of a service whose code has ``universe`` distinct
    stacks: each profile (each minute) hits a different subset of them with
    different weights, as successive profiles of one program do."""
    every = big_rows(universe, seed=16)
    rng = random.Random(seed)
    chosen = [0] + rng.sample(range(1, len(every)), stacks_per_profile - 1)
    rows = []
    for index in chosen:
        stack, values, labels = every[index]
        scale = rng.choice([1, 1, 2, 3])
        rows.append((stack, [value * scale for value in values], labels))
    return rows


def big_profile(distinct_stacks: int = 14_000, seed: int = 16, rows=None):
    return pprof_pb.build_profile(SAMPLE_TYPES, rows if rows is not None else big_rows(distinct_stacks, seed),
                                  period_type=("wall-time", "nanoseconds"), period=10_000_000,
                                  duration_nanos=60 * 1_000_000_000)


def expected_total(rows, type_name: str) -> int:
    index = [name for name, _ in SAMPLE_TYPES].index(type_name)
    return sum(row[1][index] for row in rows)


def expected_self(rows, type_name: str, function: str) -> int:
    index = [name for name, _ in SAMPLE_TYPES].index(type_name)
    return sum(row[1][index] for row in rows if row[0][-1][0] == function)
