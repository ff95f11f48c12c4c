#!/usr/bin/env bash
# User extended attributes through a mount: stored in the master, set,
# read, listed and removed with setfattr/getfattr and setxattr(2)'s
# flags, with ext4's errors (EEXIST, ENODATA, ERANGE, E2BIG, ENOTSUP,
# ENOSPC); user.gfs.lease and user.gfs.chunks readable by name but never
# listed, so getfattr -d reports nothing it cannot read; the REST routes
# agree; everything survives a failover to the backup.  Before: any
# setfattr but user.gfs.lease was ENOTSUP, and getfattr -d reported "No
# such attribute" for the user.gfs.lease it listed on every file.  An
# inode has one set of attributes, shown by each of its hard links, and
# a change moves its ctime.
. "$(dirname "$0")/lib.sh"

start_master --failover-timeout 2s --probation 3s
start_backup --failover-timeout 2s --probation 3s
start_chunkservers 3
M=$T/mnt
mount_fuse "$M"
P=$MASTER_URL/api/v1
B=$BACKUP_URL/api/v1
attached() { curl -sf "$P/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 20 "backup attached" attached

echo data >"$M/f" || fail "create f"
mkdir "$M/d" || fail "mkdir d"

# set, get, binary and empty values, directories
setfattr -n user.color -v blue "$M/f" || fail "setfattr"
assert_eq "$(getfattr --only-values -n user.color "$M/f")" blue "get"
printf 'a\0b\377c' >"$T/bin"
setfattr -n user.bin -v "0x$(hexof <"$T/bin")" "$M/f" || fail "binary value"
assert_eq "$(getfattr --only-values -n user.bin "$M/f" | hexof)" "$(hexof <"$T/bin")" "binary value"
setfattr -n user.empty "$M/f" || fail "empty value"
setfattr -n user.dir -v x "$M/d" || fail "directory attribute"
assert_eq "$(getfattr --only-values -n user.dir "$M/d")" x "directory get"
# the root has them too (the kernel turns every xattr call of a mount
# off after one ENOSYS, which the root's first gave: no route)
setfattr -n user.root -v r "$M" || fail "setfattr on the root"
assert_eq "$(getfattr --only-values -n user.root "$M")" r "root get"
assert_eq "$(getfattr -m - --absolute-names "$M" | grep -c '^user\.')" 1 "root lists its one"
setfattr -n user.later -v 1 "$M/d" || fail "setfattr after the root's"
setfattr -x user.later "$M/d" || fail "removexattr after the root's"

# listxattr lists what exists, and getfattr -d reads all of it
names=$(getfattr -m - --absolute-names "$M/f" | grep '^user' | sort | tr '\n' ' ')
assert_eq "$names" "user.bin user.color user.empty " "listed names"
getfattr -d -m - --absolute-names "$M/f" "$M/d" >/dev/null 2>"$T/err" || fail "getfattr -d: $(cat "$T/err")"
[ ! -s "$T/err" ] || fail "getfattr -d complained: $(cat "$T/err")"
assert_eq "$(getfattr -m - --absolute-names "$M/d" | grep -c user.)" 1 "directory lists its one"
# the mount's own views: readable by name, not listed
getfattr -n user.gfs.chunks "$M/f" >/dev/null || fail "user.gfs.chunks"
setfattr -n user.gfs.lease -v 1 "$M/f" || fail "lease"
getfattr --only-values -n user.gfs.lease "$M/f" | grep '^holder=' >/dev/null || fail "lease view"
getfattr -m - --absolute-names "$M/f" | grep user.gfs >/dev/null && fail "a view is listed"
setfattr -x user.gfs.lease "$M/f" || fail "unlease"

# setxattr(2) flags and errors, as ext4 gives them
python3 - "$M/f" "$M/d" <<'PY' || fail "errors"
import ctypes, errno, os, sys
f, d = sys.argv[1], sys.argv[2]
def err(fn, *a):
    try:
        fn(*a)
    except OSError as e:
        return e.errno
    return 0
def check(what, got, want):
    if got != want:
        print("FAIL:", what, "gave", errno.errorcode.get(got, got),
              "not", errno.errorcode.get(want, want)); sys.exit(1)
check("create over existing", err(os.setxattr, f, "user.color", b"x", os.XATTR_CREATE), errno.EEXIST)
check("replace of missing", err(os.setxattr, f, "user.none", b"x", os.XATTR_REPLACE), errno.ENODATA)
check("create", err(os.setxattr, f, "user.new", b"n", os.XATTR_CREATE), 0)
check("replace", err(os.setxattr, f, "user.new", b"m", os.XATTR_REPLACE), 0)
assert os.getxattr(f, "user.new") == b"m"
check("get of missing", err(os.getxattr, f, "user.none"), errno.ENODATA)
check("remove of missing", err(os.removexattr, f, "user.none"), errno.ENODATA)
check("remove", err(os.removexattr, f, "user.new"), 0)
check("trusted namespace", err(os.setxattr, f, "trusted.x", b"x"), errno.EOPNOTSUPP)
check("security namespace", err(os.setxattr, f, "security.x", b"x"), errno.EOPNOTSUPP)
check("get of another namespace", err(os.getxattr, f, "trusted.x"), errno.ENODATA)
check("name of 255 bytes", err(os.setxattr, f, "user." + "n" * 250, b"x"), 0)
check("name of 256 bytes", err(os.setxattr, f, "user." + "n" * 251, b"x"), errno.ERANGE)
check("value of 64 KiB", err(os.setxattr, d, "user.big1", b"v" * 65536), 0)
check("value past 64 KiB", err(os.setxattr, d, "user.big2", b"v" * 65537), errno.E2BIG)
check("second 64 KiB value", err(os.setxattr, d, "user.big2", b"v" * (65536 - 28)), 0)  # with user.dir=x: 128 KiB
check("past the node's total", err(os.setxattr, d, "user.c", b""), errno.ENOSPC)
check("removals make room", err(os.removexattr, d, "user.big1"), 0)
check("room again", err(os.setxattr, d, "user.c", b""), 0)
# small buffers: ERANGE; size 0 asks for the length
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(64)
n = libc.getxattr(f.encode(), b"user.color", None, 0)
check("length of a value", n, 4)
n = libc.getxattr(f.encode(), b"user.color", buf, 3)
check("getxattr into 3 bytes", ctypes.get_errno() if n < 0 else 0, errno.ERANGE)
n = libc.listxattr(f.encode(), None, 0)
check("length of the list", n > 0, True)
n = libc.listxattr(f.encode(), buf, 5)
check("listxattr into 5 bytes", ctypes.get_errno() if n < 0 else 0, errno.ERANGE)
PY

# REST sees the same (values in base64) and a bad name changes nothing
assert_eq "$(curl -sf "$P/xattrs/f?name=user.color" | jq -r '.xattrs["user.color"]' | base64 -d)" blue "REST get"
assert_eq "$(http_status PUT "$P/xattrs/f" -d '{"name":"trusted.a","value":""}')" 400 "REST foreign namespace"
assert_eq "$(http_status PUT "$P/xattrs/f" -d '{"name":"user.a","value":"!!"}')" 400 "REST bad base64"
assert_eq "$(curl -sf "$P/xattrs/" | jq -r '.xattrs["user.root"]' | base64 -d)" r "REST get of the root"
assert_eq "$(http_status GET "$P/xattrs/f?name=user.none")" 404 "REST missing"
assert_eq "$(json_error_code)" no_attribute
assert_eq "$(http_status PUT "$P/xattrs/f" -d '{"name":"user.color","value":"","flag":"create"}')" 409 "REST create over existing"
assert_eq "$(http_status PUT "$P/xattrs/nope" -d '{"name":"user.a","value":""}')" 404 "REST no file"
assert_eq "$(http_status PUT "$P/xattrs/f" -d '{"name":"user.rest","value":"cmVzdA=="}')" 200 "REST set"
assert_eq "$(getfattr --only-values -n user.rest "$M/f")" rest "set by REST, read through the mount"
assert_eq "$(http_status DELETE "$P/xattrs/f?name=user.rest")" 200 "REST remove"
# the CLI: list (text quoted, other bytes in base64), get, set, remove
assert_eq "$(gfs xattr /f user.color)" blue "gfs xattr get"
gfs xattr /f user.cli "set by gfs" || fail "gfs xattr set"
assert_eq "$(getfattr --only-values -n user.cli "$M/f")" "set by gfs" "set by the CLI, read through the mount"
gfs xattr /f >"$T/list" || fail "gfs xattr list"
grep -qx 'user.color="blue"' "$T/list" || fail "list: $(cat "$T/list")"
grep -qx "user.bin=0s$(base64 -w0 <"$T/bin")" "$T/list" || fail "binary in the list: $(cat "$T/list")"
grep -qx 'user.cli="set by gfs"' "$T/list" || fail "list: $(cat "$T/list")"
gfs rmxattr /f user.cli || fail "gfs rmxattr"
out=$(gfs rmxattr /f user.cli 2>&1) && fail "gfs rmxattr of a missing attribute"
assert_eq "$(wc -l <<<"$out")" 1 "one line: $out"
gfs xattr /nope >/dev/null 2>&1 && fail "gfs xattr of a missing file"

# an inode's attributes: every hard link shows them, and a change moves
# the inode's ctime (as the master has it, not only the kernel's)
ln "$M/f" "$M/f-link" || fail "hard link"
assert_eq "$(getfattr --only-values -n user.color "$M/f-link")" blue "through a hard link"
ctime() { curl -sf "$P/files/f?stat=1" | jq -r .ctime_ns; }
c0=$(ctime)
setfattr -n user.viaLink -v 1 "$M/f-link" || fail "set through a hard link"
assert_eq "$(getfattr --only-values -n user.viaLink "$M/f")" 1 "set through a hard link, read by the first name"
c1=$(ctime)
[ "$c1" -gt "$c0" ] || fail "setxattr left the ctime: $c0 then $c1"
setfattr -x user.viaLink "$M/f" || fail "remove by the first name"
[ "$(ctime)" -gt "$c1" ] || fail "removexattr left the ctime at $c1"
getfattr -n user.viaLink "$M/f-link" >/dev/null 2>&1 && fail "removed, still seen through the link"
rm "$M/f-link" || fail "rm the hard link"

# the backup has every acknowledged change at once
long=user.$(printf 'n%.0s' $(seq 250))
assert_eq "$(curl -sf "$B/xattrs/f" | jq -c '.xattrs | keys')" "[\"user.bin\",\"user.color\",\"user.empty\",\"$long\"]" "backup"
assert_eq "$(curl -sf "$B/xattrs/d" | jq -c .)" "$(curl -sf "$P/xattrs/d" | jq -c .)" "backup"

# failover: the promoted backup has them all, the mount reads them on
before=$(getfattr -d -m - --absolute-names "$M/f" "$M/d" | md5sum)
kill9 "$MASTER_PID"
promoted() { curl -sf "$B/status" | jq -e '.role == "primary"' >/dev/null; }
wait_for 20 "backup promoted" promoted
after=$(getfattr -d -m - --absolute-names "$M/f" "$M/d" | md5sum)
assert_eq "$after" "$before" "attributes after failover"
setfattr -n user.after -v 1 "$M/f" || fail "set on the new primary"
setfattr -x user.color "$M/f" || fail "remove on the new primary"
assert_eq "$(getfattr -m - --absolute-names "$M/f" | grep -c '^user\.')" 4 "after failover"
log "OK"
