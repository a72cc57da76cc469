"""The public Profiler: argument checking and lifecycle on top of stacksight._native.

One profiler runs per process (the sampler reads every thread anyway). The
native core parses the DD_* environment; keyword arguments given here win.

Lifecycle rules (documented in the README and tested):
- ``start()`` on a profiler that is running raises ProfilerError; starting a
  second Profiler while another runs raises ProfilerError too.
- ``stop()`` flushes the last profile; calling it again, or on a profiler that
  never started, does nothing.
- A stopped profiler can be started again.
"""
import atexit
import os
import sys
import threading
import time

from stacksight import _exec, _tasks, _threads



def logger():
    """The "stacksight" logger. logging is imported only when there is
    something to say: it costs a short-lived process (a CLI, a cron job, a
    pool worker) several milliseconds of start-up, and most programs that
    live longer import it anyway."""
    import logging
    return logging.getLogger("stacksight")


_STRING_OPTIONS = ("env", "service", "version", "url", "output_pprof")
_running_profiler = None
# Re-entrant: stop() may run in a signal handler that interrupted start()
# or stop() on the same thread (it then finds nothing to stop).
_lock = threading.RLock()


class ProfilerError(RuntimeError):
    """The profiler cannot start here (unsupported interpreter, already running...)."""


def _native():
    try:
        from stacksight import _native
    except ImportError as exc:   # not built, or built for another Python
        raise ProfilerError(
            "the stacksight native extension is not available for this Python "
            f"({sys.version.split()[0]}): {exc}") from None
    return _native


def in_subinterpreter():
    """True in a subinterpreter. One sampler runs per process and it reads the
    main interpreter's threads; code running in subinterpreters is not
    profiled, and a subinterpreter never starts a second sampler."""
    for name in ("_interpreters", "_xxsubinterpreters"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        try:
            return module.get_current() != module.get_main()
        except Exception:   # an interface we do not know: assume the main one
            return False
    return False


def _default_service():
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return spec.name.replace(".__main__", "")
    if sys.argv and sys.argv[0] and sys.argv[0] not in ("-c", "-m", "-"):
        name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        if name:
            return name
    return "unnamed-python-service"


def _check_text(what, value):
    """The core keeps C strings in UTF-8: a NUL would cut the value short and a
    lone surrogate cannot be encoded, so both are refused, naming the argument."""
    if "\0" in value:
        raise ValueError(f"Profiler() argument {what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"Profiler() argument {what} is not valid text "
                         f"(character {value[exc.start]!r} at position {exc.start} cannot be "
                         "encoded as UTF-8)") from None


def _check_options(options):
    for name in _STRING_OPTIONS:
        value = options.get(name)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"Profiler() argument '{name}' must be str or None, not {type(value).__name__}")
        if value is not None:
            _check_text(f"'{name}'", value)
    tags = options.get("tags")
    if tags is not None:
        if not isinstance(tags, dict):
            raise TypeError(f"Profiler() argument 'tags' must be a dict of str to str, not {type(tags).__name__}")
        for key, value in tags.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("Profiler() argument 'tags' must map str to str; "
                                f"got {key!r}: {value!r}")
            _check_text(f"'tags' key {key!r}", key)
            _check_text(f"'tags' value of {key!r}", value)
            if not key or "," in key or " " in key or ":" in key:
                raise ValueError(f"Profiler() argument 'tags': invalid key {key!r} "
                                 "(non-empty, no comma, space or colon)")
            if "," in value:
                raise ValueError(f"Profiler() argument 'tags': value of {key!r} contains a comma")
    interval = options.get("upload_interval")
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise TypeError("Profiler() argument 'upload_interval' must be a number of seconds, "
                            f"not {type(interval).__name__}")
        if not 0.01 <= interval <= 86400:
            raise ValueError("Profiler() argument 'upload_interval' must be between 0.01 and 86400 seconds")


class Profiler:
    """Profiles this process: CPU and wall time of every thread, uploaded as pprof.

    Arguments left out (or None) come from DD_ENV, DD_SERVICE, DD_VERSION and
    DD_TAGS. ``url`` is the agent (or ``stacksight serve``) URL, default from
    DD_TRACE_AGENT_URL / DD_AGENT_HOST / DD_TRACE_AGENT_PORT, else
    http://localhost:8126. ``output_pprof`` writes files ``<prefix>.<pid>.<seq>.pprof``.
    """

    def __init__(self, env=None, service=None, version=None, tags=None, *,
                 url=None, output_pprof=None, upload_interval=None):
        options = {"env": env, "service": service, "version": version, "tags": tags,
                   "url": url, "output_pprof": output_pprof, "upload_interval": upload_interval}
        _check_options(options)
        self._options = {k: v for k, v in options.items() if v is not None}
        self._running = False
        self._started_at = 0.0

    def start(self):
        global _running_profiler
        native = _native()
        with _lock:
            if self._running:
                raise ProfilerError("this profiler is already running")
            if _running_profiler is not None:
                raise ProfilerError("another stacksight Profiler is already running in this process")
            if in_subinterpreter():
                raise ProfilerError("this is a subinterpreter; the profiler runs in the main "
                                    "interpreter only (start it there)")
            _threads.install(native)
            try:
                native.start(default_service=_default_service(), **self._options)
            except ValueError:
                _threads.uninstall()
                raise
            except RuntimeError as exc:
                _threads.uninstall()
                raise ProfilerError(str(exc)) from None
            _exec.install(self)
            _tasks.install(native)
            self._started_at = time.monotonic()
            _running_profiler = self
            self._running = True     # last: a stop() from a signal handler before it finds nothing to stop
        atexit.register(self._stop_at_exit)
        return self

    def stop(self, flush=True):
        global _running_profiler
        with _lock:
            if not self._running:
                return
            self._running = False
            _running_profiler = None
        atexit.unregister(self._stop_at_exit)
        _exec.uninstall()
        _tasks.uninstall()
        native = _native()
        native.stop(flush=bool(flush))
        _threads.uninstall()

    def _stop_at_exit(self):
        try:
            self.stop(flush=True)
        except Exception:   # never turn a clean exit into a failure
            logger().warning("stacksight: could not flush the last profile at exit", exc_info=True)

    @property
    def running(self):
        return self._running

    def running_for(self):
        """Seconds this process has been profiling (restarted at fork)."""
        return time.monotonic() - self._started_at if self._running else 0.0

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
        return False

    def __repr__(self):
        state = "running" if self._running else "stopped"
        return f"<stacksight.Profiler {state} {self._options!r}>"


def _after_fork_in_child():
    """os.register_at_fork hook: the child profiles itself with a new runtime-id."""
    try:
        from stacksight import _native
    except ImportError:
        return
    profiler = _running_profiler
    if profiler is not None:
        _threads.reset_after_fork(_native)
        _native.after_fork_child()
        profiler._started_at = time.monotonic()
        # multiprocessing children leave through os._exit(), which skips
        # atexit; its own exit hook runs finalizers, so flush from there.
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None:
            mp_util.Finalize(None, profiler._stop_at_exit, exitpriority=0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
