"""Build the walker_probe test extension into a directory.

    python build.py OUTDIR [--sanitize] [--cc gcc|clang]

Compiles ext/cpython_walker.c, ext/cpython_code_cache.c, ext/thread_names.c with src/common/{safe_read,interner,log}.c and
walker_probe.c into OUTDIR/walker_probe<EXT_SUFFIX>, with -Wall -Wextra
-Werror. --sanitize adds -fsanitize=address,undefined (import the result with
libasan preloaded). Used by tests/python/test_walker.py.
"""
import os
import subprocess
import sys
import sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SOURCES = [
    os.path.join(HERE, "walker_probe.c"),
    os.path.join(ROOT, "ext", "cpython_walker.c"),
    os.path.join(ROOT, "ext", "cpython_code_cache.c"),
    os.path.join(ROOT, "ext", "thread_names.c"),   # native thread ids (3.9/3.10)
    os.path.join(ROOT, "src", "common", "safe_read.c"),
    os.path.join(ROOT, "src", "common", "interner.c"),
    os.path.join(ROOT, "src", "common", "log.c"),
]


def build(outdir, sanitize=False, cc=None):
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(outdir, "walker_probe" + sysconfig.get_config_var("EXT_SUFFIX"))
    cc = cc or os.environ.get("CC", "gcc")
    flags = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
             "-pthread", "-I" + sysconfig.get_paths()["include"]]
    if sanitize:
        flags += ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                  "-fno-sanitize-recover=undefined"]
    else:
        flags += ["-O2", "-g"]
    cmd = [cc] + flags + SOURCES + ["-o", out]
    subprocess.run(cmd, check=True)
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    san = "--sanitize" in args
    cc = None
    if "--cc" in args:
        cc = args[args.index("--cc") + 1]
    rest = [a for a in args if not a.startswith("--") and a != cc]
    print(build(rest[0] if rest else os.path.join(HERE, "build"), san, cc))
