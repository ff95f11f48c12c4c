#!/usr/bin/env bash
# A file with two hard links, open for writing through one of them, goes
# on being that file when that name is unlinked (POSIX, as ext4): writes
# through the descriptor, one needing a new chunk too, land under the
# other name at close; fstat counts the names the inode has now (a link
# made or renamed later included), also after the other name is renamed
# while open.  Unlinking the last name then makes it a removed open file
# (kept by the master until the close, nothing left after).  A second
# mount that unlinks the name the first one writes through: the first
# one's data fsynced before stays under the other name, and once the
# name holds another file its writes fail (ESTALE) and never land there.
# A rename between two names of the open file changes nothing.
# Before: the mount took the descriptor for removed; the write needing a
# new chunk failed with ENOENT, nothing written reached the other name,
# and fstat kept the count of the unlink.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1MiB
start_chunkservers 3
M=$T/mnt
N=$T/mnt2
mount_fuse "$M"
mount_fuse "$N"
mkdir "$M/d" || fail "mkdir"

python3 - "$M/d" "$N/d" "$MASTER_URL/api/v1/status" <<'PY' || fail "the open link"
import errno, json, os, sys, time, urllib.request
d, d2, status = sys.argv[1:4]
MiB = 1 << 20
def check(what, got, want):
    if got != want:
        sys.exit("%s: got %r, want %r" % (what, got, want))
def kept():
    return json.load(urllib.request.urlopen(status))["kept"]
def read(p):
    with open(p, "rb") as f:
        return f.read()
def put(p, data):
    with open(p, "wb") as f:
        f.write(data)

# unlink the name written through; the other name gets every write
a, b, c, e = (os.path.join(d, n) for n in ("a", "b", "c", "e"))
put(a, b"0123456789")
os.link(a, b)
fd = os.open(a, os.O_RDWR)
check("nlink before", os.fstat(fd).st_nlink, 2)
os.unlink(a)
check("nlink after unlinking one of two", os.fstat(fd).st_nlink, 1)
check("kept for one name gone", kept(), 0)
check("write in chunk 0", os.pwrite(fd, b"abc", 0), 3)
check("write needing a new chunk", os.pwrite(fd, b"tail", 2 * MiB), 4)
want = b"abc3456789" + b"\0" * (2 * MiB - 10) + b"tail"
check("size through fd", os.fstat(fd).st_size, len(want))
os.fsync(fd)
check("the other name after fsync", read(b), want)
os.link(b, c)
check("nlink after a link made later", os.fstat(fd).st_nlink, 2)
os.rename(b, e)            # the name it commits to moves
check("nlink after renaming the other name", os.fstat(fd).st_nlink, 2)
os.fchmod(fd, 0o600)
check("mode by the other name", os.stat(e).st_mode & 0o777, 0o600)
os.setxattr(fd, "user.k", b"v")
check("xattr by the other name", os.getxattr(e, "user.k"), b"v")
check("write after the rename", os.pwrite(fd, b"more", 3 * MiB), 4)
os.close(fd)
want = want + b"\0" * (MiB - 4) + b"more"
check("the renamed name after close", read(e), want)
check("the linked name after close", read(c), want)
check("nlink by name", os.stat(e).st_nlink, 2)
check("listing", sorted(os.listdir(d)), ["c", "e"])
os.unlink(c)
os.unlink(e)

# the last name goes later: a removed open file, kept until the close
f, g = os.path.join(d, "f"), os.path.join(d, "g")
put(f, b"x" * (MiB + 5))
os.link(f, g)
fd = os.open(f, os.O_RDWR)
os.unlink(f)
check("write before the last name goes", os.pwrite(fd, b"yy", 0), 2)
os.unlink(g)
check("nlink after the last name", os.fstat(fd).st_nlink, 0)
check("kept after the last name", kept(), 1)
check("write after the last name", os.pwrite(fd, b"zz", 3 * MiB), 2)
check("read after the last name", os.pread(fd, 4, 0), b"yyxx")
check("read of the new chunk", os.pread(fd, 2, 3 * MiB), b"zz")
check("listing with it open", os.listdir(d), [])
os.close(fd)
end = time.time() + 10
while kept() and time.time() < end:
    time.sleep(0.05)
check("kept after close", kept(), 0)
check("listing after close", os.listdir(d), [])

# a rename between two names of the file open (POSIX: nothing happens)
# leaves the descriptor writing it; before, its writes vanished and
# close and fsync said nothing
r, s = os.path.join(d, "r"), os.path.join(d, "s")
put(r, b"one\n")
os.link(r, s)
fd = os.open(s, os.O_WRONLY | os.O_APPEND)
os.write(fd, b"two\n")
os.rename(r, s)
check("names after a rename onto another name", sorted(os.listdir(d)), ["r", "s"])
check("nlink after a rename onto another name", os.fstat(fd).st_nlink, 2)
os.write(fd, b"three\n")
os.fsync(fd)
os.close(fd)
check("the file by the name renamed onto", read(s), b"one\ntwo\nthree\n")
check("the file by the name renamed", read(r), b"one\ntwo\nthree\n")
os.unlink(r)
os.unlink(s)

# a second mount unlinks the name the first one writes through
p, q = os.path.join(d, "p"), os.path.join(d, "q")
put(p, b"first")
os.link(p, q)
fd = os.open(p, os.O_RDWR)
os.pwrite(fd, b"FIRST", 0)
os.fsync(fd)
os.unlink(os.path.join(d2, "p"))
check("acknowledged data under the other name", read(q), b"FIRST")
put(os.path.join(d2, "p"), b"another file")
errs = []                  # at the write (a new chunk), fsync or close
for step in (lambda: os.pwrite(fd, b"late", 0), lambda: os.fsync(fd),
             lambda: os.close(fd)):
    try:
        step()
    except OSError as x:
        errs.append(x.errno)
check("errors of writes to a name given away", bool(errs) and
      set(errs) == {errno.ESTALE}, True)
check("the new file at the name", read(os.path.join(d2, "p")), b"another file")
check("the other name", read(q), b"FIRST")
os.unlink(p)
os.unlink(q)
PY
rmdir "$M/d" || fail "rmdir after the files went"
log "OK"
