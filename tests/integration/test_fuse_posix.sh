#!/usr/bin/env bash
# Inodes on a mount: stable inode numbers and true link counts, hard
# links (one inode, several names; the inode goes with its last name),
# symlinks (readlink, lstat), FIFOs and device nodes as metadata,
# chown/chgrp, chmod with setuid/setgid/sticky, utimensat of atime and
# mtime with ctime moving, and new inodes owned by the caller.  All of it
# survives a restart of the master (log replay, then the checkpoint),
# and GET /files/PATH and the listing show type, owner, nlink, inode and
# a symlink's target.  Before: ln, ln -s, mkfifo and mknod failed
# (EPERM/ENOSYS), chown did nothing, atime read as mtime.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB
M=$T/mnt
mount_fuse "$M" -o allow_other # the default attribute timeout: the
# kernel caches attributes per name, and must not show stale ones
cd "$T"
chmod 711 "$T" # the caller below is another user

echo hello >"$M/f" || fail "create f"
mkdir -p "$M/d" || fail "mkdir"
assert_eq "$(stat -c %h "$M/f")" 1 "nlink, one name"
ln "$M/f" "$M/d/g" || fail "ln"
assert_eq "$(stat -c %h "$M/f")" 2 "nlink of the first name, cached before"
ln -s ../f "$M/d/s" || fail "ln -s"
mkfifo -m 0640 "$M/p" || fail "mkfifo"
mknod "$M/c" c 1 3 || fail "mknod c"
chown 1234:567 "$M/f" || fail "chown"
chmod 4755 "$M/d/g" || fail "chmod"
chmod 1777 "$M/d" || fail "chmod dir"
touch -a -d '2001-02-03 04:05:06.123456789' "$M/f" || fail "touch -a"
touch -m -d '2002-02-03 04:05:06' "$M/f" || fail "touch -m"
setpriv --reuid 4321 --regid 765 --clear-groups touch "$M/d/mine" ||
	fail "create as 4321"

# NAME: inode nlink mode uid gid atime mtime
st() { stat -c '%i %h %a %u %g %X %Y' "$M/$1"; }
check() {
	local f g
	f=$(st f) g=$(st d/g)
	assert_eq "$f" "$g" "two names, one inode"
	set -- $f
	[ "$1" -gt 1 ] || fail "inode number $1"
	assert_eq "$2 $4 $5" "2 1234 567" "nlink, owner of f"
	assert_eq "$3" 4755 "mode with setuid"
	assert_eq "$6" "$(date -d '2001-02-03 04:05:06' +%s)" "atime"
	assert_eq "$7" "$(date -d '2002-02-03 04:05:06' +%s)" "mtime"
	assert_eq "$(stat -c %x "$M/f" | cut -c1-29)" \
		"2001-02-03 04:05:06.123456789" "atime to the nanosecond"
	assert_eq "$(readlink "$M/d/s")" "../f" "readlink"
	assert_eq "$(stat -c '%F %h' "$M/d/s")" "symbolic link 1" "lstat"
	assert_eq "$(cat "$M/d/s")" hello "the kernel follows it"
	assert_eq "$(stat -c '%F %a' "$M/p")" "fifo 640" "fifo"
	assert_eq "$(stat -c '%F %t %T' "$M/c")" \
		"character special file 1 3" "char device"
	assert_eq "$(stat -c '%a' "$M/d")" 1777 "sticky dir"
	assert_eq "$(stat -c '%u %g' "$M/d/mine")" "4321 765" "caller's inode"
	assert_eq "$(stat -c %h "$M/d")" 2 "a directory without subdirectories"
}
check
ino_before=$(stat -c %i "$M/f")
# ctime in nanoseconds (the master keeps them): no need to wait a second
ctime_ns() { stat -c %.9Z "$1" | tr -d .; }
ctime_before=$(ctime_ns "$M/f")
chmod 4755 "$M/f"
[ "$(ctime_ns "$M/f")" -gt "$ctime_before" ] || fail "chmod moved no ctime"
echo data >"$M/t"
ctime_before=$(ctime_ns "$M/t")
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDWR)
os.ftruncate(fd, 2); os.close(fd)' "$M/t" || fail "ftruncate"
[ "$(ctime_ns "$M/t")" -gt "$ctime_before" ] || fail "ftruncate moved no ctime"
rm "$M/t"

# the REST view
curl -sf "$MASTER_URL/api/v1/files/d/s?stat=1" >"$T/s.json" || fail "GET symlink"
jq -e '.type == "symlink" and .target == "../f" and .nlink == 1' \
	"$T/s.json" >/dev/null || fail "symlink entry: $(cat "$T/s.json")"
curl -sf "$MASTER_URL/api/v1/files/f?stat=1" >"$T/f.json" || fail "GET f"
jq -e ".ino == $ino_before and .nlink == 2 and .uid == 1234 and .gid == 567" \
	"$T/f.json" >/dev/null || fail "file entry: $(cat "$T/f.json")"
curl -sf "$MASTER_URL/api/v1/files?dir=/d" >"$T/d.json" || fail "list /d"
jq -e '[.entries[] | select(.name == "g")][0].ino == '"$ino_before" \
	"$T/d.json" >/dev/null || fail "listing: $(cat "$T/d.json")"

# across restarts: the log, then the checkpoint a clean stop writes
for how in KILL TERM; do
	kill -"$how" "$MASTER_PID"
	wait "$MASTER_PID" 2>/dev/null
	restart_master --chunk-size 1MiB
	wait_for 20 "mount answers" stat "$M/f"
	check
	assert_eq "$(stat -c %i "$M/f")" "$ino_before" "inode number after $how"
done

# changes through one name show through the other at once
chmod 0600 "$M/d/g"
assert_eq "$(stat -c %a "$M/f")" 600 "mode through the other name"
ln "$M/d/g" "$M/h" || fail "ln again"
assert_eq "$(stat -c %h "$M/f")" 3 "nlink of a name not linked from"
rm "$M/h" || fail "rm h"
assert_eq "$(stat -c %h "$M/f")" 2 "nlink after rm of another name"

# the inode goes with its last name, not before
rm "$M/f" || fail "rm f"
assert_eq "$(stat -c %h "$M/d/g")" 1 "nlink after rm"
assert_eq "$(cat "$M/d/g")" hello "data after rm of one name"
rm "$M/d/g" || fail "rm g"
[ ! -e "$M/d/g" ] || fail "g still there"
[ "$(ls "$M/d/s" 2>/dev/null)" = "" ] || true
! cat "$M/d/s" 2>/dev/null || fail "a dangling symlink reads"
ln "$M/d" "$M/d2" 2>/dev/null && fail "a hard link to a directory"
log "inodes, links, owners and times kept"

# The root is an inode like the others: rsync -a sets its times and
# mode (it failed with ENOSYS, and it showed 1970 as its times).
before=$(date +%s)
assert_eq "$(($(stat -c %Y "$M") >= before - 3600))" 1 "the root's mtime is its creation's"
chmod 1777 "$M" || fail "chmod of the root"
chown 7:8 "$M" || fail "chown of the root"
touch -d 2001-02-03 "$M" || fail "touch of the root"
assert_eq "$(stat -c '%a %u %g %y' "$M")" "1777 7 8 2001-02-03 00:00:00.000000000 +0000" "the root's attributes"
assert_eq "$(curl -sf "$MASTER_URL/api/v1/files/?stat=1" | jq -c '[.type, .mode, .uid, .ino]')" '["dir",1023,7,1]' "the root over REST"
assert_eq "$(http_status POST "$MASTER_URL/api/v1/files/?op=rename&to=/r")" 400 "renaming the root"
assert_eq "$(http_status DELETE "$MASTER_URL/api/v1/files/")" 405 "removing the root"
chmod 755 "$M" && chown 0:0 "$M" || fail "root back"
