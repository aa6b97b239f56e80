#!/usr/bin/env bash
# Runs both README commands (scripts/demo.sh, scripts/test.sh) on a fresh Debian 12 with none of
# qvit's packages installed: a minimal bookworm made by debootstrap in a folder, the repository
# copied in (committed files only: `git archive HEAD`), each command run as root in a chroot.
# Not a CI step (it downloads a Debian base system and takes a while); run it by hand, as root:
#
#   scripts/fresh_machine_check.sh [--root DIR] [--keep] [--only demo|test]
#
# Prints one PASS/FAIL line per command and leaves each command's log in DIR/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=/var/tmp/qvit-fresh-bookworm
KEEP=0
ONLY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --root) ROOT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "fresh_machine_check: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "fresh_machine_check: run as root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

if [[ ! -x $ROOT/bin/bash ]]; then
  echo "debootstrap bookworm into $ROOT (mirror $MIRROR)"
  debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >/dev/null
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mkdir -p "$ROOT/work/qvit" "$ROOT/work/logs"
rm -rf "$ROOT/work/qvit"/*
git archive HEAD | tar -x -C "$ROOT/work/qvit"
# Third-party test material lives beside the repository (tests skip cleanly without it).
if [[ -d ../shared/data ]]; then mkdir -p "$ROOT/work/shared" && cp -r ../shared/data "$ROOT/work/shared/"; fi

mounts=(proc sys dev dev/pts)
cleanup() { for m in dev/pts dev sys proc; do umount -l "$ROOT/$m" 2>/dev/null || true; done; }
trap cleanup EXIT
mount -t proc proc "$ROOT/proc"; mount --rbind /sys "$ROOT/sys"; mount --rbind /dev "$ROOT/dev"

status=0
for cmd in demo test; do
  [[ -z $ONLY || $ONLY == "$cmd" ]] || continue
  start=$(date +%s)
  if chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
      bash -c "cd /work/qvit && scripts/$cmd.sh" >"$ROOT/work/logs/$cmd.log" 2>&1; then
    echo "PASS scripts/$cmd.sh on a fresh Debian 12 ($(( $(date +%s) - start )) s; log $ROOT/work/logs/$cmd.log)"
  else
    echo "FAIL scripts/$cmd.sh on a fresh Debian 12 ($(( $(date +%s) - start )) s); last lines of $ROOT/work/logs/$cmd.log:"
    tail -15 "$ROOT/work/logs/$cmd.log"
    status=1
  fi
done
cleanup
trap - EXIT
[[ $KEEP == 1 ]] || echo "(chroot kept at $ROOT for re-runs; delete it with rm -rf $ROOT)"
exit $status
