#!/usr/bin/env bash
# Prometheus scrapes every server of a cluster at /metrics: each target is
# up, each server's text passes promtool, and the byte counters move when
# files are written.  Uses Debian's prometheus (make deps).
source "$(dirname "$0")/lib.sh"

command -v prometheus >/dev/null && command -v promtool >/dev/null ||
	fail "prometheus and promtool are missing (make deps)"

start_master --chunk-size 1M
start_backup --chunk-size 1M
start_chunkservers 3
servers=("$MASTER_URL" "$BACKUP_URL" "${CS_URLS[@]}")

# Every server's text passes promtool, /metrics and /api/v1/metrics alike,
# and every family has HELP and TYPE.
for u in "${servers[@]}"; do
	for path in /metrics /api/v1/metrics; do
		curl -sf --max-time 5 "$u$path" >"$T/m.txt" || fail "GET $u$path"
		promtool check metrics <"$T/m.txt" >"$T/promtool.txt" 2>&1 ||
			{ cat "$T/promtool.txt" >&2; fail "promtool rejects $u$path"; }
	done
	awk '/^# HELP /{h[$3]=1} /^# TYPE /{t[$3]=1}
	     !/^#/{n=$1; sub(/\{.*/,"",n); f=n; sub(/_(bucket|sum|count)$/,"",f)
		   if (!(n in t) && !(f in t)) { print "no TYPE: " n; bad=1 }
		   if (!(n in h) && !(f in h)) { print "no HELP: " n; bad=1 } }
	     END{exit bad}' "$T/m.txt" >&2 || fail "$u: a family without HELP or TYPE"
done
curl -sf "$MASTER_URL/metrics" | grep '^gfs_master_oplog_fsync_seconds_bucket{le="+Inf"}' >/dev/null ||
	fail "no op-log fsync histogram"
curl -sf "$MASTER_URL/metrics" | grep '^gfs_master_http_request_seconds_bucket{method="GET",route="/api/v1/status",le=' >/dev/null ||
	fail "no latency histogram by route"
curl -sf "${CS_URLS[0]}/metrics" | grep '^gfs_chunkserver_chunk_write_seconds_count ' >/dev/null ||
	fail "no chunk write histogram"

# A scrape config naming every server, Prometheus on a free port.
port=$(free_port)
PROM=http://127.0.0.1:$port
{
	echo "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}"
	echo "scrape_configs:"
	echo "  - job_name: gfs"
	echo "    static_configs:"
	echo "      - targets:"
	for u in "${servers[@]}"; do echo "          - ${u#http://}"; done
} >"$T/prometheus.yml"
promtool check config "$T/prometheus.yml" >/dev/null || fail "bad scrape config"
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
	--web.listen-address="127.0.0.1:$port" >>"$T/prometheus.log" 2>&1 &
PIDS+=("$!")
wait_for 30 "prometheus on $PROM" http_ok "$PROM/-/ready"

# query EXPR: the value of a one-sample instant query, empty when none.
query() {
	curl -sf --max-time 5 "$PROM/api/v1/query" --data-urlencode "query=$1" |
		jq -r '.data.result[0].value[1] // empty'
}
all_up() { [ "$(query 'sum(up{job="gfs"})')" = "${#servers[@]}" ]; }
wait_for 30 "every target up" all_up
[ "$(query 'count(up{job="gfs"})')" = "${#servers[@]}" ] || fail "targets missing"

# Bytes into the chunkservers, as Prometheus sees them, move with writes.
bytes_in='sum(gfs_chunkserver_http_received_bytes_total)'
before=$(query "$bytes_in")
[ -n "$before" ] || fail "no $bytes_in"
random_file "$T/f" $((3 << 20))
for i in 1 2 3; do gfs upload "$T/f" "/prom/f$i" >/dev/null || fail "upload $i"; done
moved() {
	local now
	now=$(query "$bytes_in")
	[ -n "$now" ] && awk -v a="$before" -v b="$now" 'BEGIN { exit !(b - a >= 3 * 3 * 3145728) }'
}
wait_for 30 "$bytes_in to count three replicas of 9 MiB" moved
# the master is scraped apart from the chunkservers: wait for its count too
commits='sum(gfs_master_http_requests_total{route="/api/v1/files/*/commit"})'
committed() { [ "$(query "$commits")" -ge 3 ] 2>/dev/null; }
wait_for 30 "prometheus to see 3 commits" committed
log "prometheus: ${#servers[@]} targets up, $before -> $(query "$bytes_in") bytes in"
