#!/usr/bin/env bash
# Real interpreters that Debian 12 does not ship (CPython 3.14/3.15, Ruby 3.3/3.4)
# come from Debian's own packages in debootstrap chroots. This one script makes
# them (once, then reuses them) and runs commands inside them, so the Python and
# the Ruby version suites share one mechanism.
#
#   tests/chroot/chroot.sh ensure NAME          make chroot NAME if missing; print its path
#   tests/chroot/chroot.sh path NAME            print its path (made or not)
#   tests/chroot/chroot.sh run NAME [--bind DIR]... [--] CMD [ARG]...
#                                               run CMD inside; DIR (default: the
#                                               current directory) is bound at the same path
#
# NAME is a file in tests/chroot/suites/ (NAME.conf) that sets SUITE, PACKAGES and
# optionally SCRIPT (debootstrap script, default SUITE), EXTRA_SUITE and
# EXTRA_PACKAGES (installed with -t EXTRA_SUITE, e.g. Debian's experimental).
# Chroots live in $STACKSIGHT_CHROOTS (default /var/cache/stacksight/chroots).
# Making one needs root (debootstrap); without it the exact command is printed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT_DIR="${STACKSIGHT_CHROOTS:-/var/cache/stacksight/chroots}"

die() { echo "chroot.sh: $*" >&2; exit 2; }

# The mirror apt already uses on this machine (the only one reachable here).
mirror() {
  local uri
  uri=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null |
                         awk '{print $2}' | grep -v security | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

load_conf() {
  local name="$1"
  [[ "$name" =~ ^[a-z0-9.-]+$ ]] || die "bad chroot name '$name'"
  [ -f "$HERE/suites/$name.conf" ] || die "no such chroot '$name' (see $HERE/suites/)"
  SUITE="" SCRIPT="" PACKAGES="" EXTRA_SUITE="" EXTRA_PACKAGES=""
  # shellcheck disable=SC1090
  . "$HERE/suites/$name.conf"
  [ -n "$SUITE" ] || die "$name.conf sets no SUITE"
  SCRIPT="${SCRIPT:-$SUITE}"
  DIR="$ROOT_DIR/$name"
}

# Private mount namespace: nothing mounted here outlives the command or leaks
# into the host's mount table, even if the command is killed.
in_namespace() {  # DIR BINDS... -- CMD...
  local dir="$1"; shift
  local binds=()
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do binds+=("$1"); shift; done
  shift
  local script='set -e; d="$1"; shift; mount -t proc proc "$d/proc"; mount --rbind /dev "$d/dev";'
  script+=' while [ "$1" != "--" ]; do mkdir -p "$d$1"; mount --bind "$1" "$d$1"; shift; done; shift;'
  script+=' exec chroot "$d" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8'
  script+=' PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  script+=' PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
  script+=' STACKSIGHT_IN_CHROOT=1 "$@"'
  unshare -m --propagation private bash -c "$script" chroot-run "$dir" "${binds[@]}" -- "$@"
}

apt_in() {  # DIR ARGS...
  local dir="$1"; shift
  in_namespace "$dir" -- env DEBIAN_FRONTEND=noninteractive apt-get -qq \
    -o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false "$@"
}

make_chroot() {
  local name="$1"
  [ "$(id -u)" = 0 ] || die "making chroot '$name' needs root; run: sudo $0 ensure $name"
  command -v debootstrap >/dev/null || die "debootstrap is missing; run: apt-get install -y debootstrap"
  local script="/usr/share/debootstrap/scripts/$SCRIPT"
  [ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
  local tmp="$DIR.partial"
  rm -rf "$tmp"; mkdir -p "$ROOT_DIR"
  local started=$SECONDS
  echo "chroot.sh: making '$name' ($SUITE from $(mirror)) in $DIR ..." >&2
  local include=""
  [ -z "$EXTRA_SUITE" ] && include="--include=$(echo $PACKAGES | tr ' ' ,)"
  if ! debootstrap --variant=minbase $include "$SUITE" "$tmp" "$(mirror)" "$script" \
       >"$ROOT_DIR/$name.log" 2>&1; then
    tail -n 30 "$ROOT_DIR/$name.log" >&2; die "debootstrap of '$name' failed (log: $ROOT_DIR/$name.log)"
  fi
  cp /etc/ssl/certs/ca-certificates.crt "$tmp/etc/ssl/certs/ca-certificates.crt" 2>/dev/null ||
    { mkdir -p "$tmp/etc/ssl/certs"; cp /etc/ssl/certs/ca-certificates.crt "$tmp/etc/ssl/certs/"; }
  cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null || true
  if [ -n "$EXTRA_SUITE" ]; then
    echo "deb $(mirror) $EXTRA_SUITE main" > "$tmp/etc/apt/sources.list.d/$EXTRA_SUITE.list"
    apt_in "$tmp" update >>"$ROOT_DIR/$name.log" 2>&1
    apt_in "$tmp" install -y $PACKAGES >>"$ROOT_DIR/$name.log" 2>&1 ||
      { tail -n 30 "$ROOT_DIR/$name.log" >&2; die "apt-get install in '$name' failed"; }
    apt_in "$tmp" install -y -t "$EXTRA_SUITE" $EXTRA_PACKAGES >>"$ROOT_DIR/$name.log" 2>&1 ||
      { tail -n 30 "$ROOT_DIR/$name.log" >&2; die "apt-get install -t $EXTRA_SUITE in '$name' failed"; }
  fi
  apt_in "$tmp" clean >/dev/null 2>&1 || true
  # The configuration it was made from: a changed .conf makes it anew.
  cp "$HERE/suites/$name.conf" "$tmp/.stacksight-chroot.conf"
  rm -rf "$DIR"; mv "$tmp" "$DIR"
  echo "chroot.sh: '$name' ready in $((SECONDS - started)) s" >&2
}

ensure() {
  local name="$1"; load_conf "$name"
  mkdir -p "$ROOT_DIR" 2>/dev/null || true
  # One maker at a time per chroot (parallel make targets may ask together).
  exec 9>"$ROOT_DIR/.$name.lock" 2>/dev/null || die "cannot write $ROOT_DIR (needs root: sudo $0 ensure $name)"
  flock 9
  if ! cmp -s "$HERE/suites/$name.conf" "$DIR/.stacksight-chroot.conf" 2>/dev/null; then
    make_chroot "$name"
  fi
  exec 9>&-
  echo "$DIR"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  ensure) [ "$#" = 1 ] || die "usage: $0 ensure NAME"; ensure "$1" ;;
  path) [ "$#" = 1 ] || die "usage: $0 path NAME"; load_conf "$1"; echo "$DIR" ;;
  run)
    [ "$#" -ge 1 ] || die "usage: $0 run NAME [--bind DIR]... [--] CMD..."
    name="$1"; shift; load_conf "$name"
    [ -f "$DIR/.stacksight-chroot.conf" ] || die "chroot '$name' is not made; run: $0 ensure $name"
    binds=()
    while [ "$#" -gt 0 ]; do
      case "$1" in
        --bind) binds+=("$(cd "$2" && pwd)"); shift 2 ;;
        --) shift; break ;;
        *) break ;;
      esac
    done
    [ "$#" -ge 1 ] || die "no command given"
    [ "${#binds[@]}" -gt 0 ] || binds=("$PWD")
    [ "$(id -u)" = 0 ] || die "running in a chroot needs root; run: sudo $0 run $name ..."
    in_namespace "$DIR" "${binds[@]}" -- bash -c 'cd "$1" && shift && exec "$@"' run "$PWD" "$@"
    ;;
  *) die "usage: $0 ensure|path|run NAME ..." ;;
esac
