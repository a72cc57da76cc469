"""Started by stacksight-run through PYTHONPATH, in every Python process of
the command (children included): start the profiler unless
DD_PROFILING_ENABLED says no, then chain to the sitecustomize this one hides."""
import importlib.util
import os
import sys


def _chain_to_next_sitecustomize():
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == here:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_stacksight_chained_sitecustomize", candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return


def _enabled():
    value = os.environ.get("DD_PROFILING_ENABLED", "true").strip().lower()
    return value not in ("0", "false", "no", "off")


if _enabled():
    try:
        import stacksight.auto  # noqa: F401
    except Exception as exc:   # never break the program we were asked to run
        sys.stderr.write(f"stacksight: profiling is off: {exc}\n")
_chain_to_next_sitecustomize()
