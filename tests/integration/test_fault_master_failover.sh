#!/usr/bin/env bash
# kill -9 the primary master while `gfs upload`s stream in and `cp`s run
# through a mount that knows both masters.  The backup takes over within
# the failover timeout; every upload and cp that reported success is on
# the new primary with its exact bytes; one that failed left no partial
# file (absent, empty or whole); the mount goes on without a remount.
# The old primary, restarted, becomes the backup and refuses every write.
#
# (The default 10 s failover timeout is test_fault_master_default.sh.)
. "$(dirname "$0")/lib.sh"

FO=3 # --failover-timeout, seconds
MARGS=(--chunk-size 1MiB --failover-timeout ${FO}s --dead-after 3s --probation 2s)
start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
start_chunkservers 4 --heartbeat-interval 500ms
M=$T/mnt
mount_fuse "$M"
P=$MASTER_URL/api/v1
B=$BACKUP_URL/api/v1
attached() { curl -sf "$P/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 10 "backup attached" attached
mkdir -p "$T/src" "$M/cp" || fail "mkdir"

# The loops run until $T/stop exists (at most 300 rounds, and they are
# in PIDS: a failed test stops them too).
running() { [ ! -e "$T/stop" ] && [ -d "$T/src" ] && [ "$1" -lt 300 ]; }
# uploader: gfs upload of fresh files of 0..1.5 MiB; each attempt goes to
# $T/tried, each success to $T/acked.
uploader() {
	local n=0 f
	while running $n; do
		n=$((n + 1))
		f=u$n
		head -c $(((n * 7919) % (3 << 19))) /dev/urandom >"$T/src/$f"
		echo "$f" >>"$T/tried"
		gfs upload "$T/src/$f" "/up/$f" >/dev/null 2>>"$T/uploader.err" &&
			echo "$f" >>"$T/acked"
	done
}
# copier: cp of 6 MiB files into the mount, same bookkeeping.
copier() {
	local n=0 f
	while running $n; do
		n=$((n + 1))
		f=c$n
		head -c $((6 << 20)) /dev/urandom >"$T/src/$f"
		echo "$f" >>"$T/tried"
		cp "$T/src/$f" "$M/cp/$f" 2>>"$T/copier.err" && echo "$f" >>"$T/acked"
	done
}
acked() { grep -c "^$1" "$T/acked" 2>/dev/null || echo 0; }
acked_at_least() { [ "$(acked "$1")" -ge "$2" ]; }
uploader & UP=$!
copier & CP=$!
PIDS+=("$UP" "$CP")

wait_for 30 "uploads before the kill" acked_at_least u 10
wait_for 30 "copies before the kill" acked_at_least c 2
before_u=$(acked u)
before_c=$(acked c)
# The backup knows where the chunks are (it sees commits only in the op
# log, replicas only in heartbeats): every chunk of a finished file has
# its 3 replicas there too.
backup_knows() {
	local f r
	for f in $(head -n "$1" "$T/acked"); do
		case $f in u*) r=/up/$f ;; c*) r=/cp/$f ;; esac
		curl -sf "$B/files$r" |
			jq -e '[.chunks[] | .replicas | length == 3] | all' >/dev/null || return 1
	done
}
wait_for 5 "the backup to know every replica" backup_knows "$((before_u + before_c))"
kill9 "$MASTER_PID"
killed=$SECONDS
log "killed the primary after $before_u uploads and $before_c copies"
promoted() { curl -sf "$B/status" | jq -e '.role == "primary"' >/dev/null; }
wait_for $((FO + 7)) "backup promoted" promoted
log "backup promoted $((SECONDS - killed)) s after the kill"
# The clients carry on by themselves: both loops get work done on the new
# primary.
wait_for 40 "uploads after the failover" acked_at_least u $((before_u + 10))
wait_for 40 "copies after the failover" acked_at_least c $((before_c + 2))
touch "$T/stop"
wait "$UP" "$CP"
log "$(wc -l <"$T/acked") of $(wc -l <"$T/tried") operations acknowledged"
cat "$T"/*.err >&2

# Every acknowledged file, from the new primary, byte for byte.
MASTERS=$BACKUP_URL
remote_of() { case $1 in u*) echo "/up/$1" ;; c*) echo "/cp/$1" ;; esac; }
while read -r f; do
	gfs download "$(remote_of "$f")" "$T/back" >/dev/null ||
		fail "acknowledged $f is missing"
	assert_same_file "$T/back" "$T/src/$f" "acknowledged $f"
done <"$T/acked"
# gfs upload opens without O_EXCL: even the one whose create, allocation
# or commit was cut by the kill is asked again on the new primary, so
# every upload succeeds.  A cp's exclusive create cut by the kill may
# have happened or not: that cp fails (EIO).
assert_eq "$(grep -c '^u' "$T/acked")" "$(grep -c '^u' "$T/tried")" "uploads that succeeded"
# One that failed: absent, empty (created, never written) or whole.
while read -r f; do
	grep -qx "$f" "$T/acked" && continue
	r=$(remote_of "$f")
	if ! gfs download "$r" "$T/back" >/dev/null 2>&1; then
		log "failed $f: absent"
	elif [ ! -s "$T/back" ]; then
		log "failed $f: empty"
	else
		assert_same_file "$T/back" "$T/src/$f" "failed $f is half a file"
		log "failed $f: whole"
	fi
done <"$T/tried"

# The same mount, not remounted: a new cp, read back through it and gfs.
random_file "$T/after" $((5 << 19))
cp "$T/after" "$M/cp/after" || fail "cp after the failover"
assert_same_file "$M/cp/after" "$T/after" "cp after the failover, via the mount"
gfs download /cp/after "$T/back" >/dev/null || fail "download of cp/after"
assert_same_file "$T/back" "$T/after" "cp after the failover, via gfs"

# The old primary comes back: it becomes the backup of the new one,
# follows it, and refuses writes (421 naming the new primary).
restart_master "${MARGS[@]}"
is_backup() { curl -sf "$P/status" | jq -e '.role == "backup"' >/dev/null; }
wait_for 20 "old primary to become the backup" is_backup
assert_eq "$(http_status PUT "$P/files/split")" 421 "old primary takes a create"
assert_eq "$(http_status DELETE "$P/files/cp/after")" 421 "old primary takes a delete"
curl -s -D - -o /dev/null -X PUT "$P/files/split" |
	grep -qi "^X-GFS-Primary: $BACKUP_URL" || fail "421 does not name the new primary"
new_attached() { curl -sf "$B/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 20 "old primary attached as backup" new_attached
assert_eq "$(http_status PUT "$B/files/later")" 201 "create on the new primary"
assert_eq "$(http_status GET "$P/files/later?stat=1")" 200 "the old primary follows"
assert_eq "$(http_status PUT "$P/files/split")" 421 "old primary still refuses"
assert_eq "$(curl -sf "$B/status" | jq -r .role)" primary "new primary kept its role"
# A client that lists the old primary first still lands on the new one.
MASTERS="$MASTER_URL,$BACKUP_URL"
gfs upload "$T/after" /late >/dev/null || fail "upload naming the old primary first"
assert_eq "$(http_status GET "$B/files/late?stat=1")" 200 "upload went to the new primary"
log "ok"
