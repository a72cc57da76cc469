#!/usr/bin/env bash
# ruby_suite.sh NAME RUBY [RAKE TASK...] - the gem's whole Ruby suite on the
# Ruby of chroot NAME (tests/chroot/suites/NAME.conf), e.g. ruby3.4 in sid-ruby34.
#
# The host's tests load gem/lib/stacksight/stacksight_native.so from the
# working tree; an extension built against another Ruby must not replace it.
# So the gem, the core, the tests and the Rakefile are copied to
# build/rubies/NAME (tar keeps mtimes) and built and tested there, inside the
# chroot, with rake run by that Ruby (its RbConfig.ruby then builds the
# extension and runs every child process of the tests).
set -euo pipefail
name=$1 ruby=$2; shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/build/rubies/$name"
mkdir -p "$dest"
rm -rf "$dest/gem" "$dest/src" "$dest/proto" "$dest/tests"
tar -C "$root" -cf - --exclude='*.so' --exclude='build_status.txt' \
    gem src proto tests/ruby Rakefile stacksight.gemspec | tar -C "$dest" -xf -
"$root/tests/chroot/chroot.sh" ensure "$name" >/dev/null
cd "$dest"
binds=(--bind "$dest")
# tests/ruby/test_process.rb reads profiles with `go tool pprof` as well.
[ -d /usr/local/go ] && binds+=(--bind /usr/local/go)
# The chroot starts from an empty environment; TEST (one file) passes through.
envs=()
[ -n "${TEST:-}" ] && envs+=("TEST=$TEST")
exec "$root/tests/chroot/chroot.sh" run "$name" "${binds[@]}" -- \
  env "${envs[@]}" "$ruby" /usr/bin/rake "${@:-test}"
