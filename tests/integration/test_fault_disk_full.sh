#!/usr/bin/env bash
# A chunkserver whose disk (a 48 MiB tmpfs, --reserve 4MiB) runs out of
# room while uploads and cp's stream in: no error reaches the users while
# the other servers have room, every chunk ends up with 3 replicas on
# servers with room, nothing is lost, and placement skips the full one.
#
# Placement balances free space, so our writes alone would fill the tiny
# disk at the moment they fill the others.  The other three are capped
# at 40 MiB (--capacity), less than the tiny one's 44, so it takes the
# first chunks; then, with the writers paused between two files, a file
# written straight onto its tmpfs takes all but 1 MiB, as another tenant
# of a small disk would.  The master hears of it at the tiny server's
# next heartbeat (every 5 s, long enough that writes meet the full disk
# even on a loaded machine): writes it places there meanwhile are
# refused (507) and must go elsewhere without the users noticing.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1MiB --dead-after 15s
if ! mount_tmpfs "$T/cs3" 48m; then
	log "skipped: cannot mount a tmpfs here"
	exit 0
fi
for i in 0 1 2; do start_chunkserver $i --heartbeat-interval 500ms --capacity 40MiB; done
start_chunkserver 3 --heartbeat-interval 5s --reserve 4MiB
wait_for 10 "4 live chunkservers" alive_at_least "$MASTER_URL" 4
TINY=${CS_URLS[3]}
A=$MASTER_URL/api/v1
M=$T/mnt
mount_fuse "$M"
mkdir -p "$T/src" "$M/cp" || fail mkdir
# chunks the tiny server holds (files or packed records), as it counts
# them: cheap enough to catch the first ones while the writers run
tiny_chunks() {
	curl -sf --max-time 2 "$TINY/metrics" |
		awk '$1 == "gfs_chunkserver_chunks" { print $2 }'
}
tiny_free() { curl -sf "$A/status" | jq --arg u "$TINY" '.chunkservers[] | select(.url == $u) | .free_bytes'; }

# Writers: each attempt goes to $T/tried, each success to $T/acked.  They
# wait between two files while $T/pause exists (saying so in
# $T/paused.NAME).
running() { [ -d "$T/src" ] && [ "$1" -lt 300 ]; }
pause_point() {
	while [ -e "$T/pause" ] && [ -d "$T/src" ]; do
		touch "$T/paused.$1"
		sleep 0.05
	done
	rm -f "$T/paused.$1"
}
uploader() {
	local n=0 f
	while running $n && [ $n -lt 16 ]; do
		pause_point u
		n=$((n + 1))
		f=u$n
		head -c $((300000 + (n * 7919 * 31) % 1000000)) /dev/urandom >"$T/src/$f"
		echo "$f" >>"$T/tried"
		gfs upload "$T/src/$f" "/up/$f" >/dev/null 2>>"$T/errors" && echo "$f" >>"$T/acked"
	done
}
copier() {
	local n=0 f
	while running $n && [ $n -lt 3 ]; do
		pause_point c
		n=$((n + 1))
		f=c$n
		head -c $((4 << 20)) /dev/urandom >"$T/src/$f"
		echo "$f" >>"$T/tried"
		cp "$T/src/$f" "$M/cp/$f" 2>>"$T/errors" && echo "$f" >>"$T/acked"
	done
}
uploader & UP=$!
copier & CP=$!
PIDS+=("$UP" "$CP")

tiny_has() { [ "$(tiny_chunks)" -ge "$1" ]; }
both_paused() { [ -e "$T/paused.u" ] && [ -e "$T/paused.c" ]; }
wait_for 30 "the tiny server to take some chunks" tiny_has 3
touch "$T/pause"
wait_for 30 "the writers to pause" both_paused
avail=$(df -B1 --output=avail "$T/cs3" | tail -n1)
head -c $((avail - (1 << 20))) /dev/zero >"$T/cs3/junk"
rm "$T/pause"
log "the tiny disk is full: $(tiny_chunks) chunks, $(df -B1 --output=avail "$T/cs3" | tail -n1) bytes left"
wait "$UP" "$CP"
cat "$T/errors" >&2 2>/dev/null
assert_eq "$(wc -l <"$T/acked")" "$(wc -l <"$T/tried")" "writes that succeeded"
refused=$(curl -sf "$TINY/api/v1/metrics" |
	grep '^gfs_chunkserver_http_errors_total{method="PUT",route="/api/v1/chunks/\*"}' | awk '{print $2}')
log "the full server refused ${refused:-0} writes"
[ "${refused:-0}" -ge 1 ] || fail "no write met the full disk: the test proved nothing"

# Every chunk: 3 replicas on live servers; the master knows it is full.
full_known() { [ "$(tiny_free)" -lt $((1 << 20)) ]; }
wait_for 10 "the master to see the tiny server full" full_known
files() { curl -sf "$A/files?prefix=/" | jq -r '.files[].path'; }
replicated() {
	local f
	[ "$(curl -sf "$A/status" | jq .under_replicated)" = 0 ] || return 1
	for f in $(files); do
		curl -sf "$A/files$f" | jq -e '[.chunks[] | .replicas | unique | length == 3] | all' >/dev/null || return 1
	done
}
# (within less than the master's copy timeout, 30 s: a copy it ordered
# to the full server, before it heard that server was full, is reported
# failed at once and ordered elsewhere)
wait_for 20 "3 replicas of every chunk" replicated

# Placement skips the full server.
curl -sf -X PUT "$A/files/probe" >/dev/null || fail "create probe"
for i in 0 1 2 3 4; do
	r=$(curl -sf -X POST "$A/files/probe/chunks" -d "{\"index\":$i}") || fail "allocation $i"
	jq -e --arg u "$TINY" '.replicas | length == 3 and (index($u) | not)' <<<"$r" >/dev/null ||
		fail "placement chose the full server: $r"
done

# Nothing lost: every file byte for byte, every chunk the full server
# still holds readable and verified.
while read -r f; do
	case $f in u*) r=/up/$f ;; c*) r=/cp/$f ;; esac
	gfs download "$r" "$T/back" >/dev/null || fail "download $r"
	assert_same_file "$T/back" "$T/src/$f" "$r"
done <"$T/acked"
# (a map may be a retryable 503 while a late heartbeat is awaited)
map_of() { curl -sf "$A/files$1" >"$T/map"; }
for f in $(files); do
	wait_for 10 "the chunk map of $f" map_of "$f"
	while read -r h v tok; do
		curl -sf -o /dev/null -H "X-GFS-Token: $tok" "$TINY/api/v1/chunks/$h?version=$v" ||
			fail "chunk $h on the full server"
	done < <(jq -r --arg u "$TINY" '.chunks[] | select(.replicas | index($u)) | "\(.handle) \(.version) \(.token)"' "$T/map")
done
log "ok: $(wc -l <"$T/acked") files, $(tiny_chunks) chunks on the full server"
