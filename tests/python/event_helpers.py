"""Run a snippet under the profiler with its own pprof output and return the
decoded profiles (by profile_view, independent of stacksight's encoder)."""
from __future__ import annotations

import textwrap

from conftest import run_python
from profile_view import load, profile_files

PRELUDE = """
import sys, threading, time
from stacksight import Profiler
import stacksight._native as native
prof = Profiler(output_pprof=sys.argv[1] if len(sys.argv) > 1 else PREFIX, upload_interval=600)
"""


class Merged:
    """Every profile of a run, queried as one."""

    def __init__(self, views):
        self.views = views
        self.samples = [s for v in views for s in v.samples]
        self.sample_types = views[0].sample_types if views else []

    def total(self, sample_type, where=None):
        return sum(s.values.get(sample_type, 0) for s in self.samples if where is None or where(s))

    def by_label(self, key, sample_type):
        out = {}
        for s in self.samples:
            out[s.labels.get(key)] = out.get(s.labels.get(key), 0) + s.values.get(sample_type, 0)
        return out

    def in_function(self, name, sample_type):
        """Total of samples whose stack contains function `name`."""
        return self.total(sample_type, lambda s: name in s.stack)


def line_of(body: str, text: str) -> int:
    """Line number of the first line containing `text` in the code profile_run runs."""
    code = "PREFIX = ''\n" + PRELUDE + textwrap.dedent(body)
    for number, line in enumerate(code.splitlines(), 1):
        if text in line:
            return number
    raise ValueError(text)


def profile_run(tmp_path, body: str, timeout=120, **env) -> tuple[Merged, str]:
    prefix = str(tmp_path / "prof")
    code = f"PREFIX = {prefix!r}\n" + PRELUDE + textwrap.dedent(body)
    proc = run_python(code, timeout=timeout, **env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    files = profile_files(prefix)
    assert files, proc.stderr[-2000:]
    return Merged([load(f) for f in files]), proc.stdout
