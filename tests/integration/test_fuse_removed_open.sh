#!/usr/bin/env bash
# A file removed while open is whole through its descriptor: after an
# unlink, fstat gives its size and link count 0, fchmod and fchown take
# (fstat shows them), writes read back, ftruncate works, and a second
# descriptor of the same file sees the same; after a rename over it, the
# replaced file's old content reads back and fstat works, while the name
# shows the new file.  The directory lists neither.  Extended
# attributes of a removed file (kept by the master) read, change and
# list through its descriptor.  fstat of an open file one of whose hard
# links went counts the names left (it said 0 before).  Before: every fstat and fchmod of such a
# file was ESTALE (libfuse had no path for it), and its extended
# attributes ENOENT (asked of the master by the hidden name).
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1MiB
start_chunkservers 3
M=$T/mnt
mount_fuse "$M"
mkdir "$M/d" || fail "mkdir"

python3 - "$M/d" <<'PY' || fail "a removed file through its descriptor"
import errno, os, stat, sys
d = sys.argv[1]
def check(what, got, want):
    if got != want:
        sys.exit("%s: got %r, want %r" % (what, got, want))

# unlink while open
p = os.path.join(d, "u")
with open(p, "wb") as f:
    f.write(b"Hello, World!")
fd = os.open(p, os.O_RDWR)
fd2 = os.open(p, os.O_RDONLY)
os.unlink(p)
check("exists after unlink", os.path.exists(p), False)
st = os.fstat(fd)
check("size", st.st_size, 13)
check("nlink", st.st_nlink, 0)
check("mode", stat.S_IMODE(st.st_mode), 0o644)
os.fchmod(fd, 0o600)
check("mode after fchmod", stat.S_IMODE(os.fstat(fd).st_mode), 0o600)
check("nlink after fchmod", os.fstat(fd).st_nlink, 0)
os.fchown(fd, 1234, 5678)
st = os.fstat(fd)
check("owner after fchown", (st.st_uid, st.st_gid), (1234, 5678))
check("pwrite", os.pwrite(fd, b"new bytes", 20), 9)
check("pread", os.pread(fd, 100, 0), b"Hello, World!" + b"\0" * 7 + b"new bytes")
check("size after write", os.fstat(fd).st_size, 29)
check("other descriptor", os.pread(fd2, 100, 0)[20:], b"new bytes")
check("other fstat", os.fstat(fd2).st_nlink, 0)
os.ftruncate(fd, 5)
check("after ftruncate", os.pread(fd, 100, 0), b"Hello")
check("listing", os.listdir(d), [])
os.close(fd2)
os.close(fd)

# extended attributes through the descriptor of a removed file
def xattrs_of_removed(fd, what):
    check(what + ": getxattr", os.getxattr(fd, "user.a"), b"one")
    os.setxattr(fd, "user.b", b"two")
    check(what + ": set, get", os.getxattr(fd, "user.b"), b"two")
    os.setxattr(fd, "user.a", b"uno", os.XATTR_REPLACE)
    check(what + ": replaced", os.getxattr(fd, "user.a"), b"uno")
    check(what + ": list", sorted(os.listxattr(fd)), ["user.a", "user.b"])
    os.removexattr(fd, "user.b")
    check(what + ": list after remove", os.listxattr(fd), ["user.a"])
    try:
        os.getxattr(fd, "user.b")
        sys.exit(what + ": a removed attribute is still there")
    except OSError as e:
        check(what + ": removed attribute", e.errno, errno.ENODATA)
x = os.path.join(d, "x")
with open(x, "wb") as f:
    f.write(b"x")
os.setxattr(x, "user.a", b"one")
fd = os.open(x, os.O_RDWR)
os.unlink(x)
xattrs_of_removed(fd, "unlinked")
os.close(fd)
with open(x, "wb") as f:
    f.write(b"x")
os.setxattr(x, "user.a", b"one")
with open(x + ".new", "wb") as f:
    f.write(b"new x")
fd = os.open(x, os.O_RDWR)
os.rename(x + ".new", x)
xattrs_of_removed(fd, "replaced")
check("the new file's own", os.listxattr(x), [])
os.close(fd)
os.unlink(x)

# one of several hard links of an open file goes, by unlink or by a
# rename over it: fstat counts the names left, as the other name does
h = os.path.join(d, "h")
with open(h, "wb") as f:
    f.write(b"linked")
os.link(h, h + "2")
os.link(h, h + "3")
fd = os.open(h, os.O_RDONLY)
os.unlink(h)
check("nlink after unlinking one of three", os.fstat(fd).st_nlink, 2)
os.fchmod(fd, 0o600) # libfuse's setattr answers with our count as it is
check("nlink after fchmod", os.fstat(fd).st_nlink, 2)
check("the other name's", os.stat(h + "2").st_nlink, 2)
check("read after unlinking a link", os.pread(fd, 100, 0), b"linked")
os.close(fd)
fd = os.open(h + "2", os.O_RDONLY)
with open(h, "wb") as f:
    f.write(b"over it")
os.rename(h, h + "2")
check("nlink after a rename over one of two", os.fstat(fd).st_nlink, 1)
check("read after a rename over a link", os.pread(fd, 100, 0), b"linked")
os.close(fd)
check("the last name's", os.stat(h + "3").st_nlink, 1)
os.unlink(h + "2")
os.unlink(h + "3")

# rename over a file open here
a, b = os.path.join(d, "a"), os.path.join(d, "b")
with open(a, "wb") as f:
    f.write(b"the new one")
with open(b, "wb") as f:
    f.write(b"the old one, longer")
fd = os.open(b, os.O_RDONLY)
ino = os.fstat(fd).st_ino
os.rename(a, b)
check("old content", os.pread(fd, 100, 0), b"the old one, longer")
st = os.fstat(fd)
check("old fstat", (st.st_ino, st.st_size, st.st_nlink), (ino, 19, 0))
with open(b, "rb") as f:
    check("new content", f.read(), b"the new one")
check("a gone", os.path.exists(a), False)
check("listing after rename", os.listdir(d), ["b"])
os.close(fd)
check("listing after close", os.listdir(d), ["b"])
PY
rm "$M/d/b" || fail "rm b"
rmdir "$M/d" || fail "rmdir after the files went"
log "OK"
