#!/usr/bin/env bash
# run-local.sh - a whole cluster on this machine, in the foreground:
# two masters (7070, 7071), four chunkservers (7080-7083) and a FUSE
# mount (/mnt/gfs when we may, else ./mnt), with data under ./var/.
# Ctrl-C unmounts and stops everything cleanly.
#
# When etcd is installed (make deps installs it), a one-member etcd runs
# beside them (client port GFS_PORT+20, data in var/etcd) and both
# masters run with --etcd: they are equal, etcd elects the leader.
# Without etcd (or with GFS_NO_ETCD=1) they are a pair: the first is the
# primary, the second its backup (--backup-of); see README "Two masters".
#
# usage: scripts/run-local.sh [BINDIR]     (make run does this)
#
# Protected as a real cluster is: a cluster secret ($GFS_VAR/secret) and
# one read-write client key, "admin" ($GFS_VAR/admin.key, listed in
# $GFS_VAR/keys), made on the first run and kept; the mount uses the key.
#
# Environment: GFS_VAR (data and logs, default ./var), GFS_MNT (mount
# point), GFS_PORT (the first master's port, default 7070; the second
# master takes the next one, the chunkservers GFS_PORT+10 to +13, etcd
# GFS_PORT+20 and +21), GFS_NO_ETCD.
#
# The programs run in their own sessions, so Ctrl-C reaches this script
# alone and it stops them in order: unmount, then the mount's daemon,
# the chunkservers, the masters and etcd, each with SIGTERM, and says
# which did not exit cleanly.
set -uo pipefail

BIN=${1:-$(cd "$(dirname "$0")/.." && pwd)/build/bin}
VAR=${GFS_VAR:-$PWD/var}
PORT=${GFS_PORT:-7070}
CS_PORTS=($((PORT + 10)) $((PORT + 11)) $((PORT + 12)) $((PORT + 13)))
MASTERS=http://127.0.0.1:$PORT,http://127.0.0.1:$((PORT + 1))
ETCD=""
if [ -z "${GFS_NO_ETCD:-}" ] && command -v etcd >/dev/null; then
	ETCD=http://127.0.0.1:$((PORT + 20))
fi
PIDS=()
NAMES=()
UNEXPECTED=0   # a program exited by itself
FUSE_PID=""

say() { printf 'run: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for p in gfs-master gfs-chunkserver gfs-fuse gfs; do
	[ -x "$BIN/$p" ] || die "$BIN/$p missing: run make first"
done
for port in $PORT $((PORT + 1)) "${CS_PORTS[@]}" ${ETCD:+$((PORT + 20)) $((PORT + 21))}; do
	if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
		die "port $port is in use (another cluster running?)"
	fi
done

MNT=${GFS_MNT:-/mnt/gfs}
if [ -z "${GFS_MNT:-}" ] && { ! mkdir -p "$MNT" 2>/dev/null || ! [ -w /dev/fuse ]; }; then
	MNT=$PWD/mnt
fi
mkdir -p "$MNT" || die "cannot make $MNT"
mountpoint -q "$MNT" && die "$MNT is already mounted"

stop() {
	local i rc status=0
	trap - EXIT INT TERM
	say "stopping"
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	# gfs-fuse ends by itself once unmounted (handing its leases back
	# first): a SIGTERM in the middle of that would kill it.
	[ -n "$FUSE_PID" ] && ended_within 10 "$FUSE_PID"
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null
		wait "${PIDS[i]}" 2>/dev/null
		rc=$?
		# etcd ends by raising the SIGTERM it caught again
		[ "${NAMES[i]}" = etcd ] && [ $rc = 143 ] && rc=0
		if [ $rc != 0 ] && [ $rc != 127 ]; then
			say "${NAMES[i]} exited with status $rc (see $VAR/*.log)"
			status=1
		fi
	done
	say "stopped; data kept in $VAR"
	[ $UNEXPECTED = 0 ] || status=1
	exit $status
}
trap stop EXIT INT TERM

# ended_within SECONDS PID: wait until PID has exited (reaped or not).
ended_within() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		[ "$(ps -o stat= -p "$2" 2>/dev/null)" ] || return 0
		[[ "$(ps -o stat= -p "$2")" == Z* ]] && return 0
		sleep 0.1
	done
	return 1
}

# start NAME LOG PROGRAM ARGS...: run PROGRAM in its own session.
start() {
	local name=$1 log=$2
	shift 2
	setsid "$@" 2>>"$log" &
	PIDS+=($!)
	NAMES+=("$name")
}

wait_http() {
	local url=$1 i
	for ((i = 0; i < 100; i++)); do
		curl -sf -o /dev/null --max-time 1 "$url" && return 0
		sleep 0.1
	done
	die "$url did not come up (see $VAR/*.log)"
}

mkdir -p "$VAR"
# The secret and the key: random, readable by us alone, kept across runs.
if [ ! -s "$VAR/secret" ] || [ ! -s "$VAR/keys" ]; then
	(umask 077
	 head -c 32 /dev/urandom | base64 >"$VAR/secret"
	 head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$VAR/admin.key"
	 echo "admin $(cat "$VAR/admin.key") rw" >"$VAR/keys") ||
		die "cannot write the secret and key into $VAR"
	say "made a cluster secret and a key in $VAR"
fi
SECRET=(--secret-file "$VAR/secret")
KEYS=(--keys "$VAR/keys")
# Two masters: equal under etcd, else a primary and its backup.  (The
# data directories keep their names from pair mode.)
start_masters() {
	local fresh_etcd=0 had_data=0
	[ -n "$(ls -A "$VAR/master" 2>/dev/null)" ] && had_data=1
	mkdir -p "$VAR"/{master,backup}
	if [ -n "$ETCD" ]; then
		[ -d "$VAR/etcd" ] || fresh_etcd=1
		start etcd "$VAR/etcd.log" etcd --name gfs --data-dir "$VAR/etcd" \
			--listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
			--listen-peer-urls "http://127.0.0.1:$((PORT + 21))" \
			--initial-advertise-peer-urls "http://127.0.0.1:$((PORT + 21))" \
			--initial-cluster "gfs=http://127.0.0.1:$((PORT + 21))"
		wait_http "$ETCD/health"
		start master "$VAR/master.log" "$BIN/gfs-master" --etcd "$ETCD" \
			--etcd-prefix /gfs/local --listen "127.0.0.1:$PORT" --data "$VAR/master" \
			"${SECRET[@]}" "${KEYS[@]}"
		start "second master" "$VAR/backup.log" "$BIN/gfs-master" --etcd "$ETCD" \
			--etcd-prefix /gfs/local --listen "127.0.0.1:$((PORT + 1))" \
			--data "$VAR/backup" "${SECRET[@]}" "${KEYS[@]}"
		wait_http "http://127.0.0.1:$PORT/api/v1/healthz"
		# a file system that ran as a pair before: etcd knows nothing
		# of it; the first master (the pair's primary) carries on
		if [ $fresh_etcd = 1 ] && [ $had_data = 1 ]; then
			say "first run with etcd over existing data: gfs promote http://127.0.0.1:$PORT"
			GFS_KEY_FILE=$VAR/admin.key "$BIN/gfs" promote "http://127.0.0.1:$PORT" ||
				die "promote failed"
		fi
		return
	fi
	start primary "$VAR/master.log" "$BIN/gfs-master" \
		--listen "127.0.0.1:$PORT" --data "$VAR/master" "${SECRET[@]}" "${KEYS[@]}"
	wait_http "http://127.0.0.1:$PORT/api/v1/healthz"
	start backup "$VAR/backup.log" "$BIN/gfs-master" \
		--listen "127.0.0.1:$((PORT + 1))" --data "$VAR/backup" \
		--backup-of "http://127.0.0.1:$PORT" "${SECRET[@]}" "${KEYS[@]}"
}

start_masters
mkdir -p "$VAR"/{cs0,cs1,cs2,cs3}
for i in 0 1 2 3; do
	start "chunkserver $i" "$VAR/cs$i.log" "$BIN/gfs-chunkserver" \
		--data "$VAR/cs$i" --master "$MASTERS" "${SECRET[@]}" \
		"${CS_PORTS[i]}"
done
for i in 0 1 2 3; do wait_http "http://127.0.0.1:${CS_PORTS[i]}/api/v1/healthz"; done
wait_http "http://127.0.0.1:$((PORT + 1))/api/v1/healthz"
start gfs-fuse "$VAR/fuse.log" "$BIN/gfs-fuse" --master "$MASTERS" \
	-o key_file="$VAR/admin.key" -f "$MNT"
FUSE_PID=$!
for ((i = 0; i < 100; i++)); do mountpoint -q "$MNT" && break; sleep 0.1; done
mountpoint -q "$MNT" || die "mount at $MNT failed (see $VAR/fuse.log)"

cat <<EOF

GFS is running (logs in $VAR/*.log):
  masters       http://127.0.0.1:$PORT, http://127.0.0.1:$((PORT + 1)) (${ETCD:+leader elected in etcd at $ETCD}${ETCD:-primary and backup: no etcd})
  chunkservers  http://127.0.0.1:${CS_PORTS[0]} ... ${CS_PORTS[3]}
  mount         $MNT
  client key    $VAR/admin.key (cluster secret: $VAR/secret)

Try:
  cp /etc/services $MNT/ && ls -l $MNT
  setfattr -n user.gfs.lease -v 1 $MNT/services; getfattr -n user.gfs.chunks $MNT/services
  export GFS_KEY_FILE=$VAR/admin.key
  $BIN/gfs upload /etc/hosts && $BIN/gfs ls && $BIN/gfs status
  (gfs and gfs-fuse look for masters on 7070 and 7071: elsewhere, give
  them --master $MASTERS)
  curl -H "Authorization: Bearer \$(cat $VAR/admin.key)" --location-trusted \\
       -T /etc/passwd http://127.0.0.1:$PORT/api/v1/content/etc/passwd
  curl -s http://127.0.0.1:$PORT/api/v1/status

Ctrl-C stops everything.
EOF
wait -n "${PIDS[@]}"
UNEXPECTED=1
say "a process exited unexpectedly (see $VAR/*.log)"
