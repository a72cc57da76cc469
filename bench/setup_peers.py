"""Install the peer profilers the benchmark compares stacksight against.

Peers live in their own venv (bench/.venv) so they never leak into the
project's .venv or its tests. Each package is installed on its own so one
that fails is reported by name (in bench/out/peers.json, which run.py reads
and prints in RESULTS.md) instead of hiding the others. Re-running is cheap:
packages already present are not fetched again.

    python bench/setup_peers.py          # from the repo root
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
PEER_VENV = os.path.join(HERE, ".venv")
PEER_PY = os.path.join(PEER_VENV, "bin", "python")
STATUS_FILE = os.path.join(HERE, "out", "peers.json")
PIP_PACKAGES = ["ddtrace", "py-spy", "pyinstrument", "matplotlib", "protobuf", "gunicorn", "flask"]
DEBIAN_PACKAGES = ["ruby-stackprof"]


def _base_python() -> str:
    """The interpreter the project's venv was made from, so peers run the same CPython."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _pip_installed(name: str) -> str | None:
    probe = "import importlib.metadata as m, sys\ntry: print(m.version(sys.argv[1]))\nexcept m.PackageNotFoundError: pass"
    out = subprocess.run([PEER_PY, "-c", probe, name], capture_output=True, text=True)
    return out.stdout.strip() or None


def _install_pip(name: str) -> dict:
    version = _pip_installed(name)
    if version:
        return {"ok": True, "version": version}
    out = subprocess.run([PEER_PY, "-m", "pip", "install", "-q", name], capture_output=True, text=True)
    version = _pip_installed(name)
    if version:
        return {"ok": True, "version": version}
    return {"ok": False, "error": (out.stderr or out.stdout).strip().splitlines()[-3:]}


def _install_debian(name: str) -> dict:
    def version():
        q = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}", name],
                           capture_output=True, text=True)
        if q.returncode == 0 and q.stdout.startswith("install ok installed"):
            return q.stdout.split()[-1]
        return None

    v = version()
    if v:
        return {"ok": True, "version": v}
    if os.geteuid() != 0:
        return {"ok": False, "error": [f"not root: run sudo apt-get install -y {name}"]}
    subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
    out = subprocess.run(["apt-get", "install", "-y", "-qq", name], capture_output=True, text=True,
                         env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    v = version()
    return {"ok": True, "version": v} if v else {"ok": False, "error": out.stderr.strip().splitlines()[-3:]}


def main() -> int:
    os.makedirs(os.path.dirname(STATUS_FILE), exist_ok=True)
    status: dict[str, dict] = {}
    if not os.path.exists(PEER_PY):
        base = _base_python()
        try:
            subprocess.run([base, "-m", "venv", PEER_VENV], check=True)
        except (OSError, subprocess.CalledProcessError):
            venv.create(PEER_VENV, with_pip=True)
        subprocess.run([PEER_PY, "-m", "pip", "install", "-q", "--upgrade", "pip"], capture_output=True)
    for name in PIP_PACKAGES:
        status[name] = _install_pip(name)
    if shutil.which("apt-get"):
        for name in DEBIAN_PACKAGES:
            status[name] = _install_debian(name)
    else:
        for name in DEBIAN_PACKAGES:
            status[name] = {"ok": False, "error": ["no apt-get on this machine"]}
    with open(STATUS_FILE, "w") as f:
        json.dump(status, f, indent=2)
    for name, st in status.items():
        print(f"bench-setup: {name}: " + (st["version"] if st["ok"] else "NOT INSTALLED: " + " ".join(st["error"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
