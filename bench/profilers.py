"""How each profiler under comparison is put around a Python command.

One table of configurations, so every benchmark (overhead, accuracy, memory)
runs exactly the same commands and RESULTS.md can print them verbatim.
A configuration turns `python script args` into (argv, extra env, output
path) and knows whether its tools are installed. Peers run from bench/.venv
(made by setup_peers.py from the same CPython as the project's .venv).
"""
from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PROJECT_PY = os.path.join(REPO, ".venv", "bin", "python")
STACKSIGHT_RUN = os.path.join(REPO, ".venv", "bin", "stacksight-run")
PEER_BIN = os.path.join(BENCH, ".venv", "bin")
PEER_PY = os.path.join(PEER_BIN, "python")
PEERS_STATUS = os.path.join(BENCH, "out", "peers.json")

ONLY_CPU_WALL = {"DD_PROFILING_EXCEPTION_ENABLED": "false", "DD_PROFILING_LOCK_ENABLED": "false",
                 "DD_PROFILING_MEMORY_ENABLED": "false", "DD_PROFILING_HEAP_ENABLED": "false"}
# ddtrace: only its profiler is measured; tracing, telemetry and remote
# configuration would add their own threads and network attempts.
DDTRACE_QUIET = {"DD_TRACE_ENABLED": "false", "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
                 "DD_REMOTE_CONFIGURATION_ENABLED": "false"}


@dataclass
class Config:
    key: str            # short id used in file names and tables
    label: str          # shown in tables and charts
    kind: str           # none | stacksight | ddtrace | pyspy | pyinstrument
    env: dict = field(default_factory=dict)
    needs: tuple = ()   # peer packages (names in peers.json)

    def command(self, script_args: list[str], out_prefix: str, agent_url: str) -> tuple[list[str], dict]:
        """argv and extra environment for running `python <script_args>` under this profiler."""
        env = {"DD_TRACE_AGENT_URL": agent_url, "DD_SERVICE": "bench"}
        env.update(self.env)
        if self.kind == "none":
            return [PROJECT_PY] + script_args, env
        if self.kind == "stacksight":
            env.setdefault("STACKSIGHT_SAMPLE_HZ", "100")
            if out_prefix:
                env["DD_PROFILING_OUTPUT_PPROF"] = out_prefix
            return [STACKSIGHT_RUN, PROJECT_PY] + script_args, env
        if self.kind == "ddtrace":
            env.update(DDTRACE_QUIET)
            env["DD_PROFILING_ENABLED"] = "true"
            if out_prefix:
                env["DD_PROFILING_OUTPUT_PPROF"] = out_prefix
            return [os.path.join(PEER_BIN, "ddtrace-run"), PEER_PY] + script_args, env
        if self.kind == "pyspy":
            out = out_prefix + ".folded" if out_prefix else "/dev/null"
            return [os.path.join(PEER_BIN, "py-spy"), "record", "--rate", "100", "--format", "raw",
                    "-o", out, "--", PEER_PY] + script_args, env
        if self.kind == "pyinstrument":
            out = out_prefix + ".json" if out_prefix else "/dev/null"
            return [PEER_PY, "-m", "pyinstrument", "-r", "json", "-o", out] + script_args, env
        raise ValueError(self.kind)

    def available(self) -> tuple[bool, str]:
        """(installed?, why not)."""
        if self.kind in ("none", "stacksight"):
            ok = os.path.exists(STACKSIGHT_RUN if self.kind == "stacksight" else PROJECT_PY)
            return ok, "" if ok else "project .venv not built (make python)"
        status = peer_status()
        for name in self.needs:
            st = status.get(name)
            if not st or not st.get("ok"):
                reason = " ".join(st.get("error", [])) if st else "bench-setup did not run"
                return False, f"{name} could not be installed: {reason}"
        return True, ""


def peer_status() -> dict:
    try:
        with open(PEERS_STATUS) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


BASELINE = Config("none", "unprofiled", "none")
PYTHON_CONFIGS = [
    BASELINE,
    Config("ss_cpuwall", "stacksight 100 Hz, CPU+wall", "stacksight", dict(ONLY_CPU_WALL)),
    Config("ss_all", "stacksight 100 Hz, all types", "stacksight"),
    Config("ddtrace", "ddtrace profiler", "ddtrace", needs=("ddtrace",)),
    Config("pyspy", "py-spy --rate 100", "pyspy", needs=("py-spy",)),
    Config("pyinstrument", "pyinstrument (1 ms)", "pyinstrument", needs=("pyinstrument",)),
]


def shell_line(argv: list[str], env: dict) -> str:
    """The command as a person would type it from the repo root."""
    def rel(a):
        return os.path.relpath(a, REPO) if os.path.isabs(a) and a.startswith(REPO) else a
    envs = " ".join(f"{k}={shlex.quote(rel(v))}" for k, v in env.items())
    return (envs + " " if envs else "") + " ".join(shlex.quote(rel(a)) for a in argv)
