"""Lock profiling: point threading.Lock / threading.RLock at the native proxies.

The proxies (stacksight._native.LockProxy / RLockProxy) wrap real locks and
sample their operations while lock profiling runs. Condition, Semaphore,
BoundedSemaphore, Event and Barrier look ``Lock`` / ``RLock`` up in the
threading module when they are created, so they get proxies too. Locks that
exist before start() stay real locks; proxies created while profiling keep
working (without recording) after stop(), when the originals are back.

If something else already replaced threading.Lock (gevent's monkey patching,
another profiler), lock profiling leaves it alone."""
import _thread
import threading

_originals = None   # (threading.Lock, threading.RLock) while the proxies are in


def install(native):
    global _originals
    if _originals is not None or not native.lock_profiling_active():
        return False
    if threading.Lock is not _thread.allocate_lock:
        native.drain_log()
        import logging
        logging.getLogger("stacksight").info(
            "stacksight: threading.Lock is not the interpreter's lock (%r); lock profiling is off",
            threading.Lock)
        return False
    real_rlock = getattr(threading, "_CRLock", None) or threading._PyRLock
    native.set_lock_factories(_thread.allocate_lock, real_rlock)
    _originals = (threading.Lock, threading.RLock)
    threading.Lock = native.LockProxy
    threading.RLock = native.RLockProxy
    return True


def uninstall():
    global _originals
    if _originals is None:
        return
    lock, rlock = _originals
    _originals = None
    # Put back only what is still ours: a later patch by someone else wins.
    if threading.Lock.__name__ == "LockProxy":
        threading.Lock = lock
    if getattr(threading.RLock, "__name__", "") == "RLockProxy":
        threading.RLock = rlock
