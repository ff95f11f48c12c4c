#!/usr/bin/env bash
# A file created through the mount and still open, not yet on the master
# (unborn: docs/CLIENT.md "Deferred creates"), then removed, behaves as
# any open file removed: unlinked, it stays readable and writable through
# its descriptor, past the heartbeats that would carry its chunks' delete
# orders, and its chunks leave every disk after the close; replaced by a
# rename over it, its content stays readable through its descriptor and
# the name shows the new file.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1MiB
start_chunkservers 3 --heartbeat-interval 1s
A=$MASTER_URL/api/v1
M=$T/mnt
mount_fuse "$M" --defer-create 30s --keep-ttl 2s
cd "$T"
on_disk() { find "$T"/cs[0-2]/chunks -type f -printf '%f\n' | cut -c1-16 | sort -u; }
kept() { [ "$(curl -sf "$A/status" | jq .kept)" = "$1" ]; }
beats_since() {
	curl -sf "$A/status" | jq -e --argjson t "$1" \
		'[.chunkservers[] | select(.alive) | .last_heartbeat_ms > $t] | all and length == 3' >/dev/null
}
now_ms() { date +%s%3N; }
on_master() { gfs stat "$1" >/dev/null 2>&1; }
on_disk >before

# $1: tag; the holder creates $M/$1, writes, and signals $1-open; then
# removes it ($2: "unlink", or a file to rename over it) and checks what
# its descriptor reads (and that it writes), then waits for $1-close
hold() {
	PYTHONPATH="$IT_DIR" python3 - "$M" "$T" "$1" "$2" <<'PY'
import os, sys
from flagfile import Flags
m, t, tag, how = sys.argv[1:5]
path = os.path.join(m, tag)
flags = Flags(t, tag)
wait, done = flags.wait, flags.done
def check(what, got, want):
    if got != want:
        sys.exit("%s (%s): got %r, want %r" % (what, tag, got, want))
data = b"unborn " * 1000
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
check("write", os.write(fd, data), len(data))
done("open")
wait("remove")
if how == "unlink":
    os.unlink(path)
else:
    os.rename(os.path.join(m, how), path)
check("read after removal", os.pread(fd, len(data) + 10, 0), data)
check("fstat size", os.fstat(fd).st_size, len(data))
check("fstat links", os.fstat(fd).st_nlink, 0)
done("removed")
wait("read")
check("read after the heartbeats", os.pread(fd, len(data) + 10, 0), data)
check("pwrite", os.pwrite(fd, b"new bytes", 100), 9)
check("pread", os.pread(fd, 9, 100), b"new bytes")
check("size", os.fstat(fd).st_size, len(data))
done("checked")
wait("close")
os.close(fd)
done("closed")
PY
}

# $1: tag: the holder's file is unborn, removed, kept until the close
removed_while_unborn() {
	local t
	wait_for 10 "the create of $1" test -e "$1-open"
	on_master "/$1" && fail "$1 is on the master before its flush"
	touch "$1-remove"
	wait_for 20 "the removal of $1" test -e "$1-removed"
	wait_for 10 "the master keeps $1" kept 1
	t=$(now_ms)
	wait_for 20 "heartbeats after the removal" beats_since "$t"
	t=$(now_ms)
	wait_for 20 "more heartbeats" beats_since "$t"
	touch "$1-read"
	wait_for 30 "reads and writes through the descriptor ($1)" test -e "$1-checked"
	touch "$1-close"
	wait_for 20 "the close of $1" test -e "$1-closed"
	wait_for 10 "the master drops $1 at the close" kept 0
}

hold u unlink &
holder=$!
removed_while_unborn u
wait "$holder" || fail "the holder of u failed"
[ -e "$M/u" ] && fail "u still has its name"
wait_for 30 "u's chunks to leave every disk" cmp -s before <(on_disk)

echo "the new one" >"$M/n" || fail "n"
sync "$M/n"
hold r n &
holder=$!
removed_while_unborn r
wait "$holder" || fail "the holder of r failed"
assert_eq "$(cat "$M/r")" "the new one" "r after the rename over it"
[ -e "$M/n" ] && fail "n still has its name"
rm "$M/r"
wait_for 30 "r's chunks to leave every disk" cmp -s before <(on_disk)
log "OK"
