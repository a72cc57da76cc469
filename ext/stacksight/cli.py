"""The ``stacksight`` command of the Python package.

Both the Python package and the Ruby gem install a ``stacksight`` command;
whichever comes first on PATH handles every subcommand:

    stacksight serve [--host H] [--port P] [--db PATH]   local intake and explorer (Python)
    stacksight exec COMMAND [ARGS...]                    run COMMAND profiled

``exec`` runs Python commands itself (as stacksight-run) and hands Ruby
commands to the gem, or says how to install it."""
import os
import shutil
import subprocess
import sys

USAGE = """usage: stacksight <command> [args]

commands:
  serve [--host H] [--port P] [--db PATH]   receive profiles and explore them in a browser
  exec COMMAND [ARGS...]                    run COMMAND with the profiler in every process
  version                                   print the version"""

RUBY_COMMANDS = ("ruby", "bundle", "rails", "rake", "rackup", "puma", "unicorn", "sidekiq", "irb")


def _looks_like_ruby(command):
    name = os.path.basename(command[0])
    if name in RUBY_COMMANDS or name.startswith("ruby"):
        return True
    path = shutil.which(command[0])
    if path:
        try:
            with open(path, "rb") as f:
                first = f.readline(200)
            return b"ruby" in first
        except OSError:
            return False
    return False


def _gem_installed():
    ruby = shutil.which("ruby")
    if ruby is None:
        return False
    probe = subprocess.run([ruby, "-e", 'require "stacksight/cli"'], capture_output=True)
    return probe.returncode == 0


def _exec_ruby(args):
    if not _gem_installed():
        sys.stderr.write(
            "stacksight: profiling Ruby needs the stacksight gem, which is not installed.\n"
            "  install it from the stacksight source tree:\n"
            "    gem build stacksight.gemspec && gem install ./stacksight-*.gem\n")
        return 1
    ruby = shutil.which("ruby")
    os.execv(ruby, [ruby, "-rstacksight/cli", "-e", "exit Stacksight::CLI.run(ARGV)", "--", "exec", *args])
    return 1


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "serve":
        from stacksight.serve import main as serve_main
        return serve_main(rest)
    if command == "exec":
        if not rest:
            sys.stderr.write("usage: stacksight exec COMMAND [ARGS...]\n")
            return 2
        if _looks_like_ruby(rest):
            return _exec_ruby(rest)
        from stacksight.run import main as run_main
        return run_main(rest)
    if command in ("version", "--version"):
        import stacksight
        print(f"stacksight {stacksight.__version__} (python)")
        return 0
    sys.stderr.write(f"stacksight: unknown command {command!r}\n{USAGE}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
