"""Thread names for the sampler, which cannot read threading.Thread objects.

While profiling, thread starts and renames push (ident, name) into the native
table. The patches are installed at start and removed at stop; threads that
already run are registered at start."""
import threading

_original_bootstrap_inner = threading.Thread._bootstrap_inner
_original_name = threading.Thread.name
_native = None


def _bootstrap_inner(self):
    native = _native
    ident = threading.get_ident()
    if native is not None:
        native.set_thread_name(ident, self._name)
    try:
        _original_bootstrap_inner(self)
    finally:
        if native is not None:
            native.forget_thread(ident)


def _set_name(self, name):
    _original_name.fset(self, name)
    native = _native
    ident = self._ident
    if native is not None and ident is not None:
        native.set_thread_name(ident, str(name))


_patched_name = property(_original_name.fget, _set_name, doc=_original_name.__doc__)


def install(native):
    global _native
    _native = native
    threading.Thread._bootstrap_inner = _bootstrap_inner
    threading.Thread.name = _patched_name
    for thread in threading.enumerate():
        if thread.ident is not None:
            native.set_thread_name(thread.ident, thread.name)


def uninstall():
    global _native
    _native = None
    threading.Thread._bootstrap_inner = _original_bootstrap_inner
    threading.Thread.name = _original_name


def reset_after_fork(native):
    """In a forked child only the forking thread survives; name it again."""
    current = threading.current_thread()
    native.set_thread_name(threading.get_ident(), current.name)
