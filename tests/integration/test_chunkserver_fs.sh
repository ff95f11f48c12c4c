#!/usr/bin/env bash
# The file system under the data directory decides whether a chunk written
# again (an APPEND) may have its xattr meta replaced in place: on ext4
# with a journal it is, on ext4 without one (where a crash may tear an
# xattr rewritten in place) the new meta goes to a .meta file renamed into
# place.  Both say so at start-up, and both serve the same bytes, also
# after a restart.  Each file system is a loop-mounted image (root).
# Packing is off: the test is about chunk files (small ones would be
# packed records, docs/CHUNKSERVER.md "Packed small chunks").
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

# fs_at DIR MKFS_ARGS...: a fresh 64 MiB ext4 mounted at DIR, or status 1.
fs_at() {
	local d=$1
	shift
	truncate -s 64M "$d.img" && mkfs.ext4 -q -F "$@" "$d.img" >/dev/null 2>&1 &&
		mkdir -p "$d" && mount -o loop "$d.img" "$d" 2>/dev/null || return 1
	TMPFS+=("$d")
}
if ! fs_at "$T/cs0" || ! fs_at "$T/cs1" -O ^has_journal; then
	log "skipped: cannot mount a loop device here"
	exit 0
fi
start_chunkserver 0 --reserve 0 --pack-max 0
start_chunkserver 1 --reserve 0 --pack-max 0
grep -q "on ext3/ext4 with a journal: a chunk written again has its xattr meta replaced in place" \
	"$T/cs0.log" || fail "cs0 does not say its choice"
grep -q "on ext2/3/4 without a journal: an xattr replaced in place may be torn" \
	"$T/cs1.log" || fail "cs1 does not say its choice"

random_file "$T/a" 5000
random_file "$T/b" 3000
cat "$T/a" "$T/b" >"$T/ab"
H=00000000000000f1
for i in 0 1; do
	assert_eq "$(put_chunk $i $H "version=1&offset=0" "$T/a")" 200 "new chunk on cs$i"
	getfattr -n user.gfs.meta "$(data_file $i $H)" >/dev/null 2>&1 ||
		fail "cs$i: a new chunk's meta is not in its xattr"
	assert_eq "$(put_chunk $i $H "version=2&offset=5000" "$T/b")" 200 "append on cs$i"
	assert_eq "$(chunk_sha $i $H)" "$(sha "$T/ab")" "bytes on cs$i"
done
getfattr -n user.gfs.meta "$(data_file 0 $H)" >/dev/null 2>&1 ||
	fail "journaled: the append's meta is not in the xattr"
[ ! -e "$(data_file 0 $H).meta" ] || fail "journaled: a .meta file"
[ -e "$(data_file 1 $H).meta" ] || fail "no journal: the append's meta is not in a .meta file"
! getfattr -n user.gfs.meta "$(data_file 1 $H)" >/dev/null 2>&1 ||
	fail "no journal: the xattr is still there"

# a restart reads both homes back
kill -TERM "${CS_PIDS[1]}"
wait "${CS_PIDS[1]}"
start_chunkserver 1 --reserve 0 --pack-max 0
assert_eq "$(curl_code "$(chunk_url 1 $H)")" 200 "after a restart"
assert_eq "$(header X-GFS-Version)" 2 "version after a restart"
assert_same_file "$T/last_body" "$T/ab" "bytes after a restart"
log "ok"
