#!/bin/bash
# journaled.sh - compare.sh with both MTAs' queues and the benchmark mailboxes on a
# journaled ext4, made for the run on a loop device (direct I/O) in a file on this disk.
#
#   bench/journaled.sh [RUNS] [WORKLOAD...]      (the arguments of compare.sh)
#
# Why: this project's build machine has its root on ext4 *without* a journal, where
# creating a file walks past every inode freed in its block group in the last minutes
# (bench/README.md). Debian installs ext4 with a journal, where that walk is not made.
# Running the same workloads on a journaled ext4, on the same machine and disk, shows
# both MTAs as most of their users run them. Nothing else changes: compare.sh runs as
# usual, with Postfix's spool, goqmail's $QHOME and /home bind-mounted from the new
# file system, and everything is put back afterwards (even when the run fails).
#
# Environment: IMG (default /var/tmp/goqmail-benchfs.img), SIZE_MB (default 4096),
# QHOME as compare.sh. Must run as root; needs losetup, mkfs.ext4, tar.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
QHOME=${QHOME:-/var/qmail-bench}
IMG=${IMG:-/var/tmp/goqmail-benchfs.img}
SIZE_MB=${SIZE_MB:-4096}
MNT=/mnt/goqmail-benchfs
SPOOL=$(postconf -h queue_directory 2>/dev/null || echo /var/spool/postfix)
TARGETS="$SPOOL $QHOME /home"

die() { echo "journaled.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for d in $TARGETS; do
  [ -d "$d" ] || die "$d is missing: run compare.sh once first (it sets both MTAs up)"
  ! mountpoint -q "$d" || die "$d is already a mount point (an earlier run left it?)"
done

"$HERE/run-goqmail.sh" stop >/dev/null 2>&1 || true
postfix stop >/dev/null 2>&1 || true

LOOP=""
mounted=""
cleanup() {
  set +e
  "$HERE/run-goqmail.sh" stop >/dev/null 2>&1
  postfix stop >/dev/null 2>&1
  sleep 1
  for d in $mounted; do umount "$d" || umount -l "$d"; done
  mountpoint -q "$MNT" && umount "$MNT"
  [ -n "$LOOP" ] && losetup -d "$LOOP"
  rm -f "$IMG"
}
trap cleanup EXIT

echo "journaled.sh: making a ${SIZE_MB} MB journaled ext4 in $IMG"
rm -f "$IMG"
dd if=/dev/zero of="$IMG" bs=1M count="$SIZE_MB" conv=fsync status=none
LOOP=$(losetup --direct-io=on -f --show "$IMG")
mkfs.ext4 -q -F "$LOOP"
mkdir -p "$MNT"
mount "$LOOP" "$MNT"
dumpe2fs -h "$LOOP" 2>/dev/null | grep -q has_journal || die "no journal on $LOOP"

# Copy each tree (owners, modes, setuid bits; Postfix's sockets are made again at its
# start) and mount the copy over it. The originals are untouched and come back at the end.
for d in $TARGETS; do
  c="$MNT/$(echo "$d" | tr / _)"
  mkdir -p "$c"
  tar -C "$d" -cf - . 2>/dev/null | tar -C "$c" -xpf -
  mount --bind "$c" "$d"
  mounted="$d $mounted"
done
echo "journaled.sh: $TARGETS now on $LOOP (ext4 with a journal, direct I/O to $IMG)"

"$HERE/compare.sh" "$@"
