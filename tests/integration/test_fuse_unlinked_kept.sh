#!/usr/bin/env bash
# A file unlinked while open keeps its data until the last close, also
# past the heartbeats that would have carried its chunks' delete orders:
# the mount asks the master to keep it (DELETE ?keep=TTL) and renews it
# (--keep-ttl 2s here, so it lives on renewals alone); the last close
# drops it and its chunks leave every disk.  After a kill -9 of the
# mount the master drops it when the TTL runs out.  The unlink of one of
# several hard links of an open file keeps nothing.  Before: the chunks
# went with the next heartbeats, and a read after them failed with EIO.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1MiB
start_chunkservers 3 --heartbeat-interval 1s
A=$MASTER_URL/api/v1
M=$T/mnt
mount_fuse "$M" --keep-ttl 2s
FUSE_PID=${PIDS[-1]}
cd "$T"
random_file data $((3 << 20))
cp data "$M/f" || fail "cp f"
cp data "$M/g" || fail "cp g"
handles_of() { getfattr -n user.gfs.chunks --only-values "$1" | awk '{ print $2 }' | sort -u; }
hf=$(handles_of "$M/f")
hg=$(handles_of "$M/g")
assert_eq "$(wc -w <<<"$hf")" 3 "chunks of f"
on_disk() { find "$T"/cs[0-2]/chunks -type f -printf '%f\n' | cut -c1-16 | sort -u; }
present() { comm -12 <(on_disk) <(sort <<<"$1") | wc -l; }
gone() { [ "$(present "$1")" = 0 ]; }
kept() { [ "$(curl -sf "$A/status" | jq .kept)" = "$1" ]; }
# every live server has sent a heartbeat since $1 (Unix ms), twice over
beats_since() {
	curl -sf "$A/status" | jq -e --argjson t "$1" \
		'[.chunkservers[] | select(.alive) | .last_heartbeat_ms > $t] | all and length == 3' >/dev/null
}
now_ms() { date +%s%3N; }

# a holder: opens f, unlinks it, reads and writes through its descriptor
# when told to, closes when told to (each step waits for a flag file)
python3 - "$M/f" "$T" <<'PY' &
import os, sys, time
path, t = sys.argv[1], sys.argv[2]
def wait(flag):
    end = time.time() + 60
    while not os.path.exists(os.path.join(t, flag)):
        if time.time() > end:
            sys.exit("timed out waiting for " + flag)
        time.sleep(0.05)
def done(flag):
    open(os.path.join(t, flag), "w").close()
fd = os.open(path, os.O_RDWR)
os.unlink(path)
done("unlinked")
wait("read")
want = open(os.path.join(t, "data"), "rb").read()
got = os.pread(fd, len(want) + 10, 0)
if got != want:
    sys.exit("read after unlink: %d bytes differ" % len(got))
if os.pwrite(fd, b"new bytes", 100) != 9 or os.pread(fd, 9, 100) != b"new bytes":
    sys.exit("write after unlink")
done("checked")
wait("close")
os.close(fd)
done("closed")
PY
holder=$!
wait_for 20 "the unlink" test -e unlinked
[ -e "$M/f" ] && fail "f still has its name"
wait_for 10 "the master keeps f" kept 1
t=$(now_ms)
wait_for 20 "heartbeats after the unlink" beats_since "$t"
t=$(now_ms)
wait_for 20 "more heartbeats" beats_since "$t"
sleep_done=$(now_ms)
assert_eq "$(present "$hf")" 3 "f's chunks are on disk after the heartbeats"
touch read
wait_for 30 "reads and writes through the descriptor" test -e checked
# longer than the TTL (2 s) since the unlink: renewals kept it
kept 1 || fail "the master dropped f while it was open"
touch close
wait_for 20 "the close" test -e closed
wait "$holder" || fail "the holder failed"
wait_for 10 "the master drops f at the close" kept 0
wait_for 30 "f's chunks to leave every disk" gone "$hf"
assert_eq "$(present "$hg")" 3 "g's chunks stay"
cmp data "$M/g" || fail "g after f went"

# one of two hard links of an open file goes: nothing needs keeping
# (the inode keeps its other name), and the data stays whole
cp data "$M/h" || fail "cp h"
ln "$M/h" "$M/h2" || fail "ln h h2"
exec 7<"$M/h"
rm "$M/h" || fail "rm h while open"
kept 0 || fail "a file with another name left was kept"
assert_eq "$(stat -c %h "$M/h2")" 1 "links of h2"
python3 -c 'import os, sys; sys.stdout.buffer.write(os.pread(7, os.fstat(7).st_size + 1, 0))' |
	cmp data - || fail "h through its descriptor"
exec 7<&-
cmp data "$M/h2" || fail "h2"
rm "$M/h2"

# a crash: the mount dies holding an unlinked file; its TTL drops it
python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
os.unlink(sys.argv[1])
open(sys.argv[2], "w").close()
time.sleep(120)
' "$M/g" "$T/g-unlinked" &
crasher=$!
wait_for 20 "the unlink of g" test -e g-unlinked
wait_for 10 "the master keeps g" kept 1
kill9 "$FUSE_PID"
kill9 "$crasher"
wait_for 30 "the master drops g after the TTL" kept 0
grep -q "not renewed" "$T/master.log" || fail "the drop is not logged"
wait_for 30 "g's chunks to leave every disk" gone "$hg"
log "OK"
