#!/usr/bin/env bash
# A file unlinked while open keeps its data until the last close, also
# past the heartbeats that would have carried its chunks' delete orders:
# the mount asks the master to keep it (DELETE ?keep=TTL) and renews it
# (--keep-ttl 2s here, so it lives on renewals alone); the last close
# drops it and its chunks leave every disk.  So does a file replaced by
# a rename while open (op=rename&keep=TTL).  After a kill -9 of the
# mount the master drops both when the TTL runs out.  The unlink of one
# of several hard links of an open file keeps nothing.  Before: the
# chunks went with the next heartbeats, and a read after them failed
# with EIO (for a rename over an open file, until this test's second
# part was added).
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

# a holder: opens $1, removes it ($3: "unlink", or a path to rename over
# it), reads and writes through its descriptor when told to, closes
# when told to (each step waits for a flag file named $2-STEP)
hold() {
	PYTHONPATH="$IT_DIR" python3 - "$1" "$T" "$2" "$3" <<'PY'
import os, sys
from flagfile import Flags
path, t, tag, how = sys.argv[1:5]
flags = Flags(t, tag)
wait, done = flags.wait, flags.done
fd = os.open(path, os.O_RDWR)
if how == "unlink":
    os.unlink(path)
else:
    os.rename(how, path)
done("removed")
wait("read")
want = open(os.path.join(t, "data"), "rb").read()
got = os.pread(fd, len(want) + 10, 0)
if got != want:
    sys.exit("read after removal: %d bytes differ" % len(got))
if os.pwrite(fd, b"new bytes", 100) != 9 or os.pread(fd, 9, 100) != b"new bytes":
    sys.exit("write after removal")
done("checked")
wait("close")
os.close(fd)
done("closed")
PY
}

# $1: the holder's tag, $2: the handles of the removed file
kept_until_close() {
	local t
	wait_for 20 "the removal ($1)" test -e "$1-removed"
	wait_for 10 "the master keeps it ($1)" kept 1
	t=$(now_ms)
	wait_for 20 "heartbeats after the removal" beats_since "$t"
	t=$(now_ms)
	wait_for 20 "more heartbeats" beats_since "$t"
	assert_eq "$(present "$2")" 3 "its chunks are on disk after the heartbeats ($1)"
	touch "$1-read"
	wait_for 30 "reads and writes through the descriptor ($1)" test -e "$1-checked"
	# longer than the TTL (2 s) since the removal: renewals kept it
	kept 1 || fail "the master dropped it while it was open ($1)"
	touch "$1-close"
	wait_for 20 "the close ($1)" test -e "$1-closed"
	wait_for 10 "the master drops it at the close ($1)" kept 0
	wait_for 30 "its chunks to leave every disk ($1)" gone "$2"
}

hold "$M/f" unlink unlink &
holder=$!
kept_until_close unlink "$hf"
wait "$holder" || fail "the holder of f failed"
[ -e "$M/f" ] && fail "f still has its name"
assert_eq "$(present "$hg")" 3 "g's chunks stay"
cmp data "$M/g" || fail "g after f went"

# a rename over a file open here keeps the file it replaces
cp data "$M/r" || fail "cp r"
echo "the new r" >"$M/r.new" || fail "r.new"
hr=$(handles_of "$M/r")
hold "$M/r" rename "$M/r.new" &
holder=$!
kept_until_close rename "$hr"
wait "$holder" || fail "the holder of r failed"
assert_eq "$(cat "$M/r")" "the new r" "r after the rename"
rm "$M/r"

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

# a crash: the mount dies holding an unlinked file and a file replaced
# by a rename; their TTL drops them
cp data "$M/k" || fail "cp k"
echo "the new k" >"$M/k.new" || fail "k.new"
hk=$(handles_of "$M/k")
python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
os.unlink(sys.argv[1])
fd2 = os.open(sys.argv[2], os.O_RDONLY)
os.rename(sys.argv[2] + ".new", sys.argv[2])
open(sys.argv[3], "w").close()
time.sleep(120)
' "$M/g" "$M/k" "$T/g-unlinked" &
crasher=$!
wait_for 20 "the unlink of g and the rename over k" test -e g-unlinked
wait_for 10 "the master keeps g and k" kept 2
kill9 "$FUSE_PID"
kill9 "$crasher"
wait_for 30 "the master drops g and k after the TTL" kept 0
grep -q "not renewed" "$T/master.log" || fail "the drop is not logged"
wait_for 30 "g's chunks to leave every disk" gone "$hg"
wait_for 30 "k's chunks to leave every disk" gone "$hk"
log "OK"
