#!/usr/bin/env bash
# Two mounts are two clients: a file closed on one is read whole on the
# other; a lease taken with setfattr on one makes the other's cat and cp
# fail with EBUSY until released, while the holder keeps working.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB
A=$T/a
B=$T/b
mount_fuse "$A"
mount_fuse "$B"
cd "$T"
random_file f $((3 << 20))
cp f "$A/shared" || fail "cp on A"
cmp f "$B/shared" || fail "B does not read what A closed"

setfattr -n user.gfs.lease -v 1 "$A/shared" || fail "setfattr lease on A"
getfattr -n user.gfs.lease --only-values "$A/shared" | grep -q "holder=" || fail "getfattr lease"
out=$(cat "$B/shared" 2>&1 >/dev/null) && fail "B read a file leased by A"
echo "$out" | grep -q "Device or resource busy" || fail "B's error is not EBUSY: $out"
cp f "$B/shared" 2>/dev/null && fail "B wrote a file leased by A"
# the holder keeps working
cmp f "$A/shared" || fail "A cannot read its leased file"
random_file g 5000
cp g "$A/shared" || fail "A cannot write its leased file"
setfattr -x user.gfs.lease "$A/shared" || fail "setfattr -x"
cmp g "$B/shared" || fail "B after release"
out=$(getfattr -n user.gfs.lease "$B/shared" 2>&1)
echo "$out" | grep -q "No such attribute" ||
	fail "a released lease is still shown: $out"

# the chunk map is visible as an xattr
getfattr -n user.gfs.chunks --only-values "$B/shared" | grep -q "http://" ||
	fail "user.gfs.chunks lists no replicas"
# stored attributes are shared; the views are not listed
setfattr -n user.note -v hi "$A/shared" || fail "setfattr"
getfattr -d -m - "$B/shared" | grep '^user.note="hi"' >/dev/null || fail "listxattr"
getfattr -d -m - "$B/shared" | grep user.gfs >/dev/null && fail "a view is listed"
log "ok"
