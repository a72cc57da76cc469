"""Thread names for the sampler, which cannot read threading.Thread objects.

While profiling, thread starts and renames push (ident, name) into the native
table. The patches are installed at start and removed at stop; threads that
already run are registered at start."""
import threading

_original_bootstrap = threading.Thread._bootstrap
_original_name = threading.Thread.name
_native = None


def _tell(native, ident, name, native_id=None):
    # A thread name is any str, lone surrogates included, and the native
    # table takes UTF-8: encode leniently, and never let naming fail a
    # thread start (Thread.start() would wait forever) or a rename.
    try:
        if native_id:
            # The OS thread id: CPython 3.9/3.10 thread states lack it, and
            # the sampler needs it for the thread's CPU clock.
            native.set_thread_name(ident, str(name).encode("utf-8", "replace"), native_id)
        else:
            native.set_thread_name(ident, str(name).encode("utf-8", "replace"))
    except Exception:
        pass


def _bootstrap(self):
    # The first Python code a new thread runs: name it before any sample can
    # see it. At the end the entry is only marked ended (the name stays for
    # samples taken while the thread exits; a full table drops ended ones).
    native = _native
    ident = threading.get_ident()
    if native is not None:
        _tell(native, ident, self._name, threading.get_native_id())
    try:
        _original_bootstrap(self)
    finally:
        if native is not None:
            native.forget_thread(ident)


def _set_name(self, name):
    _original_name.fset(self, name)
    native = _native
    ident = self._ident
    if native is not None and ident is not None:
        _tell(native, ident, name)


_patched_name = property(_original_name.fget, _set_name, doc=_original_name.__doc__)


def install(native):
    global _native
    _native = native
    threading.Thread._bootstrap = _bootstrap
    threading.Thread.name = _patched_name
    for thread in threading.enumerate():
        if thread.ident is not None:
            _tell(native, thread.ident, thread.name, getattr(thread, "native_id", None))


def uninstall():
    global _native
    _native = None
    threading.Thread._bootstrap = _original_bootstrap
    threading.Thread.name = _original_name


def reset_after_fork(native):
    """In a forked child only the forking thread survives; name it again."""
    current = threading.current_thread()
    _tell(native, threading.get_ident(), current.name, threading.get_native_id())
