"""asyncio tasks for the sampler, which reads them without the GIL.

When asyncio is imported (at start, or later: a finder on sys.meta_path
notices asyncio.tasks being loaded), the native sampler is given asyncio's
set of live tasks and one probe task from which it learns where a Task keeps
its coroutine and name (see ext/asyncio_tasks.h). A program that never
imports asyncio only pays for the finder's name check per import.

greenlet (gevent) is noticed the same way, only to say once that its
suspended greenlets are not sampled: greenlet keeps them in a private C++
structure with no published layout, which the sidecar cannot read safely."""
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


def _attach():
    global _warned
    native = _native
    if native is None:
        return
    try:
        import _asyncio
        tasks_module = sys.modules["asyncio.tasks"]
        tasks = getattr(_asyncio, "_all_tasks", None)
        if tasks is None or getattr(tasks_module, "_all_tasks", None) is not tasks:
            raise RuntimeError("asyncio does not keep its tasks in _asyncio._all_tasks here")
        coro = _probe_coroutine()
        name = "stacksight-probe-" + str(id(coro))
        loop = _ProbeLoop()
        probe = _asyncio.Task(coro, loop=loop, name=name)
        try:
            native.asyncio_attach(tasks.data, _asyncio.Task, probe, coro, name, loop)
        finally:
            probe._log_destroy_pending = False
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
