#!/usr/bin/env bash
# A C project cloned and built inside a mount: `git clone` of this
# repository into the mount, then `make all` there (the four programs
# built and run).  git writes packs and renames lock files over refs,
# make checks mtimes and gcc writes objects, archives and dependency
# files through temp names: a mount that programs trust.
# gfs-it: serial
. "$(dirname "$0")/lib.sh"

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel) || fail "no repository"
start_cluster 3 --chunk-size 1MiB
M=$T/mnt
mount_fuse "$M"
start=$SECONDS
git clone -q --no-local "$ROOT" "$M/src" || fail "git clone into the mount"
log "git clone into the mount: $((SECONDS - start)) s"
git -C "$M/src" fsck --no-progress || fail "git fsck of the clone"
assert_eq "$(git -C "$M/src" status --porcelain | wc -l)" 0 "a clean checkout"
start=$SECONDS
make -C "$M/src" -j2 all CFLAGS=-O0 >"$T/make.log" 2>&1 || fail "make all in the mount: $(tail -20 "$T/make.log")"
log "make all in the mount: $((SECONDS - start)) s"
for p in gfs-master gfs-chunkserver gfs-fuse gfs; do
	"$M/src/build/bin/$p" --version >/dev/null || fail "$p built in the mount does not run"
done
# a second make finds nothing to do: mtimes are kept
make -C "$M/src" -q all CFLAGS=-O0 || fail "make finds work after a full build"
log "OK"
