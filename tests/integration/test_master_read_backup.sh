#!/usr/bin/env bash
# Read-after-write through a backup master.  A client that names the
# backup first (`--master BACKUP,PRIMARY`: any order, says DESIGN) reads
# a file at once after writing it: the backup, which learns replicas only
# from heartbeats, sends it to the primary (421) for a chunk whose
# locations it does not know yet, and never answers with no replicas.
# After a failover (and the old primary back as the backup), a cp into
# one mount is read at once by cat on another.
. "$(dirname "$0")/lib.sh"

MARGS=(--chunk-size 1MiB --failover-timeout 2s --dead-after 4s --probation 1s)
start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
# heartbeats far apart: the backup learns of new chunks late
start_chunkservers 3 --heartbeat-interval 3s
P=$MASTER_URL/api/v1
B=$BACKUP_URL/api/v1
attached() { curl -sf "$P/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 10 "backup attached" attached
cd "$T"

# A GET /files of a chunked file on the backup: 421 naming the primary,
# or 200 with replicas for every chunk; never a chunk without replicas.
backup_answer_ok() {
	local code
	code=$(curl -s -D "$T/hdrs" -o "$T/entry" -w '%{http_code}' "$1/files$2")
	case $code in
	421) grep -qi "^X-GFS-Primary: $3" "$T/hdrs" ||
		fail "421 without X-GFS-Primary: $3" ;;
	200) jq -e '[.chunks[] | .replicas | length > 0] | all' "$T/entry" >/dev/null ||
		fail "$2: a chunk without replicas: $(cat "$T/entry")" ;;
	*) fail "GET $2 on the backup: $code $(cat "$T/entry")" ;;
	esac
}

for i in 1 2 3 4 5; do
	random_file "src$i" $(((i << 19) + 4321))
	"$GFS_BIN/gfs" --master "$BACKUP_URL,$MASTER_URL" upload "src$i" "/rw/f$i" >/dev/null ||
		fail "upload $i"
	"$GFS_BIN/gfs" --master "$BACKUP_URL,$MASTER_URL" download "/rw/f$i" "back$i" ||
		fail "download $i at once after its upload (through the backup)"
	assert_same_file "back$i" "src$i" "file $i read back"
	random_file "srcx$i" 3000
	"$GFS_BIN/gfs" --master "$BACKUP_URL,$MASTER_URL" upload "srcx$i" "/rw/x$i" >/dev/null ||
		fail "upload x$i"
	backup_answer_ok "$B" "/rw/x$i" "$MASTER_URL"
done

# Failover: the backup becomes the primary, the old primary comes back
# as its backup; mounts list the old primary (now a backup) first.
kill9 "$MASTER_PID"
promoted() { curl -sf "$B/status" | jq -e '.role == "primary"' >/dev/null; }
wait_for 20 "backup promoted" promoted
restart_master "${MARGS[@]}"
is_backup() { curl -sf "$P/status" | jq -e '.role == "backup" and .in_sync' >/dev/null; }
wait_for 20 "old primary following as backup" is_backup
MASTERS="$MASTER_URL,$BACKUP_URL"
mount_fuse "$T/ma"
mount_fuse "$T/mb"
for i in 1 2 3; do
	random_file "cp$i" $(((i << 20) + 777))
	cp "cp$i" "$T/ma/c$i" || fail "cp $i into mount A"
	cat "$T/mb/c$i" >"cat$i" || fail "cat $i on mount B at once"
	assert_same_file "cat$i" "cp$i" "cp $i read on mount B"
	backup_answer_ok "$P" "/c$i" "$BACKUP_URL"
done
log "ok"
