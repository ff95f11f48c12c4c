#!/usr/bin/env bash
# The mount checks permissions as a local file system does
# (default_permissions): with -o allow_other two users who are not root
# share it, and each is held to the mode bits.  Files belong to the
# mounting user (root here) until owners are stored.  Before: the mount
# had no default_permissions, so anyone allowed in could write any file
# whatever its mode (gfs-fuse checks nothing itself).
. "$(dirname "$0")/lib.sh"

start_master
start_chunkservers 3
M=$T/mnt
chmod 0711 "$T" # mktemp's 0700 would stop the users before the mount
mount_fuse "$M" -o allow_other
U1=61001
U2=61002
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups -- "$@"; }

mkdir "$M/open" "$M/closed" || fail "mkdir"
chmod 0777 "$M/open" || fail "chmod open"
chmod 0755 "$M/closed" || fail "chmod closed"
echo public >"$M/open/public" && chmod 0644 "$M/open/public" || fail "public"
echo secret >"$M/open/secret" && chmod 0600 "$M/open/secret" || fail "secret"
echo shared >"$M/open/shared" && chmod 0666 "$M/open/shared" || fail "shared"
echo nox >"$M/open/prog" && chmod 0644 "$M/open/prog" || fail "prog"

for u in $U1 $U2; do
	assert_eq "$(as $u cat "$M/open/public")" public "user $u reads a 0644 file"
	as $u cat "$M/open/secret" 2>/dev/null && fail "user $u read a 0600 file of root"
	as $u sh -c "echo x >>'$M/open/public'" 2>/dev/null && fail "user $u wrote a 0644 file of root"
	as $u truncate -s 0 "$M/open/public" 2>/dev/null && fail "user $u truncated a 0644 file of root"
	as $u sh -c "echo $u >>'$M/open/shared'" || fail "user $u cannot write a 0666 file"
	as $u touch "$M/closed/f$u" 2>/dev/null && fail "user $u created in a 0755 directory of root"
	as $u mkdir "$M/closed/d$u" 2>/dev/null && fail "user $u made a directory in a 0755 directory of root"
	as $u chmod 0777 "$M/open/secret" 2>/dev/null && fail "user $u chmod'ed a file of root"
	as $u "$M/open/prog" 2>/dev/null && fail "user $u ran a file without x"
	out=$(as $u setfattr -n user.x -v 1 "$M/open/public" 2>&1) && fail "user $u set an xattr on a 0644 file of root"
	echo "$out" | grep -q "Permission denied" || fail "xattr of user $u: $out"
	# (touch would fail on its utimensat: the new file shows as root's
	# until owners are stored)
	as $u sh -c "echo $u >'$M/open/mine$u'" || fail "user $u cannot create in a 0777 directory"
done
# a 0777 directory (no sticky bit) lets a user remove root's file
as $U1 rm -f "$M/open/public" || fail "remove allowed by a 0777 directory"
assert_eq "$(cat "$M/open/shared")" "shared
$U1
$U2" "both users appended"
assert_eq "$(cat "$M/open/secret")" secret "root still reads"
# without allow_other nobody else gets in
M2=$T/mnt2
mount_fuse "$M2"
as $U1 ls "$M2" >/dev/null 2>&1 && fail "a mount without allow_other let user $U1 in"
ls "$M2/open" >/dev/null || fail "root in its own mount"
log "OK"
