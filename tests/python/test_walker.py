"""Tests of ext/cpython_walker.c through the walker_probe test extension.

The probe (tests/c/walker_probe) runs ssp_walker_walk on a pthread that never
holds the GIL and returns what it saw. Expected stacks come from
sys._current_frames(), whose line numbers CPython computes with
PyCode_Addr2Line - the reference for our own location-table decoder.

Set WALKER_SANITIZE=1 (and LD_PRELOAD libasan, ASAN_OPTIONS=detect_leaks=0)
to build and load the probe with -fsanitize=address,undefined.
"""
import asyncio
import importlib.util
import os
import sys
import threading
import time

import pytest

if not (3, 9) <= sys.version_info[:2] <= (3, 15):
    pytest.skip("the stack walker supports CPython 3.9 to 3.15", allow_module_level=True)

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE_DIR = os.path.join(HERE, "..", "c", "walker_probe")
MAX_FRAMES = 128


@pytest.fixture(scope="session")
def probe(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("walker_probe_build",
                                                  os.path.join(PROBE_DIR, "build.py"))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    sanitize = os.environ.get("WALKER_SANITIZE") == "1"
    out = build.build(str(tmp_path_factory.mktemp("walker_probe")), sanitize=sanitize)
    spec = importlib.util.spec_from_file_location("walker_probe", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.init(MAX_FRAMES)
    yield mod
    mod.fini()


class Parked:
    """A thread that runs `target(ready, release)`; `target` must call
    ready.set() and then block on release.wait() somewhere deep."""

    def __init__(self, target):
        self.ready = threading.Event()
        self.release = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(target,), daemon=True)

    def _run(self, target):
        try:
            target(self.ready, self.release)
        except BaseException as e:  # surfaced by __exit__
            self.error = e
            self.ready.set()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10)
        # let the thread reach the blocking call inside Event.wait
        time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(10)
        if self.error:
            raise self.error

    @property
    def ident(self):
        return self.thread.ident


def shown_name(code):
    """The name a frame is shown by: co_qualname, co_name before 3.11."""
    return getattr(code, "co_qualname", code.co_name)


def shown(qualname):
    """How a function of this qualified name is shown on this interpreter."""
    return qualname if sys.version_info >= (3, 11) else qualname.rsplit(".", 1)[-1]


def expected_stack(ident):
    """(qualname, filename, line) leaf first, as sys._current_frames sees it."""
    f = sys._current_frames()[ident]
    out = []
    while f is not None:
        out.append((shown_name(f.f_code), f.f_code.co_filename, f.f_lineno or 0))
        f = f.f_back
    return out


def sampled(probe, ident, walks=1):
    stacks = [s for s in probe.sample_from_thread(walks) if s["thread_id"] == ident]
    assert len(stacks) == 1, stacks
    return stacks[0]


def names(frames):
    return [f[0] for f in frames]


def strip(frames):
    return [f[:3] for f in frames]


# ---------------------------------------------------------------- basic stacks

def nest_c(ready, release):
    ready.set()
    release.wait()


def nest_b(ready, release):
    x = 1
    nest_c(ready, release)
    return x


def nest_a(ready, release):
    for _ in range(1):
        nest_b(ready, release)


def test_known_nest_matches_current_frames(probe):
    with Parked(nest_a) as p:
        exp = expected_stack(p.ident)
        st = sampled(probe, p.ident)
        assert not st["torn"]
        assert strip(st["frames"]) == exp
        got = names(st["frames"])
        i = got.index("nest_c")
        assert got[i:i + 3] == ["nest_c", "nest_b", "nest_a"]
        if sys.version_info < (3, 11):
            # 3.9/3.10 thread states have no OS thread id: the walker gets it
            # from the table the package fills from threading's native_id.
            assert st["native_thread_id"] == 0
            probe.tell_native(p.ident, p.thread.native_id)
            st = sampled(probe, p.ident)
        assert st["native_thread_id"] == p.thread.native_id
        # start lines are co_firstlineno
        assert st["frames"][i][3] == nest_c.__code__.co_firstlineno


def test_all_threads_visited(probe):
    with Parked(nest_a) as p1, Parked(nest_a) as p2:
        stacks = probe.sample_from_thread(1)
        idents = {s["thread_id"] for s in stacks}
        assert {threading.get_ident(), p1.ident, p2.ident} <= idents
        main = [s for s in stacks if s["thread_id"] == threading.get_ident()][0]
        assert main["frames"][0][0] == "test_all_threads_visited"
        assert not main["torn"]


def test_repeated_samples_use_cache(probe):
    with Parked(nest_a) as p:
        first = sampled(probe, p.ident)
        before = probe.stats()
        again = sampled(probe, p.ident, walks=20)
        after = probe.stats()
        assert again["frames"] == first["frames"]
        assert after["code_cache_hits"] > before["code_cache_hits"]


def line_sweep_src():
    """A function whose blocking call sits far below its def, after big line
    gaps (multi-byte varints), a loop (negative deltas) and multi-line calls."""
    lines = ["def sweep(ready, release):", "    total = 0"]
    for i in range(40):
        lines.append(f"    total += {i}")
        lines.extend([""] * (i * 3 % 97))
    lines += ["    for k in range(3):", "        total += k", "", "",
              "        total -= (", "            k", "        )",
              "    ready.set()"]
    lines.extend([""] * 300)
    lines += ["    release.wait(", "", "        )", "    return total"]
    return "\n".join(lines) + "\n"


def test_line_numbers_far_from_def(probe):
    ns = {}
    exec(compile(line_sweep_src(), "sweep_module.py", "exec"), ns)
    with Parked(ns["sweep"]) as p:
        exp = expected_stack(p.ident)
        st = sampled(probe, p.ident)
        assert strip(st["frames"]) == exp
        assert any(f[0] == "sweep" and f[2] > 1000 for f in st["frames"])


def test_capture_lines_match_addr2line(probe):
    """Many instruction offsets of one code object: the line the capture path
    decodes equals f_lineno (PyCode_Addr2Line) at each checkpoint."""
    results = []

    def cp():
        got, fr = probe.capture(8), sys._getframe(1)
        results.append((got[1][2], fr.f_lineno))

    src = ["def body(cp):"]
    for i in range(120):
        src.append("    cp()" if i % 3 else "    x = [cp() for _ in range(1)]")
        src.extend([""] * ((i * 7) % 70))
    src += ["    for j in range(3):", "        cp()", "", "", "        cp()"]
    ns = {}
    exec(compile("\n".join(src) + "\n", "lines.py", "exec"), ns)
    ns["body"](cp)
    assert len(results) > 120
    bad = [r for r in results if r[0] != r[1]]
    assert not bad, bad[:5]


# ---------------------------------------------------------------- deep stacks

def recurse(n, ready, release):
    if n <= 1:
        ready.set()
        release.wait()
        return 0
    return recurse(n - 1, ready, release) + 1


@pytest.mark.parametrize("depth", [500, 10_000])
def test_deep_recursion_respects_max_frames(probe, depth):
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 1000)
    try:
        with Parked(lambda r, s: recurse(depth, r, s)) as p:
            expected = expected_stack(p.ident)
            total = len(expected)
            st = sampled(probe, p.ident)
    finally:
        sys.setrecursionlimit(old)
    assert not st["torn"]
    frames = st["frames"]
    assert len(frames) == MAX_FRAMES
    assert names(frames[:2]) == [shown("Condition.wait"), shown("Event.wait")]
    assert all(n == "recurse" for n in names(frames[2:MAX_FRAMES - 1]))
    assert strip(frames[:MAX_FRAMES - 1]) == expected[:MAX_FRAMES - 1]
    omitted = total - (MAX_FRAMES - 1)
    assert frames[-1] == (f"<{omitted} frames omitted>", "", 0, 0)


def test_shallow_stack_has_no_marker(probe):
    with Parked(lambda r, s: recurse(MAX_FRAMES - 20, r, s)) as p:
        total = len(expected_stack(p.ident))
        st = sampled(probe, p.ident)
    assert total <= MAX_FRAMES
    assert len(st["frames"]) == total
    assert not any(f[0].startswith("<") and "omitted" in f[0] for f in st["frames"])


# ---------------------------------------------------------------- generators / coroutines

def gen_inner(ready, release):
    yield 1
    ready.set()
    release.wait()
    yield 2


def gen_outer(ready, release):
    yield from gen_inner(ready, release)


def run_generators(ready, release):
    for _ in gen_outer(ready, release):
        pass


def test_generator_frames(probe):
    with Parked(run_generators) as p:
        exp = expected_stack(p.ident)
        st = sampled(probe, p.ident)
    assert not st["torn"]
    assert strip(st["frames"]) == exp
    got = names(st["frames"])
    i = got.index("gen_inner")
    assert got[i:i + 3] == ["gen_inner", "gen_outer", "run_generators"]


async def coro_leaf(ready, release):
    ready.set()
    release.wait()          # blocks the loop on purpose: the coroutine stays on the stack


async def coro_mid(ready, release):
    await coro_leaf(ready, release)


async def coro_top(ready, release):
    await asyncio.sleep(0)
    await coro_mid(ready, release)


def run_coroutines(ready, release):
    asyncio.run(coro_top(ready, release))


def test_coroutine_frames(probe):
    with Parked(run_coroutines) as p:
        exp = expected_stack(p.ident)
        st = sampled(probe, p.ident)
    assert not st["torn"]
    assert strip(st["frames"]) == exp
    got = names(st["frames"])
    i = got.index("coro_leaf")
    assert got[i:i + 3] == ["coro_leaf", "coro_mid", "coro_top"]
    assert shown("BaseEventLoop.run_until_complete") in got


# ---------------------------------------------------------------- strings

def make_func(name, filename="names.py"):
    src = f"def {name}(ready, release):\n    ready.set()\n    release.wait()\n"
    ns = {}
    exec(compile(src, filename, "exec"), ns)
    return ns[name]


@pytest.mark.parametrize("name,filename", [
    ("ascii_name", "plain.py"),
    ("fünf_größe", "latin1_é.py"),            # UCS1, not ASCII
    ("函数_Ωμέγα", "файл.py"),                  # UCS2
    ("名_\U00020000_x", "emoji_\U0001F600.py"),  # UCS4
])
def test_non_ascii_names(probe, name, filename):
    fn = make_func(name, filename)
    with Parked(fn) as p:
        st = sampled(probe, p.ident)
    top = [f for f in st["frames"] if f[1] == filename]
    assert top and top[0][0] == name


def test_lone_surrogate_filename_is_replaced(probe):
    fn = make_func("surrogate_file", "bad_\udcff.py")
    with Parked(fn) as p:
        st = sampled(probe, p.ident)
    frame = [f for f in st["frames"] if f[0] == "surrogate_file"][0]
    assert frame[1] == "bad_\ufffd.py"


@pytest.mark.parametrize("unit", ["a", "é", "語", "\U00020000"])
def test_huge_name_is_truncated(probe, unit):
    name = "f" + unit * 100_000
    fn = make_func(name, "huge.py")
    with Parked(fn) as p:
        st = sampled(probe, p.ident)
    frame = [f for f in st["frames"] if f[1] == "huge.py"][0]
    got = frame[0]
    assert got.endswith("…")
    assert len(got.encode()) <= 1024
    assert name.startswith(got[:-1])
    assert len(got.encode()) > 1024 - 8


# ---------------------------------------------------------------- capture_current

def stack_of(fr):
    out = []
    while fr is not None:
        out.append((shown_name(fr.f_code), fr.f_code.co_filename, fr.f_lineno))
        fr = fr.f_back
    return out


def capture_c(probe):
    got, exp = probe.capture(MAX_FRAMES), stack_of(sys._getframe())
    return got, exp


def capture_b(probe):
    return capture_c(probe)


def test_capture_current(probe):
    got, exp = capture_b(probe)
    assert len(exp) < MAX_FRAMES
    assert strip(got) == exp
    assert names(got[:2]) == ["capture_c", "capture_b"]


def test_capture_current_deep_has_marker(probe):
    out = []

    def down(n):
        if n == 0:
            out.append((probe.capture(16), len(stack_of(sys._getframe()))))
            return
        down(n - 1)

    down(50)
    got, total = out[0]
    assert len(got) == 16
    assert names(got[:15]) == [shown("test_capture_current_deep_has_marker.<locals>.down")] * 15
    assert got[15][0] == f"<{total - 15} frames omitted>"


def test_capture_on_other_thread(probe):
    res = []
    t = threading.Thread(target=lambda: res.append(capture_b(probe)[0]))
    t.start()
    t.join()
    assert names(res[0][:2]) == ["capture_c", "capture_b"]


# ------------------------------------------------------- torn pointers

@pytest.mark.parametrize("addr", [2**64 - 72, 2**64 - 8, 2**64 - 4096, 2**63, 2**48, 8])
def test_wild_frame_pointer_is_torn(probe, addr):
    # A `previous` link read while its frame was being reused can hold any
    # value. Near the top of the address space, "frame + size" wraps to a
    # small number: the walker once took such a pointer for a frame inside
    # its copy and read far outside it.
    torn, frames = probe.forged_snapshot(addr)
    assert torn == 1 and frames == []


def test_real_snapshot_resolves(probe):
    # The forged snapshots above differ from this one only in the pointer.
    torn, frames = probe.forged_snapshot()
    assert torn == 0
    assert names(frames[:1]) == ["test_real_snapshot_resolves"]


# ---------------------------------------------------------------- churn

def short_life(depth):
    if depth:
        return short_life(depth - 1)
    g = (i for i in range(3))
    sum(g)
    time.sleep(0.001)
    return 0


def test_threads_churn_while_walking(probe):
    stop = threading.Event()
    started = [0]

    def spawner():
        live = []
        while not stop.is_set():
            while len(live) < 50:
                t = threading.Thread(target=short_life, args=(started[0] % 40,))
                t.start()
                live.append(t)
                started[0] += 1
            live = [t for t in live if t.is_alive()]
            time.sleep(0)
        for t in live:
            t.join()

    sp = threading.Thread(target=spawner)
    sp.start()
    try:
        res = probe.stress(2.0)
    finally:
        stop.set()
        sp.join()
    print(f"\nchurn: {res['walks']} walks, {res['threads']} thread samples, "
          f"{res['torn']} torn, {res['failed_walks']} failed walks, {started[0]} threads started")
    assert res["walks"] > 100
    assert started[0] > 100
    assert res["threads"] > res["walks"]
    # the walker still works afterwards
    with Parked(nest_a) as p:
        assert strip(sampled(probe, p.ident)["frames"]) == expected_stack(p.ident)


# ---------------------------------------------------------------- cost

@pytest.mark.parametrize("by_read", [0, 1], ids=["free-log", "read-validation"])
def test_cost_per_thread_sample_64_frames(probe, by_read):
    nthreads = 8

    def target(ready, release):
        # 57 recurse + target, _run, run, _bootstrap_inner, _bootstrap,
        # Event.wait, Condition.wait = 64 frames
        recurse(57, ready, release)

    parked = [Parked(target) for _ in range(nthreads)]
    for p in parked:
        p.__enter__()
    try:
        depths = [len(expected_stack(p.ident)) for p in parked]
        probe.set_validation(by_read)
        probe.bench(50)   # warm the code cache
        n = 20000 if os.environ.get("WALKER_SANITIZE") != "1" else 2000
        r = probe.bench(n)
        cap_ns, cap_frames = probe.capture_bench(20000 if n > 2000 else 2000, 128)
    finally:
        probe.set_validation(0)
        for p in parked:
            p.__exit__(None, None, None)
    per_walk = r["elapsed_ns"] / r["walks"]
    per_thread = r["elapsed_ns"] / r["threads"]
    print(f"\ncost ({'read-validation' if by_read else 'free-log'}): {per_walk / 1000:.2f} us per walk of {r['threads'] // r['walks']} threads "
          f"(parked depths {min(depths)}-{max(depths)} frames), "
          f"{per_thread / 1000:.2f} us per thread-sample; "
          f"capture_current {cap_ns / 1000:.2f} us for {cap_frames} frames; torn {r['torn']}")
    assert r["torn"] == 0
    assert r["failed_walks"] == 0
