#!/usr/bin/env bash
# gfs ls DIR lists DIR's entries (by full path, directories with a '/',
# symlinks with their target), not every file below it; --recursive is
# the flat view of every file whose path starts with the prefix; a
# string prefix that names nothing (ls /lo) is that flat view too, as ls
# always took; gfs stat shows type, owner, link count and inode.
# Before: gfs ls /a listed /a/sub/deep too, and no entry had a type
# beyond file and dir.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB
cd "$T"
echo x >x
gfs upload x /a/f >/dev/null || fail "upload /a/f"
gfs upload x /a/sub/deep >/dev/null || fail "upload /a/sub/deep"
gfs upload x /logs/1 >/dev/null || fail "upload /logs/1"
curl -sf -X PUT "$MASTER_URL/api/v1/files/a/s" -d '{"type":"symlink","target":"f"}' \
	>/dev/null || fail "symlink"
curl -sf -X POST "$MASTER_URL/api/v1/files/a/f?op=link&to=/a/h" >/dev/null ||
	fail "link"

# the names after size, date and time
names() { awk '{ $1 = $2 = $3 = ""; sub(/^ +/, ""); print }' | sort | tr '\n' ' '; }
assert_eq "$(gfs ls /a | names)" "/a/f /a/h /a/s -> f /a/sub/ " "gfs ls /a"
assert_eq "$(gfs ls --recursive /a | names)" "/a/f /a/h /a/s -> f /a/sub/deep " \
	"gfs ls --recursive /a"
assert_eq "$(gfs ls / | names)" "/a/ /logs/ " "gfs ls /"
assert_eq "$(gfs ls /lo | awk '{ print $NF }')" /logs/1 "a string prefix"
assert_eq "$(gfs ls /a/f | awk '{ print $NF }')" /a/f "ls of a file"
gfs --json stat /a/h >h.json || fail "stat"
jq -e '.type == "file" and .nlink == 2 and .uid == 0 and .ino > 1' h.json \
	>/dev/null || fail "stat of a link: $(cat h.json)"
# a symlink has no data to download: a clear error, not an I/O error
gfs download /a/s - >/dev/null 2>err.txt && fail "download of a symlink succeeded"
grep -q "gfs: download /a/s: a symbolic link (not followed): not a regular file" err.txt ||
	fail "download of a symlink: $(cat err.txt)"
log "ls lists directories, --recursive the flat view"
