"""stacksight-run: run a command with every Python process in it profiled.

    DD_SERVICE=my-web-app stacksight-run python app.py
    stacksight-run python -m mypackage --flag

The command replaces this process (exit code and signals are the command's
own). Profiling starts in each Python interpreter through a sitecustomize on
PYTHONPATH, so Python children of the command are profiled as well.
DD_PROFILING_ENABLED=false turns it off without changing the command."""
import os
import shutil
import sys

USAGE = """usage: stacksight-run COMMAND [ARGS...]

Runs COMMAND with the stacksight profiler started in every Python process.
Configuration: DD_SERVICE, DD_ENV, DD_VERSION, DD_TAGS, DD_TRACE_AGENT_URL,
DD_PROFILING_OUTPUT_PPROF, DD_PROFILING_UPLOAD_INTERVAL ... (see README)."""


def prepare_environment(environ):
    """Return a copy of environ with the bootstrap directory first on PYTHONPATH."""
    import stacksight
    package_dir = os.path.dirname(os.path.abspath(stacksight.__file__))
    bootstrap = os.path.join(package_dir, "bootstrap")
    site_dir = os.path.dirname(package_dir)   # so `import stacksight` works in the child
    env = dict(environ)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    parts = [bootstrap, site_dir] + [p for p in parts if p not in (bootstrap, site_dir)]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    program = shutil.which(args[0])
    if program is None:
        sys.stderr.write(f"stacksight-run: command not found: {args[0]}\n")
        return 127
    env = prepare_environment(os.environ)
    try:
        os.execve(program, args, env)
    except OSError as exc:
        sys.stderr.write(f"stacksight-run: cannot run {args[0]}: {exc}\n")
        return 126


if __name__ == "__main__":
    sys.exit(main())
