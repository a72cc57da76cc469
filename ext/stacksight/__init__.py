"""stacksight: always-on production profiler for CPython.

    from stacksight import Profiler
    prof = Profiler(env="prod", service="my-web-app", version="1.0.3", tags={"team": "intake"})
    prof.start()
    ...
    prof.stop()

Or without code changes: ``stacksight-run python app.py`` / ``import stacksight.auto``.
"""
from stacksight.profiler import Profiler, ProfilerError

__all__ = ["Profiler", "ProfilerError", "__version__"]
__version__ = "0.1.0"
