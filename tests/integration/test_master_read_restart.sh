#!/usr/bin/env bash
# Reads at once after the master restarts, before the chunkservers'
# inventories are in: the master waits for them (bounded) or answers a
# retryable 503, never an entry whose chunks have no replicas; gfs
# download, cat through a mount and curl -L of the gateway all get the
# file's bytes (the gateway never answers 200 and then a short body).
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB
A=$MASTER_URL/api/v1
M=$T/mnt
mount_fuse "$M"
cd "$T"
random_file src 5000000
gfs upload src /f >/dev/null || fail "upload"

# restart: kill -9 the master and start it again on the same port
restart() {
	kill9 "$MASTER_PID"
	restart_master
}

# The master's entry at once: 503 (retryable) or every chunk located.
restart
code=$(curl -s -o "$T/entry" -w '%{http_code}' --max-time 20 "$A/files/f")
case $code in
503) assert_eq "$(jq -r .code "$T/entry")" unavailable "503 code" ;;
200) jq -e '[.chunks[] | .replicas | length > 0] | all' "$T/entry" >/dev/null ||
	fail "an entry with unlocated chunks right after a restart: $(cat "$T/entry")" ;;
*) fail "GET /files/f right after a restart: $code" ;;
esac

restart
gfs download /f back1 || fail "gfs download at once after a restart"
assert_same_file back1 src "gfs download after a restart"

restart
cat "$M/f" >back2 || fail "cat through the mount at once after a restart"
assert_same_file back2 src "cat after a restart"

restart
code=$(curl -s --location-trusted -o back3 -w '%{http_code}' --max-time 30 "$A/content/f")
size=$(stat -c %s back3)
[ "$code" = 200 ] || fail "curl -L right after a restart: $code"
assert_eq "$size" 5000000 "bytes of curl -L's 200"
assert_same_file back3 src "curl -L after a restart"
log "ok"
