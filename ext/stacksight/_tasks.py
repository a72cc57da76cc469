"""asyncio tasks for the sampler, which reads them without the GIL.

When asyncio is imported (at start, or later: a finder on sys.meta_path
notices asyncio.tasks being loaded), the native sampler is given where
asyncio keeps its live tasks (3.11: the set `_asyncio._all_tasks`, 3.12 and
3.13: `_asyncio._scheduled_tasks`; 3.14+: per-thread lists, found through
the offsets _asyncio publishes for out-of-process tools) and one probe task
from which it learns where a Task keeps its coroutine and name (see
ext/asyncio_tasks.h). A program that never imports asyncio only pays for the
finder's name check per import.

greenlet (gevent) is noticed the same way, only to say once that its
suspended greenlets are not sampled: greenlet keeps them in a private C++
structure with no published layout, which the sidecar cannot read safely."""
import os
import struct
import sys

_native = None
_warned = False


class _ProbeLoop:
    """Just enough of an event loop for a Task that is never run."""

    def get_debug(self):
        return False

    def call_soon(self, callback, *args, context=None):
        return None


async def _probe_coroutine():
    pass


def _elf_section(path, wanted):
    """(address in this process, bytes) of ELF section `wanted` of the
    loaded file `path`, or None. The load bias comes from /proc/self/maps:
    the mapping of the file's offset 0 is its first PT_LOAD segment."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2 or hdr[5] != 1:
            return None                      # only 64-bit little-endian
        e_type, = struct.unpack_from("<H", hdr, 16)
        e_phoff, e_shoff = struct.unpack_from("<QQ", hdr, 32)
        e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHHHH", hdr, 54)
        f.seek(e_shoff)
        sections = f.read(e_shentsize * e_shnum)
        def section(i):
            return struct.unpack_from("<IIQQQQ", sections, i * e_shentsize)
        _, _, _, _, str_off, str_size = section(e_shstrndx)
        f.seek(str_off)
        names = f.read(str_size)
        found = None
        for i in range(e_shnum):
            name_off, _, _, addr, offset, size = section(i)
            if names[name_off:names.index(b"\0", name_off)] == wanted:
                found = (addr, offset, size)
        if found is None:
            return None
        f.seek(found[1])
        on_disk = f.read(found[2])
        f.seek(e_phoff)
        phdrs = f.read(e_phentsize * e_phnum)
    bias = 0
    if e_type == 3:                          # ET_DYN: where it was loaded
        first_vaddr = min(struct.unpack_from("<IIQQ", phdrs, i * e_phentsize)[3]
                          for i in range(e_phnum)
                          if struct.unpack_from("<I", phdrs, i * e_phentsize)[0] == 1)
        st = os.stat(path)
        start = None
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                if len(fields) >= 6 and int(fields[2], 16) == 0 and int(fields[4]) == st.st_ino:
                    start = int(fields[0].split("-")[0], 16)
                    break
        if start is None:
            return None
        bias = start - (first_vaddr & ~0xFFF)
    import ctypes
    live = ctypes.string_at(bias + found[0], found[2])
    if live != on_disk:                  # written at build time, never changed since
        return None
    return bias + found[0], live


def _asyncio_debug_offsets(_asyncio):
    """The bytes of _asyncio's `.AsyncioDebug` section (3.14+): in the
    module's shared object, or in the interpreter when it is built in."""
    candidates = [getattr(_asyncio, "__file__", None), os.path.realpath("/proc/self/exe")]
    with open("/proc/self/maps") as maps:
        candidates += sorted({line.split()[-1] for line in maps
                              if "/libpython3" in line and line.rstrip().endswith(".so.1.0")})
    for path in candidates:
        if path and os.path.exists(path):
            got = _elf_section(path, b".AsyncioDebug")
            if got is not None:
                return got[1]
    raise RuntimeError("_asyncio publishes no .AsyncioDebug offsets in this build")


def _attach():
    global _warned
    native = _native
    if native is None:
        return
    try:
        import _asyncio
        import weakref
        debug = None
        if sys.version_info >= (3, 14):
            tasks = None
            debug = _asyncio_debug_offsets(_asyncio)
        else:
            # 3.11: _all_tasks; 3.12, 3.13: _scheduled_tasks (eagerly started
            # tasks are in _eager_tasks only while they run: on the stack)
            tasks = getattr(_asyncio, "_all_tasks", None)
            if tasks is None:
                tasks = getattr(_asyncio, "_scheduled_tasks", None)
            if not isinstance(tasks, weakref.WeakSet):
                raise RuntimeError("asyncio does not keep its tasks in a WeakSet of _asyncio here")
        coro = _probe_coroutine()
        name = "stacksight-probe-" + str(id(coro))
        loop = _ProbeLoop()
        probe = _asyncio.Task(coro, loop=loop, name=name)
        try:
            native.asyncio_attach(None if tasks is None else tasks.data, _asyncio.Task, probe, coro,
                                  name, loop, debug)
        finally:
            probe._log_destroy_pending = False
            if tasks is not None:
                tasks.discard(probe)
            coro.close()
        _watch_running_loops(native)
    except Exception as exc:
        if not _warned:
            _warned = True
            from stacksight.profiler import logger
            logger().warning("stacksight: asyncio tasks are not sampled (wall time of waiting "
                             "coroutines stays on the event loop's thread): %s", exc)


_original_set_running_loop = None


def _watch_running_loops(native):
    """Tell the sampler which thread runs which loop: asyncio's event loops
    call events._set_running_loop(loop) when they start and (None) when
    they stop, in the thread that runs them."""
    global _original_set_running_loop
    events = sys.modules["asyncio.events"]
    if _original_set_running_loop is None:
        original = events._set_running_loop

        def _set_running_loop(loop):
            original(loop)
            if _native is not None:
                _native.asyncio_loop_running(loop)

        _original_set_running_loop = original
        events._set_running_loop = _set_running_loop
    running = events._get_running_loop()
    if running is not None:
        native.asyncio_loop_running(running)


def _unwatch_running_loops():
    global _original_set_running_loop
    events = sys.modules.get("asyncio.events")
    if _original_set_running_loop is not None and events is not None:
        events._set_running_loop = _original_set_running_loop
    _original_set_running_loop = None


_greenlet_warned = False


def _greenlet_loaded():
    global _greenlet_warned
    if _native is None or _greenlet_warned:
        return
    _greenlet_warned = True
    from stacksight.profiler import logger
    logger().warning("stacksight: greenlets are not sampled one by one (greenlet keeps a suspended "
                     "greenlet's frames in a private structure the sampler cannot read safely): "
                     "their wall time shows on the thread that runs them, CPU is right")


# Modules whose loading the finder reports, and what to do then.
_WATCHED = {"asyncio.tasks": _attach, "greenlet": _greenlet_loaded}


class _AttachAfterExec:
    """The loader of a watched module, calling its hook once the module ran."""

    def __init__(self, loader, hook):
        self._loader = loader
        self._hook = hook

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._hook()

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _ImportWatcher:
    """On sys.meta_path while profiling: notices the watched modules."""

    def find_spec(self, fullname, path=None, target=None):
        hook = _WATCHED.get(fullname)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _AttachAfterExec(spec.loader, hook)
                return spec
        return None


_finder = _ImportWatcher()


def _uninstall_finder():
    try:
        sys.meta_path.remove(_finder)
    except ValueError:
        pass


def install(native):
    global _native
    _native = native
    for name, hook in _WATCHED.items():
        if name in sys.modules:
            hook()
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def uninstall():
    global _native
    _native = None
    _uninstall_finder()
    _unwatch_running_loops()
