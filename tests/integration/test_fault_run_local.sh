#!/usr/bin/env bash
# make run (scripts/run-local.sh) starts two masters (elected through a
# one-member etcd when etcd is installed, else a primary and its
# backup), four chunkservers and a mount; both masters are in the
# in-sync set; the cluster works; Ctrl-C (SIGINT to the script's
# process group, as a terminal sends it) stops every program cleanly
# (in order) and leaves nothing mounted.  It runs on free ports and a
# mount point of its own (GFS_PORT, GFS_MNT).
. "$(dirname "$0")/lib.sh"

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
for _ in $(seq 1 50); do
	P=$(free_port)
	ok=1
	for p in $((P + 1)) $((P + 10)) $((P + 11)) $((P + 12)) $((P + 13)) $((P + 20)) $((P + 21)); do
		port_free $p || ok=0
	done
	[ $ok = 1 ] && break
done
[ $ok = 1 ] || fail "no free run of ports"
MASTER_URL=http://127.0.0.1:$P
BACKUP_URL=http://127.0.0.1:$((P + 1))
MASTERS=$MASTER_URL,$BACKUP_URL
MNT=$T/mnt
MOUNTS+=("$MNT")

# (A background job of a script starts with SIGINT ignored, which bash
# cannot trap; a terminal's foreground job starts with it at default.)
GFS_VAR=$T/var GFS_MNT=$MNT GFS_PORT=$P \
	env --default-signal=INT setsid bash "$(dirname "$0")/../../scripts/run-local.sh" "$GFS_BIN" >"$T/run.log" 2>&1 &
RUN=$!
PIDS+=("$RUN")
wait_for 30 "the cluster's mount" mountpoint -q "$MNT"
KIDS=($(pgrep -P "$RUN" -f "^$GFS_BIN/gfs-"))
assert_eq "${#KIDS[@]}" 7 "programs started (2 masters, 4 chunkservers, gfs-fuse)"

# It made a secret and a key, for itself alone, and the clients use them.
for f in secret keys admin.key; do
	assert_eq "$(stat -c %a "$T/var/$f")" 600 "mode of $f"
done
export GFS_KEY_FILE=$T/var/admin.key
printf 'header = "Authorization: Bearer %s"\n' "$(cat "$GFS_KEY_FILE")" >"$AUTH_DIR/curl/.curlrc"
assert_eq "$(curl -q -s -o /dev/null -w '%{http_code}' "$MASTER_URL/api/v1/files?prefix=/")" 401 "no key"

# It works: a leader with both masters in sync, a cp goes in and out,
# gfs and curl -L see the file.
command -v etcd >/dev/null && mode=etcd || mode=pair
in_sync() {
	local u
	for u in "$MASTER_URL" "$BACKUP_URL"; do
		curl -sf "$u/api/v1/status" |
			jq -e --arg m $mode '.mode == $m and .role == "primary" and (.isr | length == 2)' >/dev/null && return 0
	done
	return 1
}
wait_for 20 "a leader with both masters in sync ($mode mode)" in_sync
gfs status | grep -q "in-sync set: " || fail "gfs status shows no in-sync set"
wait_for 15 "4 live chunkservers" alive_at_least "$MASTER_URL" 4
random_file "$T/f" $((3 << 20))
cp "$T/f" "$MNT/f" || fail "cp in"
assert_same_file "$MNT/f" "$T/f" "cp out"
# A follower answers reads too, and learns where new chunks are from the
# chunkservers' next heartbeats: gfs and the gateway may ask either.
knows() { curl -sf "$1/api/v1/files/f" | jq -e '[.chunks[].replicas | length > 0] | all' >/dev/null; }
wait_for 15 "both masters to know where /f is" eval 'knows "$MASTER_URL" && knows "$BACKUP_URL"'
gfs download /f "$T/back" >/dev/null || fail "gfs download"
assert_same_file "$T/back" "$T/f" "gfs download"
curl -sf --location-trusted "$MASTER_URL/api/v1/content/f" -o "$T/back2" || fail "curl -L"
assert_same_file "$T/back2" "$T/f" "curl -L"
assert_eq "$(curl -sf "$BACKUP_URL/api/v1/files/f?stat=1" | jq .size)" $((3 << 20)) "the backup has the file"

# Ctrl-C.
kill -INT -- "-$RUN"
wait "$RUN"
rc=$?
cat "$T/run.log" >&2
assert_eq "$rc" 0 "run-local.sh exit status after Ctrl-C"
mountpoint -q "$MNT" && fail "still mounted after Ctrl-C"
for k in "${KIDS[@]}"; do
	kill -0 "$k" 2>/dev/null && fail "process $k ($(cat /proc/"$k"/cmdline | tr '\0' ' ')) still runs"
done
for p in $P $((P + 1)) $((P + 10)) $((P + 11)) $((P + 12)) $((P + 13)) $((P + 20)); do
	port_free $p || fail "port $p still listens"
done
for l in master backup cs0 cs1 cs2 cs3; do
	tail -n1 "$T/var/$l.log" | grep -q "stopped" || fail "$l did not log a clean stop: $(tail -n1 "$T/var/$l.log")"
done
grep -q "unmounted" "$T/var/fuse.log" || fail "gfs-fuse did not log its unmount"
grep -q "exited with status\|unexpectedly" "$T/run.log" && fail "a program did not stop cleanly"
log "ok"
