#!/usr/bin/env bash
# gfs-it: serial (timing: run alone, see run.sh)
# Slow clients: 1,000 connections to the master, from four loopback
# addresses (127.0.0.2-5, 250 each, under the per-address cap), each
# sending a request line and then one header line a second, a header that
# never ends.  While they are held the master still answers /healthz, an
# upload and a listing within 2 s each, without a thread per connection;
# each slow connection is closed at the header deadline (10 s after its
# request line); and one address gets no more than its cap (512).
. "$(dirname "$0")/lib.sh"

N=1000
HEADER_S=10     # the default --http-header-timeout
PER_PEER=512    # the default --http-max-per-peer
start_cluster 3
PORT=${MASTER_URL##*:}
ST=$T/slow.status
random_file "$T/small" 100000

# slow_stat KEY: a number from the helper's status file.
slow_stat() { awk -v k="$1" '$1 == k {print $2}' "$ST" 2>/dev/null; }
metric() { curl -sf --max-time 2 "$MASTER_URL/api/v1/metrics" |
	awk -v k="$1" '$1 == k {print $2}'; }
opened_all() { [ "$(slow_stat opened)" = "$N" ]; }
held() { [ "$(metric gfs_master_http_connections)" -ge "$N" ]; }
all_cut() { [ "$(slow_stat closed)" = "$N" ]; }

# within SECS WHAT COMMAND...: run it, fail unless it succeeds in time.
within() {
	local secs=$1 what=$2 t0 t1
	shift 2
	t0=$(date +%s%N)
	timeout "$secs" "$@" >/dev/null || fail "$what failed or took over ${secs}s"
	t1=$(date +%s%N)
	log "$what: $(((t1 - t0) / 1000000)) ms"
}

python3 "$(dirname "$0")/slow_clients.py" 127.0.0.1 "$PORT" "$N" 4 1 \
	$((HEADER_S + 8)) "$ST" &
SLOW=$!
PIDS+=("$SLOW")
wait_for 20 "$N slow connections opened" opened_all
wait_for 5 "the master holding $N connections" held
threads=$(awk '/^Threads:/ {print $2}' "/proc/$MASTER_PID/status")
log "master threads with $N slow connections: $threads"
[ "$threads" -lt 100 ] || fail "$threads threads for $N idle sockets"

within 2 "GET /healthz" curl -sf --max-time 2 "$MASTER_URL/api/v1/healthz"
within 2 "gfs upload" "$GFS_BIN/gfs" --master "$MASTERS" upload "$T/small" /small
within 2 "gfs ls" "$GFS_BIN/gfs" --master "$MASTERS" ls /
[ "$(slow_stat closed)" = 0 ] && [ "$(slow_stat refused)" = 0 ] ||
	fail "slow connections were dropped before the checks ran: $(cat "$ST")"
held || fail "the master no longer holds the slow connections"

# Each is cut at the header deadline, not before, not much after.
wait_for $((HEADER_S + 10)) "the slow connections to be cut" all_cut
first=$(slow_stat first_cut)
last=$(slow_stat last_cut)
log "cut after ${first}s to ${last}s"
awk -v f="$first" -v l="$last" -v h="$HEADER_S" \
	'BEGIN { exit !(f >= h - 0.5 && l <= h + 3) }' ||
	fail "cut after ${first}s..${last}s, wanted about ${HEADER_S}s"
[ "$(metric 'gfs_master_http_cut_total{why="header"}')" -ge "$N" ] ||
	fail "the cuts are not in /metrics"
wait "$SLOW"

# One address gets at most its cap; the rest are closed at once.
python3 "$(dirname "$0")/slow_clients.py" 127.0.0.1 "$PORT" \
	$((PER_PEER + 8)) 1 1 2 "$ST"
assert_eq "$(slow_stat refused)" 8 "connections over the per-address cap"
curl -sf --max-time 2 "$MASTER_URL/api/v1/healthz" >/dev/null ||
	fail "healthz after the per-address flood"
log "ok"
