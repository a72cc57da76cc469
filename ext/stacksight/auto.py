"""``import stacksight.auto`` at the top of a program starts profiling.

Configuration comes from the DD_* environment. If the profiler cannot run
here, one warning is logged and the program goes on unprofiled."""
from stacksight.profiler import Profiler, ProfilerError, in_subinterpreter, logger

profiler = None


def _start():
    global profiler
    if in_subinterpreter():
        # Profiling belongs to the main interpreter (subinterpreters are not
        # sampled, see the README); a warning per subinterpreter is only noise.
        return
    try:
        profiler = Profiler().start()
    except ProfilerError as exc:
        logger().warning("stacksight: profiling is off: %s", exc)
    except Exception as exc:   # bad configuration must not stop the app
        logger().warning("stacksight: profiling is off: %s", exc)


_start()
