#!/usr/bin/env bash
# The attacks of issue 10, made from outside as anyone on the network
# would, against a protected cluster: each is refused (401 or 403) and
# nothing changes: every chunk is where it was, every file reads back,
# no server is registered, no lease moves, the master stays primary.
#  1. PUT /chunks/ff?version=2^64-1 (poisons a server's inventory)
#  2. DELETE the replicas of a chunk; PUT version+1 (the master would
#     delete the replicas as stale); DELETE then PUT version 1 with our
#     bytes; GET any chunk by guessing its handle
#  3. a forged, replayed or stale heartbeat (a fake server with room)
#  4. X-GFS-Client naming another's lease
#  5. X-GFS-Epoch: 999999 (a master stepping down)
. "$(dirname "$0")/lib.sh"

# (a server whose heartbeats were refused would be dead within the 4.5 s
# the end waits; beats every 500 ms keep a slow one alive)
start_master --chunk-size 1MiB --dead-after 3s
start_chunkservers 4 --heartbeat-interval 500ms
A=$MASTER_URL/api/v1
cd "$T"
random_file f 2500000
gfs upload f /f >/dev/null || fail "upload"

# what must not change
chunks_of() { curl -sf "$A/files/f" | jq -r '.chunks[] | "\(.handle) \(.version) \(.replicas | sort | join(","))"'; }
before=$(chunks_of)
on_disk() { find "$T"/cs[0-3]/chunks -type f -name '[0-9a-f]*' ! -name '*.*' -printf '%f\n' | sort; }
disk_before=$(on_disk)
read -r H V _ <<<"$(head -n1 <<<"$before")"
TOK=$(curl -sf "$A/files/f" | jq -r '.chunks[0].token')
REPS=$(curl -sf "$A/files/f" | jq -r '.chunks[0].replicas[]')
[ -n "$TOK" ] && [ "$TOK" != null ] || fail "no token in the file map"
head -c 4096 /dev/urandom >evil
echo "a secret that is not the cluster's" >"$T/other" && chmod 600 "$T/other"
FORGED=$(gfs_token "$T/other" "$H" 0 rw +600)

# anon METHOD URL [CURL_ARGS...]: the status of a request with no key
anon() { curl -q -s -o "$T/last_body" -w '%{http_code}' -X "$1" "${@:3}" "$2"; }
refused() { # refused WANT WHAT METHOD URL [CURL_ARGS...]
	local want=$1 what=$2 got
	shift 2
	got=$(anon "$@")
	assert_eq "$got" "$want" "$what"
}

# 1. a huge version on a chunkserver
U0="${CS_URLS[0]}/api/v1/chunks/00000000000000ff?version=18446744073709551615"
refused 401 "huge version, no token" PUT "$U0" -T evil
refused 403 "huge version, forged token" PUT "$U0" -T evil -H "X-GFS-Token: $(gfs_token "$T/other" 00000000000000ff 0 w +600)"
refused 403 "huge version, a token of another chunk" PUT "$U0" -T evil -H "X-GFS-Token: $TOK"
assert_eq "$(jq -r .code "$T/last_body")" bad_token "error code"

# 2. the replicas of a chunk
for r in $REPS; do
	refused 401 "DELETE on $r" DELETE "$r/api/v1/chunks/$H"
	refused 401 "DELETE with a read token on $r" DELETE "$r/api/v1/chunks/$H" -H "X-GFS-Token: $TOK"
	refused 403 "PUT version+1 with a read token on $r" PUT "$r/api/v1/chunks/$H?version=$((V + 1))" -T evil -H "X-GFS-Token: $TOK"
	refused 401 "PUT version+1 on $r" PUT "$r/api/v1/chunks/$H?version=$((V + 1))" -T evil
	refused 403 "PUT with a forged token on $r" PUT "$r/api/v1/chunks/$H?version=1" -T evil -H "X-GFS-Token: $FORGED"
	refused 401 "GET without a token on $r" GET "$r/api/v1/chunks/$H"
done
next=$(printf '%016x' $((16#$H + 1)))
refused 403 "GET of the next handle with this token" GET "${CS_URLS[0]}/api/v1/chunks/$next?version=1" -H "X-GFS-Token: $TOK"
refused 401 "GET of the next handle" GET "${CS_URLS[0]}/api/v1/chunks/$next?version=1"

# 3. heartbeats from a fake server with lots of room
hb='{"url":"http://127.0.0.1:9","full":true,"chunks":[],"free_bytes":999999999999999}'
printf '%s' "$hb" >hb.json
refused 401 "unsigned heartbeat" POST "$A/heartbeat" --data-binary @hb.json
refused 401 "heartbeat signed with another secret" POST "$A/heartbeat" --data-binary @hb.json -H "$(gfs_sign "$T/other" POST "$A/heartbeat" hb.json)"
refused 401 "heartbeat signed 5 minutes ago" POST "$A/heartbeat" --data-binary @hb.json -H "$(gfs_sign "$SECRET_FILE" POST "$A/heartbeat" hb.json $(($(date +%s) - 300)))"
printf '%s' '{"url":"http://127.0.0.1:9","full":true,"chunks":[],"free_bytes":1}' >small.json
refused 401 "heartbeat with another body than signed" POST "$A/heartbeat" --data-binary @hb.json -H "$(gfs_sign "$SECRET_FILE" POST "$A/heartbeat" small.json)"
# a captured request of the cluster, sent again: a replay
sig=$(gfs_sign "$SECRET_FILE" GET "$A/oplog?from=1&wait_ms=1")
refused 200 "a signed request" GET "$A/oplog?from=1&wait_ms=1" -H "$sig"
refused 401 "the same request replayed" GET "$A/oplog?from=1&wait_ms=1" -H "$sig"
refused 401 "an op-log read" GET "$A/oplog?from=1"
refused 401 "a checkpoint read" GET "$A/checkpoint"
assert_eq "$(curl -sf "$A/status" | jq '.chunkservers | length')" 4 "servers registered"

# 4. another's lease: alice holds it, bob names alice
ALICE=$(add_key alice rw)
BOB=$(add_key bob rw)
kill -HUP "$MASTER_PID"
as() { local k=$1 m=$2 u=$3; shift 3; curl -q -s -o "$T/last_body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $(cat "$k")" "$@" "$u"; }
wait_for 10 "the new keys" key_works "$ALICE" "$A/files/f?stat=1"
assert_eq "$(as "$ALICE" PUT "$A/leases/f" -H 'X-GFS-Client: m1')" 200 "alice leases"
assert_eq "$(jq -r .holder "$T/last_body")" alice/m1 "holder"
for id in m1 alice/m1 alice; do
	assert_eq "$(as "$BOB" GET "$A/files/f" -H "X-GFS-Client: $id")" 423 "bob as '$id' reads"
	assert_eq "$(as "$BOB" DELETE "$A/leases/f" -H "X-GFS-Client: $id")" 423 "bob as '$id' releases"
	assert_eq "$(as "$BOB" DELETE "$A/files/f" -H "X-GFS-Client: $id")" 423 "bob as '$id' deletes"
done
assert_eq "$(curl -sf "$A/leases/f" | jq -r .holder)" alice/m1 "the lease stayed"
assert_eq "$(as "$ALICE" DELETE "$A/leases/f" -H 'X-GFS-Client: m1')" 200 "alice releases"

# 5. a higher epoch from a client, or from nobody
epoch=$(curl -sf "$A/status" | jq .epoch)
assert_eq "$(http_status PUT "$A/files/g" -H 'X-GFS-Epoch: 999999')" 201 "a create with a higher epoch"
assert_eq "$(anon GET "$A/healthz" -H 'X-GFS-Epoch: 999999')" 200 "healthz with a higher epoch"
# (a bad signature on a public route is nobody's request)
printf '{"epoch": 999999, "primary": "http://127.0.0.1:9"}' >epoch.json
refused 401 "an unsigned epoch notice" POST "$A/epoch" --data-binary @epoch.json -H 'Content-Type: application/json'
refused 401 "an epoch notice signed with another secret" POST "$A/epoch" --data-binary @epoch.json -H 'Content-Type: application/json' -H "$(gfs_sign "$T/other" POST "$A/epoch" epoch.json)"
refused 200 "a signature that is not one, with a higher epoch" GET "$A/status" -H 'X-GFS-Epoch: 999999' -H 'Authorization: GFS1 1 2 3 4'
assert_eq "$(curl -sf "$A/status" | jq -r '"\(.role) \(.epoch)"')" "primary $epoch" "the master stepped down"

# Nothing changed: after two heartbeats of every server, every chunk is
# where it was with its version, the disks hold what they held, and the
# file and the new one read back through gfs and the gateway.
hb_after=$(($(date +%s) * 1000 + 4500))
beat_since() { curl -sf "$A/status" | jq -e --argjson t "$1" '[.chunkservers[] | select(.alive and .last_heartbeat_ms > $t)] | length == 4' >/dev/null; }
wait_for 20 "two more heartbeats" beat_since "$hb_after"
assert_eq "$(chunks_of)" "$before" "the chunk map"
assert_eq "$(on_disk)" "$disk_before" "the chunk files on disk"
assert_eq "$(curl -sf "$A/status" | jq '[.under_replicated, (.chunkservers | length)] | join(" ")' -r)" "0 4" "under-replicated, servers"
! grep -q "bad chunk list" "$T/master.log" || fail "a heartbeat was refused"
gfs download /f back >/dev/null || fail "download"
assert_same_file back f "gfs download"
curl -sf --location-trusted "$A/content/f" -o back2 || fail "curl -L"
assert_same_file back2 f "curl -L"
log "ok"
