#!/usr/bin/env bash
# run-local.sh - a whole cluster on this machine, in the foreground:
# the primary master (7070), the backup (7071), four chunkservers
# (7080-7083) and a FUSE mount (/mnt/gfs when we may, else ./mnt), with
# data under ./var/.  Ctrl-C unmounts and stops everything cleanly.
#
# usage: scripts/run-local.sh [BINDIR]     (make run does this)
set -uo pipefail

BIN=${1:-$(cd "$(dirname "$0")/.." && pwd)/build/bin}
VAR=${GFS_VAR:-$PWD/var}
MASTERS=http://127.0.0.1:7070,http://127.0.0.1:7071
PIDS=()

say() { printf 'run: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for p in gfs-master gfs-chunkserver gfs-fuse gfs; do
	[ -x "$BIN/$p" ] || die "$BIN/$p missing: run make first"
done
for port in 7070 7071 7080 7081 7082 7083; do
	if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
		die "port $port is in use (another cluster running?)"
	fi
done

MNT=/mnt/gfs
if ! mkdir -p "$MNT" 2>/dev/null || ! [ -w /dev/fuse ]; then
	MNT=$PWD/mnt
	mkdir -p "$MNT"
fi
mountpoint -q "$MNT" && die "$MNT is already mounted"

stop() {
	trap - EXIT INT TERM
	say "stopping"
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null
		wait "${PIDS[i]}" 2>/dev/null
	done
	say "stopped; data kept in $VAR"
	exit 0
}
trap stop EXIT INT TERM

wait_http() {
	local url=$1 i
	for ((i = 0; i < 100; i++)); do
		curl -sf -o /dev/null --max-time 1 "$url" && return 0
		sleep 0.1
	done
	die "$url did not come up (see $VAR/*.log)"
}

mkdir -p "$VAR"/{master,backup,cs0,cs1,cs2,cs3}
"$BIN/gfs-master" --listen 127.0.0.1:7070 --data "$VAR/master" \
	2>>"$VAR/master.log" &
PIDS+=($!)
wait_http http://127.0.0.1:7070/api/v1/healthz
"$BIN/gfs-master" --listen 127.0.0.1:7071 --data "$VAR/backup" \
	--backup-of http://127.0.0.1:7070 2>>"$VAR/backup.log" &
PIDS+=($!)
for i in 0 1 2 3; do
	"$BIN/gfs-chunkserver" --data "$VAR/cs$i" --master "$MASTERS" \
		$((7080 + i)) 2>>"$VAR/cs$i.log" &
	PIDS+=($!)
done
for i in 0 1 2 3; do wait_http "http://127.0.0.1:$((7080 + i))/api/v1/healthz"; done
wait_http http://127.0.0.1:7071/api/v1/healthz
"$BIN/gfs-fuse" --master "$MASTERS" -f "$MNT" 2>>"$VAR/fuse.log" &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do mountpoint -q "$MNT" && break; sleep 0.1; done
mountpoint -q "$MNT" || die "mount at $MNT failed (see $VAR/fuse.log)"

cat <<EOF

GFS is running (logs in $VAR/*.log):
  masters       http://127.0.0.1:7070 (primary), http://127.0.0.1:7071 (backup)
  chunkservers  http://127.0.0.1:7080 ... 7083
  mount         $MNT

Try:
  cp /etc/services $MNT/ && ls -l $MNT
  setfattr -n user.gfs.lease -v 1 $MNT/services; getfattr -n user.gfs.chunks $MNT/services
  $BIN/gfs upload /etc/hosts && $BIN/gfs ls && $BIN/gfs status
  curl -L -T /etc/passwd http://127.0.0.1:7070/api/v1/content/etc/passwd
  curl -s http://127.0.0.1:7070/api/v1/status

Ctrl-C stops everything.
EOF
wait -n "${PIDS[@]}"
say "a process exited unexpectedly (see $VAR/*.log)"
