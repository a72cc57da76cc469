"""os.execv / os.execve stop the profiler first.

exec replaces the program but keeps signals that are pending for the calling
thread; a CPU-timer SIGPROF arriving in the new program, which has no handler
for it, would kill it. Stopping first deletes the timers (and flushes the last
profile, as at exit, unless this process has profiled for less than a
second). If exec fails, profiling starts again. os.execl/lp/vp/...
all go through these two functions; subprocess execs in the child, where no
timer exists."""
import os

_original_execv = os.execv
_original_execve = os.execve
_profiler = None


# A program that forks and execs at once (a hand-made subprocess) would send
# one near-empty profile per child; a process that ran this long is worth one.
FLUSH_AFTER_SECONDS = 1.0


def _around_exec(call, *args):
    profiler = _profiler
    if profiler is not None and profiler.running:
        profiler.stop(flush=profiler.running_for() >= FLUSH_AFTER_SECONDS)
        try:
            return call(*args)
        except BaseException:
            profiler.start()
            raise
    return call(*args)


def _execv(path, args):
    return _around_exec(_original_execv, path, args)


def _execve(path, args, env):
    return _around_exec(_original_execve, path, args, env)


def install(profiler):
    global _profiler
    _profiler = profiler
    os.execv = _execv
    os.execve = _execve


def uninstall():
    global _profiler
    _profiler = None
    os.execv = _original_execv
    os.execve = _original_execve
