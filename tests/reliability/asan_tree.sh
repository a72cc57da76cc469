#!/usr/bin/env bash
# asan_tree.sh DEST PYTHON - a copy of the source tree with the extension
# built in place under ASan+UBSan.
#
# The normal tests import ext/stacksight/_native*.so from the working tree;
# building the sanitized extension there would replace it under everyone
# else's feet. So the sources and tests are copied to DEST (tar keeps
# mtimes; the sanitized .so in DEST is kept between runs) and built there; the
# tests run from DEST, whose conftest then points PYTHONPATH at DEST/ext.
set -euo pipefail
dest=$1
python=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")   # absolute, not resolved: keep the venv
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dest"
rm -rf "$dest/src" "$dest/proto" "$dest/tests"
[ -d "$dest/ext" ] && find "$dest/ext" -type f ! -name '*.so' -delete   # keep the sanitized build
tar -C "$root" -cf - --exclude='*.so' --exclude='__pycache__' \
    ext src proto tests setup.py pyproject.toml | tar -C "$dest" -xf -
[ -f "$root/README.md" ] && cp "$root/README.md" "$dest/"
cd "$dest"
STACKSIGHT_SANITIZE=1 "$python" setup.py -q build_ext --inplace >build.log 2>&1 || { cat build.log; exit 1; }
ls ext/stacksight/_native*.so >/dev/null
