# lib.sh - harness for integration tests: real processes on loopback,
# random free ports, a temp dir per test, cleanup on any exit.
#
# A test script sources this file, calls the start_* functions, runs
# commands and asserts.  Every wait has a deadline (wait_for); nothing
# sleeps and hopes.  On exit, success or not, every process started here is
# stopped, every FUSE mount made here is unmounted and the temp dir removed
# (kept, with logs printed, when the test failed and KEEP=1).
#
# Protected by default, as the programs are: every cluster started here
# has a cluster secret ($SECRET_FILE) and a keys file ($KEYS_FILE) with
# one read-write key, "admin", which gfs and gfs-fuse use (GFS_KEY_FILE)
# and every curl sends ($CURL_HOME/.curlrc; `curl -q` sends none; with
# -L, curl sends it on to the gateway with --location-trusted only).
# add_key makes more keys; cluster_curl signs a request as a server of
# the cluster would.  A test of the open mode calls open_cluster before it
# starts anything.
#
# Environment: GFS_BIN (directory of the programs, required).

# With pipefail, `producer | grep -q` fails when grep exits at the first
# match and the producer dies of SIGPIPE: use `grep ... >/dev/null` there.
set -uo pipefail

: "${GFS_BIN:?GFS_BIN must name the directory holding gfs-master etc.}"
# this directory (its python3 helpers: PYTHONPATH="$IT_DIR"), absolute:
# tests cd into $T
IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/gfs-it.XXXXXX")
PIDS=()        # every process we started
MOUNTS=()      # every mountpoint we mounted
TMPFS=()       # every tmpfs we mounted (unmounted after the processes stop)
MASTER_URL=""  # primary master
BACKUP_URL=""
MASTERS=""     # comma-separated list for --master
CS_URLS=()
CS_PIDS=()
CS_DIRS=()
TEST_FAILED=0
CLEANUP_HOOKS=() # commands run on exit after every process stopped

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

fail() {
	log "FAIL: $*"
	TEST_FAILED=1
	exit 1
}

# descendants PID: every live process below PID, deepest first.
descendants() {
	local c
	for c in $(pgrep -P "$1"); do
		descendants "$c"
		echo "$c"
	done
}

# mounted DIR: DIR is a mount point, also when its FUSE daemon died (then
# stat, and so mountpoint(1), fails with ENOTCONN).
mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }

cleanup() {
	local rc=$? m p i
	trap - EXIT INT TERM
	for m in "${MOUNTS[@]}"; do
		mounted "$m" || continue
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# Whatever else the test left running (a writer loop in the
	# background, a curl stuck on a stopped server) goes too: nothing
	# outlives a test, whichever way it ended.
	for p in $(descendants $$); do kill -KILL "$p" 2>/dev/null; done
	for m in "${TMPFS[@]}"; do
		mountpoint -q "$m" 2>/dev/null || continue
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	# a hook that finds something wrong sets TEST_FAILED
	for m in "${CLEANUP_HOOKS[@]}"; do $m; done
	[ $TEST_FAILED = 1 ] && [ $rc -eq 0 ] && rc=1
	# under make asan, any sanitizer report of any program fails the test
	if [ "${GFS_ASAN:-0}" = 1 ] && ls "$T"/sanitizer.* >/dev/null 2>&1; then
		log "FAIL: sanitizer reports: $(cd "$T" && echo sanitizer.*)"
		head -n 60 "$T"/sanitizer.* >&2
		[ $rc -ne 0 ] || rc=1
	fi
	if [ $rc -ne 0 ] || [ $TEST_FAILED = 1 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $(basename "$f") (last 30 lines)" >&2
			tail -n 30 "$f" >&2
		done
	fi
	if [ "${KEEP:-0}" = 1 ] && [ $rc -ne 0 ]; then
		log "keeping $T"
	else
		rm -rf --one-file-system "$T" 2>/dev/null
	fi
	exit $rc
}
trap cleanup EXIT
if [ "${GFS_ASAN:-0}" = 1 ]; then
	# every program started from here writes its reports to files we check
	export ASAN_OPTIONS="log_path=$T/sanitizer.asan:${ASAN_OPTIONS:-}"
	export UBSAN_OPTIONS="log_path=$T/sanitizer.ubsan:print_stacktrace=1:${UBSAN_OPTIONS:-}"
fi
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- credentials ----------------------------------------------------------

GFS_AUTH=1
AUTH_DIR=$T/auth
SECRET_FILE=$AUTH_DIR/secret
KEYS_FILE=$AUTH_DIR/keys

# new_key: a fresh random client key on stdout.
new_key() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

# add_key NAME rw|ro [PREFIX...]: a key in the keys file, kept in
# $AUTH_DIR/NAME.key (for --key-file); prints that file's path.  A running
# master sees it after `kill -HUP $MASTER_PID`.
add_key() {
	local name=$1 key
	shift
	key=$(new_key)
	(umask 077 && echo "$key" >"$AUTH_DIR/$name.key")
	echo "$name $key $*" >>"$KEYS_FILE"
	echo "$AUTH_DIR/$name.key"
}

(umask 077 && mkdir -p "$AUTH_DIR/curl" "$AUTH_DIR/nocurl" &&
	head -c 32 /dev/urandom | base64 >"$SECRET_FILE" && : >"$KEYS_FILE")
export GFS_KEY_FILE
GFS_KEY_FILE=$(add_key admin rw)
ADMIN_KEY=$(cat "$GFS_KEY_FILE")
printf 'header = "Authorization: Bearer %s"\n' "$ADMIN_KEY" >"$AUTH_DIR/curl/.curlrc"
export CURL_HOME=$AUTH_DIR/curl

# open_cluster: what starts from now on runs without a secret or keys
# (loopback only), and clients send no key.
open_cluster() {
	GFS_AUTH=0
	unset GFS_KEY_FILE
	export CURL_HOME=$AUTH_DIR/nocurl
}

# The credential flags of a master, a chunkserver (none when open).
master_auth() {
	[ "$GFS_AUTH" = 1 ] && echo "--secret-file $SECRET_FILE --keys $KEYS_FILE"
}
cs_auth() { [ "$GFS_AUTH" = 1 ] && echo "--secret-file $SECRET_FILE"; }

# The credentials of docs/PROTOCOL.md "Security" made again from the
# document, with openssl: a test plays a server of the cluster, or forges
# what an attacker would.
hexof() { od -An -tx1 -v | tr -d ' \n'; }
# hmac KEYHEX: HMAC-SHA256 of stdin in hex.
hmac() { openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" -r | cut -d' ' -f1; }
# derived_key SECRET_FILE LABEL: a key derived from the secret, in hex.
derived_key() {
	local s
	s=$(sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$1" | tr -d '\n')
	printf '%s' "$2" | hmac "$(printf '%s' "$s" | hexof)"
}

# gfs_sign SECRET_FILE METHOD URL [BODY_FILE [TIME [NONCE]]]: the
# "Authorization: GFS1 ..." line of a request signed with the secret.
gfs_sign() {
	local f=$1 m=$2 u=$3 body=${4:-/dev/null} t=${5:-$(date +%s)} n=${6:-} key sha target mac
	[ -n "$n" ] || n=$(head -c 16 /dev/urandom | hexof)
	key=$(derived_key "$f" "gfs request v1")
	sha=$(sha256sum <"$body" | cut -d' ' -f1)
	target=/${u#*://*/}
	mac=$(printf 'GFS1\n%s\n%s\n%s\n%s\n%s' "$m" "$target" "$t" "$n" "$sha" | hmac "$key")
	echo "Authorization: GFS1 $t $n $sha $mac"
}

# gfs_token SECRET_FILE HANDLE VERSION OPS EXPIRES: a chunk token
# (EXPIRES in Unix seconds, or +N for N seconds from now).
gfs_token() {
	local f=$1 exp=$5 text
	[[ "$exp" == +* ]] && exp=$(($(date +%s) + ${exp#+}))
	text="g1.$2.$3.$4.$exp"
	echo "$text.$(printf '%s' "$text" | hmac "$(derived_key "$f" "gfs chunk token v1")" | cut -c1-32)"
}

# cluster_curl METHOD URL [CURL_ARGS...]: curl signed with the cluster
# secret, as a server of the cluster calls; a body must be given as
# --data-binary @FILE (it is signed too).
cluster_curl() {
	local m=$1 u=$2 body="" a
	shift 2
	for a in "$@"; do [[ "$a" == @* ]] && body=${a#@}; done
	curl -q -s -X "$m" -H "$(gfs_sign "$SECRET_FILE" "$m" "$u" $body)" \
		"$@" "$u"
}

# cluster_post URL JSON [CURL_ARGS...]: POST JSON signed with the secret,
# as a chunkserver sends its heartbeats; the reply on stdout.
cluster_post() {
	local u=$1 f
	f=$(mktemp "$T/post.XXXXXX")
	printf '%s' "$2" >"$f"
	shift 2
	cluster_curl POST "$u" --data-binary "@$f" \
		-H 'Content-Type: application/json' "$@"
	rm -f "$f"
}
# (also in a `bash -c` a test runs)
export -f cluster_curl cluster_post gfs_sign derived_key hmac hexof
export T SECRET_FILE

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds.
wait_for() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || fail "timed out after ${secs}s waiting for $what"
		sleep 0.05
	done
}

# drop_reply [--hold MS] TARGET_PORT MATCH MARKER [KILL_PID]: a proxy
# in front of 127.0.0.1:TARGET_PORT that loses (or holds back) the reply
# to the first request containing MATCH (dropreply.py); started and
# listening on return, its port in PROXY_PORT.
drop_reply() {
	local hold=()
	if [ "$1" = --hold ]; then
		hold=(--hold "$2")
		shift 2
	fi
	PROXY_PORT=$(free_port)
	python3 "$IT_DIR/dropreply.py" "${hold[@]}" "$PROXY_PORT" "$@" \
		>>"$T/proxy.log" 2>&1 &
	PIDS+=("$!")
	wait_for 30 "proxy" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT"
}

# free_port: a TCP port nobody uses (random, below the kernel's
# ephemeral range so that no outgoing connection holds it; checked with ss).
free_port() {
	local p lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	for _ in $(seq 1 200); do
		p=$((10000 + RANDOM % (lo - 10000)))
		ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null | grep . >/dev/null && continue
		ss -Hltn "sport = :$p" 2>/dev/null | grep . >/dev/null && continue
		echo "$p"
		return 0
	done
	fail "no free port found"
}

http_ok() { curl -sf -o /dev/null --max-time 2 "$1"; }

# key_works KEYFILE URL: a GET of URL with that key (alone) succeeds.
key_works() {
	curl -q -sf -o /dev/null --max-time 2 -H "Authorization: Bearer $(cat "$1")" "$2"
}

# start_master [ARGS...]: start the primary; sets MASTER_URL, MASTER_PID.
start_master() {
	local port
	port=$(free_port)
	MASTER_URL="http://127.0.0.1:$port"
	MASTERS=$MASTER_URL
	mkdir -p "$T/master"
	# shellcheck disable=SC2046
	"$GFS_BIN/gfs-master" --listen "127.0.0.1:$port" --data "$T/master" \
		$(master_auth) "$@" >>"$T/master.log" 2>&1 &
	MASTER_PID=$!
	PIDS+=("$MASTER_PID")
	wait_for 10 "master on $MASTER_URL" http_ok "$MASTER_URL/api/v1/healthz"
}

# restart_master [ARGS...]: start the primary again on the same port/data.
restart_master() {
	local port=${MASTER_URL##*:}
	# shellcheck disable=SC2046
	"$GFS_BIN/gfs-master" --listen "127.0.0.1:$port" --data "$T/master" \
		$(master_auth) "$@" >>"$T/master.log" 2>&1 &
	MASTER_PID=$!
	PIDS+=("$MASTER_PID")
	wait_for 10 "master on $MASTER_URL" http_ok "$MASTER_URL/api/v1/healthz"
}

# start_backup [ARGS...]: a backup master following MASTER_URL.
start_backup() {
	local port
	port=$(free_port)
	BACKUP_URL="http://127.0.0.1:$port"
	MASTERS="$MASTER_URL,$BACKUP_URL"
	mkdir -p "$T/backup"
	# shellcheck disable=SC2046
	"$GFS_BIN/gfs-master" --listen "127.0.0.1:$port" --data "$T/backup" \
		--backup-of "$MASTER_URL" $(master_auth) "$@" \
		>>"$T/backup.log" 2>&1 &
	BACKUP_PID=$!
	PIDS+=("$BACKUP_PID")
	wait_for 10 "backup on $BACKUP_URL" http_ok "$BACKUP_URL/api/v1/healthz"
}

# start_etcd: a one-member etcd on free loopback ports, data in $T/etcd;
# sets ETCD_URL, ETCD_PID.  Short raft timings, so that it is up at once
# and grants leases down to 1 s.  restart_etcd starts it again (same data).
start_etcd() {
	ETCD_URL=http://127.0.0.1:$(free_port)
	ETCD_PEER=http://127.0.0.1:$(free_port)
	restart_etcd
}
restart_etcd() {
	etcd --name gfs --data-dir "$T/etcd" --listen-client-urls "$ETCD_URL" \
		--advertise-client-urls "$ETCD_URL" --listen-peer-urls "$ETCD_PEER" \
		--initial-advertise-peer-urls "$ETCD_PEER" \
		--initial-cluster "gfs=$ETCD_PEER" --heartbeat-interval 50 \
		--election-timeout 500 >>"$T/etcd.log" 2>&1 &
	ETCD_PID=$!
	PIDS+=("$ETCD_PID")
	wait_for 15 "etcd on $ETCD_URL" http_ok "$ETCD_URL/health"
}

# start_etcd_master NAME [ARGS...]: a master with --etcd $ETCD_URL, data
# in $T/NAME, log $T/NAME.log; sets EM_URL[NAME], EM_PID[NAME] and adds
# it to MASTERS.
declare -A EM_URL=() EM_PID=()
start_etcd_master() {
	local name=$1 port
	shift
	port=${EM_URL[$name]:-}
	port=${port##*:}
	[ -n "$port" ] || port=$(free_port)
	EM_URL[$name]=http://127.0.0.1:$port
	[[ ",$MASTERS," == *",${EM_URL[$name]},"* ]] ||
		MASTERS=${MASTERS:+$MASTERS,}${EM_URL[$name]}
	mkdir -p "$T/$name"
	# shellcheck disable=SC2046
	"$GFS_BIN/gfs-master" --listen "127.0.0.1:$port" --data "$T/$name" \
		--etcd "$ETCD_URL" $(master_auth) "$@" >>"$T/$name.log" 2>&1 &
	EM_PID[$name]=$!
	PIDS+=("$!")
	wait_for 10 "master $name" http_ok "${EM_URL[$name]}/api/v1/healthz"
}

# etcd_leader: the name of the master that leads (as the first that
# answers says, and it agrees); fails when none does.
etcd_leader() {
	local n url
	for n in "${!EM_URL[@]}"; do
		url=$(curl -sf --max-time 2 "${EM_URL[$n]}/api/v1/status" | jq -r '.leader.url // empty') || continue
		[ -n "$url" ] || continue
		for n in "${!EM_URL[@]}"; do
			[ "${EM_URL[$n]}" = "$url" ] || continue
			curl -sf --max-time 2 "$url/api/v1/status" | jq -e '.role == "primary"' >/dev/null && echo "$n" && return 0
		done
	done
	return 1
}

# alive_count URL: number of chunkservers the master at URL calls alive.
alive_count() {
	curl -sf --max-time 2 "$1/api/v1/status" |
		grep -o '"alive":true' | wc -l
}

alive_at_least() { [ "$(alive_count "$1")" -ge "$2" ]; }

# start_chunkserver INDEX [ARGS...]: one chunkserver, data in $T/csINDEX.
start_chunkserver() {
	local i=$1 port
	shift
	port=${CS_PORTS[$i]:-$(free_port)}
	CS_PORTS[$i]=$port
	CS_URLS[$i]="http://127.0.0.1:$port"
	CS_DIRS[$i]="$T/cs$i"
	mkdir -p "${CS_DIRS[$i]}"
	# shellcheck disable=SC2046
	"$GFS_BIN/gfs-chunkserver" --data "${CS_DIRS[$i]}" --master "$MASTERS" \
		$(cs_auth) "$@" "$port" >>"$T/cs$i.log" 2>&1 &
	CS_PIDS[$i]=$!
	PIDS+=("${CS_PIDS[$i]}")
	wait_for 10 "chunkserver $i" http_ok "${CS_URLS[$i]}/api/v1/healthz"
}
CS_PORTS=()

# start_chunkservers N [ARGS...]: N chunkservers, waits until all are alive.
start_chunkservers() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do start_chunkserver "$i" "$@"; done
	wait_for 20 "$n live chunkservers" alive_at_least "$MASTER_URL" "$n"
}

# start_cluster [N [MASTER_ARGS...]]: master plus N chunkservers (default 4).
start_cluster() {
	local n=${1:-4}
	shift || true
	start_master "$@"
	start_chunkservers "$n"
}

# kill9 PID: kill -9 and reap.
kill9() { kill -KILL "$1" 2>/dev/null; wait "$1" 2>/dev/null; true; }

# unnamed_over BYTES I...: chunkserver I holds open an unnamed file of its
# chunks/ (a new chunk before its commit: chunkserver/inodepool.h) of more
# than BYTES bytes.
unnamed_over() {
	local min=$1 i f target
	shift
	for i in "$@"; do
		for f in /proc/"${CS_PIDS[$i]}"/fd/*; do
			target=$(readlink "$f" 2>/dev/null) || continue
			[[ $target == "${CS_DIRS[$i]}/chunks/#"*" (deleted)" ]] ||
				continue
			[ "$(stat -L -c %s "$f" 2>/dev/null || echo 0)" -gt "$min" ] &&
				return 0
		done
	done
	return 1
}

# chunks_on_disk DIR: the handles of the chunks a chunkserver's data
# directory DIR holds, sorted: its chunk files (chunks/<xx>/<handle>) and
# its live packed records as its start-up would read them
# (pack_records.py; docs/CHUNKSERVER.md, "Packed small chunks").
chunks_on_disk() {
	{
		find "$1/chunks" -type f -regextype posix-extended \
			-regex '.*/[0-9a-f]{16}' -printf '%f\n'
		python3 "$IT_DIR/pack_records.py" "$1" | cut -d' ' -f1
	} | sort -u
}

# gfs ARGS...: the CLI against this cluster.
gfs() { "$GFS_BIN/gfs" --master "$MASTERS" "$@"; }

# mount_fuse DIR [ARGS...]: mount the cluster at DIR, wait until mounted.
mount_fuse() {
	local dir=$1
	shift
	mkdir -p "$dir"
	"$GFS_BIN/gfs-fuse" --master "$MASTERS" -f "$@" "$dir" \
		>>"$T/fuse-$(basename "$dir").log" 2>&1 &
	PIDS+=("$!")
	MOUNTS+=("$dir")
	wait_for 10 "mount at $dir" mountpoint -q "$dir"
}

# mount_tmpfs DIR SIZE: a tmpfs of SIZE (as mount -o size=) at DIR,
# unmounted on exit; fails (status 1) when we may not mount.
mount_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2" tmpfs "$1" 2>/dev/null || return 1
	TMPFS+=("$1")
}

# random_file PATH BYTES: a file of random bytes.  From 64 MiB on, an
# AES-CTR keystream under a random key (as unpredictable and
# incompressible to the programs under test, and some three times
# faster than /dev/urandom: 3 s instead of 8 for 1 GiB).
random_file() {
	if [ "$2" -lt $((64 << 20)) ]; then
		head -c "$2" /dev/urandom >"$1"
		return
	fi
	openssl enc -aes-256-ctr -nosalt -in /dev/zero \
		-K "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" \
		-iv "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" 2>/dev/null |
		head -c "$2" >"$1"
	# (openssl ends on SIGPIPE: the size says whether it worked)
	[ "$(stat -c %s "$1")" = "$2" ]
}

sha() { sha256sum <"$1" | cut -d' ' -f1; }

assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: '$1' != '$2'"; }

assert_same_file() { cmp -s "$1" "$2" || fail "${3:-files differ}: $1 vs $2"; }

# http_status METHOD URL [CURL_ARGS...]: print the status code only.
http_status() {
	local m=$1 u=$2
	shift 2
	curl -s -o "$T/last_body" -w '%{http_code}' -X "$m" --max-time 10 "$@" "$u"
}

# json_error_code: the "code" member of the last http_status body.
json_error_code() { grep -o '"code":"[a-z_]*"' "$T/last_body" | cut -d'"' -f4; }
