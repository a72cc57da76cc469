"""Build of the stacksight Python package and its C extension.

The extension compiles the shared core (src/common/) together with the
CPython binding (ext/*.c) and the pprof message code that protoc-c generates
from proto/profile.proto at build time. Native dependencies are found with
pkg-config; a missing one stops the build with the package to install.
"""
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATED = os.path.join("build", "gen")

NATIVE_DEPENDENCIES = [
    # (pkg-config name, Debian package, what it is for)
    ("libcurl", "libcurl4-openssl-dev", "uploading profiles"),
    ("libprotobuf-c", "libprotobuf-c-dev", "encoding pprof"),
    ("zlib", "zlib1g-dev", "compressing profiles"),
]


def fail(message):
    sys.stderr.write("\nstacksight: " + message + "\n\n")
    raise SystemExit(1)


def pkg_config(*args):
    try:
        return subprocess.run(["pkg-config", *args], check=True, capture_output=True,
                              text=True).stdout.split()
    except FileNotFoundError:
        fail("pkg-config is not installed (Debian/Ubuntu: apt-get install pkg-config)")
    except subprocess.CalledProcessError:
        return None


def native_flags():
    missing = [(name, deb, why) for name, deb, why in NATIVE_DEPENDENCIES
               if pkg_config("--exists", name) is None]
    if missing:
        fail("missing native libraries: " + ", ".join(
            f"{name} (for {why}; Debian/Ubuntu package {deb})" for name, deb, why in missing)
            + "\n  install: apt-get install " + " ".join(deb for _, deb, _ in missing))
    names = [name for name, _, _ in NATIVE_DEPENDENCIES]
    # libcurl is compiled against but not linked: src/common/curl_loader.c
    # loads it at the first upload, so start-up does not pay for its libraries.
    linked = [name for name in names if name != "libcurl"]
    cflags = pkg_config("--cflags", *names)
    # libdeflate is optional: src/common/gzip.c compresses with it when found
    # (Debian libdeflate-dev), at less than half zlib's CPU, else with zlib.
    if pkg_config("--exists", "libdeflate") is not None:
        cflags += pkg_config("--cflags", "libdeflate") + ["-DSS_HAVE_LIBDEFLATE"]
        linked.append("libdeflate")
    return cflags, pkg_config("--libs", *linked) + ["-ldl"]


def generate_pprof_code():
    protoc = shutil.which("protoc-c")
    if protoc is None:
        fail("protoc-c is not installed (Debian/Ubuntu: apt-get install protobuf-c-compiler)")
    os.makedirs(GENERATED, exist_ok=True)
    subprocess.run([protoc, "--c_out=" + GENERATED, "--proto_path=proto", "profile.proto"],
                   check=True, cwd=HERE)


class BuildNative(build_ext):
    def run(self):
        generate_pprof_code()
        cflags, libs = native_flags()
        for ext in self.extensions:
            ext.extra_compile_args += cflags
            ext.extra_link_args += libs + ["-lm"]
        super().run()


CORE_SOURCES = sorted(os.path.join("src", "common", f)
                      for f in os.listdir(os.path.join(HERE, "src", "common")) if f.endswith(".c"))
# Every C file in ext/ is part of the binding.
BINDING_SOURCES = sorted(os.path.join("ext", f)
                         for f in os.listdir(os.path.join(HERE, "ext")) if f.endswith(".c"))

extra_cflags = ["-std=c11", "-Wall", "-Wextra", "-Werror",
                "-Wno-missing-field-initializers", "-fvisibility=hidden", "-O2", "-g"]
if os.environ.get("STACKSIGHT_SANITIZE"):
    extra_cflags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1"]

setup(
    ext_modules=[
        Extension(
            "stacksight._native",
            sources=BINDING_SOURCES + CORE_SOURCES + [os.path.join(GENERATED, "profile.pb-c.c")],
            include_dirs=[GENERATED, "src/common"],
            extra_compile_args=extra_cflags,
            extra_link_args=["-fsanitize=address,undefined"] if os.environ.get("STACKSIGHT_SANITIZE") else [],
        ),
        # The explorer's pprof-to-rows reader (serve/profile_aggregate.py falls
        # back to pure Python without it); no interpreter internals, no libraries.
        Extension(
            "stacksight.serve._pprof_rows",
            sources=[os.path.join("ext", "serve_native", f) for f in ("pprof_rows.c", "pprof_wire.c")],
            include_dirs=[os.path.join("ext", "serve_native")],
            extra_compile_args=extra_cflags,
            extra_link_args=["-fsanitize=address,undefined"] if os.environ.get("STACKSIGHT_SANITIZE") else [],
        ),
    ],
    cmdclass={"build_ext": BuildNative},
)
