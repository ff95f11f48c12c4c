#!/usr/bin/env bash
# The data directory carries its format version (the digit in the op-log
# segment and checkpoint headers): a master refuses one of a version it
# does not know with one line naming the file and the versions it reads,
# and exits non-zero, changing nothing; one of the current format starts.
. "$(dirname "$0")/lib.sh"

start_master
curl -sf -X PUT "$MASTER_URL/api/v1/files/a" >/dev/null || fail "create"
kill -TERM "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null
[ -f "$T/master/checkpoint" ] || fail "no checkpoint after a clean stop"
assert_eq "$(head -c 8 "$T/master/checkpoint")" GFSCKPT2 "checkpoint header"

# a newer format: refused, with the reason on one line
cp "$T/master/checkpoint" "$T/ckpt.orig"
printf 9 | dd of="$T/master/checkpoint" bs=1 seek=7 conv=notrunc status=none
rc=0
timeout 20 "$GFS_BIN/gfs-master" --listen "127.0.0.1:$(free_port)" \
	--data "$T/master" --insecure >"$T/refused.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "exit status $rc"
grep -q 'checkpoint: data format version 9; this gfs-master reads versions 1 to 2' \
	"$T/refused.log" || fail "no clear message: $(cat "$T/refused.log")"
cmp -s <(tail -c +9 "$T/master/checkpoint") <(tail -c +9 "$T/ckpt.orig") ||
	fail "the refused checkpoint changed"

# the same for a segment of the log
cp "$T/ckpt.orig" "$T/master/checkpoint"
seg=$(ls "$T"/master/log.* | tail -n 1)
printf 7 | dd of="$seg" bs=1 seek=6 conv=notrunc status=none
rc=0
timeout 20 "$GFS_BIN/gfs-master" --listen "127.0.0.1:$(free_port)" \
	--data "$T/master" --insecure >"$T/refused2.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "exit status $rc (segment)"
grep -q "$(basename "$seg"): data format version 7" "$T/refused2.log" ||
	fail "no clear message: $(cat "$T/refused2.log")"

# put back, it starts and has the file
printf 2 | dd of="$seg" bs=1 seek=6 conv=notrunc status=none
restart_master
curl -sf "$MASTER_URL/api/v1/files/a?stat=1" >/dev/null || fail "file lost"
log "unknown formats refused, the current one loads"
