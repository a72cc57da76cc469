#!/usr/bin/env bash
# asan_ruby.sh DEST - the Ruby tests against an ASan+UBSan build of the gem.
#
# Like asan_tree.sh for Python: the gem's tests load gem/lib from the tree
# their support.rb sits in, so the gem, the core and the tests are copied to
# DEST and the sanitized extension is built into DEST/gem/lib; the normal
# gem/lib/stacksight/stacksight_native.so is never touched. Ruby itself is
# not instrumented: libasan is preloaded, leak checking is off (the VM frees
# little at exit).
set -euo pipefail
mkdir -p "$1"; dest=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-gcc}
san="-fsanitize=address,undefined -fno-omit-frame-pointer"
mkdir -p "$dest/ext-build"
rm -rf "$dest/gem" "$dest/src" "$dest/proto" "$dest/tests"
tar -C "$root" -cf - --exclude='*.so' gem src proto tests/ruby stacksight.gemspec | tar -C "$dest" -xf -
(
  cd "$dest/ext-build"
  ruby "$dest/gem/ext/stacksight/extconf.rb" >extconf.log 2>&1 || { cat extconf.log; exit 1; }
  [ ! -f "$dest/gem/lib/stacksight/build_status.txt" ] || { cat "$dest/gem/lib/stacksight/build_status.txt"; exit 1; }
  make -s -j2 optflags="-O1 -g $san" LDSHARED="$cc -shared $san" >make.log 2>&1 || { cat make.log; exit 1; }
)
cp "$dest/ext-build/stacksight_native.so" "$dest/gem/lib/stacksight/"
cd "$dest"
# The runner only spawns and decodes; preloading ASan into it too made its
# own (uninstrumented) threads abort at exit. Children get the runtime.
export TEST_CHILD_LD_PRELOAD=$($cc -print-file-name=libasan.so)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:handle_segv=0:allow_user_segv_handler=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
exec ruby -I gem/lib -I tests/ruby -e 'ARGV.each { |f| require File.expand_path(f) }' tests/ruby/test_*.rb
