#!/usr/bin/env bash
# A file created through the mount (not O_EXCL) reaches the master at its
# first flush, in one create+commit record (docs/CLIENT.md, "Deferred
# creates"), and behaves meanwhile as a local file system's would:
#   - the same mount sees it at once (stat, ls) while the master does not;
#   - its close leaves one record naming it in the master's log, and
#     another mount then reads it;
#   - what the master must know of first (rename, chmod, fsync, growing
#     past one chunk, a long open) makes it there at that moment;
#   - O_EXCL stays exact against another client, and a non-exclusive
#     create racing another client's takes that file (last close wins);
#   - kill -9 of gfs-fuse before the close loses that file only, never
#     one whose close returned.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1M
start_backup
start_chunkservers 3
A=$T/a
B=$T/b
mount_fuse "$A" --defer-create 30s
A_PID=${PIDS[-1]}
mount_fuse "$B"
wait_for 10 "the backup in sync" \
	bash -c "curl -sf '$MASTER_URL/api/v1/status' | jq -e '.backup.attached' >/dev/null"
mkdir -p "$A/d" || fail "mkdir"

on_master() { gfs stat "$1" >/dev/null 2>&1; }
records() { cat "$T/master"/log.* | grep -aoF "$1" | wc -l; }

# hold PATH MODE [SIZE] [PY]: a python process with PATH open (MODE "w"
# or "x"), SIZE bytes written, PY run next; it signals $T/ready and
# closes once $T/go exists.
hold() {
	rm -f "$T/ready" "$T/go" "$T/closed"
	python3 - "$1" "$2" "${3:-4096}" "${4:-pass}" "$T" <<'PY' &
import os, sys, time
path, mode, size, code, t = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
f = open(path, mode + "b", buffering=0)
f.write(b"A" * size)
exec(code)
open(t + "/ready", "w").close()
while not os.path.exists(t + "/go"):
	time.sleep(0.01)
f.close()
open(t + "/closed", "w").close()
PY
	HOLD_PID=$!
	wait_for 10 "the holder ready" test -e "$T/ready"
}
release() {
	touch "$T/go"
	wait "$HOLD_PID" || fail "the holder's close failed"
}

# -- visible in its own mount at once, not on the master before the close
hold "$A/d/x" w 5000
st=$(stat -c %s "$A/d/x") || fail "stat in the same mount"
assert_eq "$st" 5000 "size seen by another process of the mount"
ls "$A/d" | grep -qx x || fail "ls of the same mount lacks the open file"
on_master /d/x && fail "the master knows the file before its close"
[ -e "$B/d/x" ] && fail "another mount sees the file before its close"
release
on_master /d/x || fail "the master lacks the file after its close"
assert_eq "$(records /d/x)" 1 "records naming /d/x (one create+commit)"
assert_eq "$(head -c 5000 /dev/zero | tr '\0' A | sha256sum | cut -d' ' -f1)" \
	"$(sha "$B/d/x")" "content in the other mount"

# -- split: one record per file, every byte there
head -c $((20 * 4096 + 100)) /dev/urandom >"$T/src"
(cd "$A/d" && split -b 4096 -a 3 -d "$T/src" s) || fail "split"
cat "$B"/d/s* | cmp -s - "$T/src" || fail "split's files differ in the other mount"
assert_eq "$(records /d/s007)" 1 "records naming /d/s007"
touch "$A/d/empty" || fail "touch"
assert_eq "$(stat -c %s "$B/d/empty")" 0 "an empty new file"

# -- what the master must see first makes the file there at that moment
hold "$A/d/r1" w 4096 'os.rename(path, path + ".moved")'
on_master /d/r1.moved || fail "rename of an open new file"
on_master /d/r1 && fail "the old name stays after the rename"
release
assert_eq "$(stat -c %s "$B/d/r1.moved")" 4096 "the renamed file's size"
hold "$A/d/m" w 10 'os.chmod(path, 0o600)'
release
assert_eq "$(stat -c %a "$B/d/m")" 600 "chmod of an open new file"
hold "$A/d/fs" w 3000 'os.fsync(f.fileno())'
assert_eq "$(stat -c %s "$B/d/fs")" 3000 "fsync before close makes it durable"
release
hold "$A/d/big" w $((2560 * 1024))
on_master /d/big || fail "a file past one chunk is made on the master"
release
assert_eq "$(stat -c %s "$B/d/big")" $((2560 * 1024)) "a file of 3 chunks"
hold "$A/d/t" w 100 'os.ftruncate(f.fileno(), 3 << 20)'
release
assert_eq "$(stat -c %s "$B/d/t")" $((3 << 20)) "truncated past one chunk"
# a long open: made on the master after --defer-create (a mount's own)
mount_fuse "$T/c" --defer-create 200ms
hold "$T/c/d/long" w 10
wait_for 10 "a long-open new file on the master" on_master /d/long
release

# -- O_EXCL against another client: exact (made at open)
hold "$A/d/lock" x 1
python3 -c 'import os, sys; os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY)' \
	"$B/d/lock" 2>/dev/null && fail "a second O_EXCL create of the lock succeeded"
release
# a plain create racing another client's: this open took that file
hold "$A/d/race" w 7
printf 'from B' >"$B/d/race" || fail "B's create"
release
assert_eq "$(cat "$B/d/race")" AAAAAAA "the last close wins"

# -- kill -9 of the mount before the close: that file only is lost
printf 'kept' >"$A/d/acked" || fail "write acked"
hold "$A/d/lost" w 4096
kill9 "$A_PID"
kill9 "$HOLD_PID"
fusermount3 -uz "$A" 2>/dev/null
[ -e "$B/d/lost" ] && fail "a file never closed appeared"
assert_eq "$(cat "$B/d/acked")" kept "a file whose close returned"
log "ok"
