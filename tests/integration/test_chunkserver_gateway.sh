#!/usr/bin/env bash
# The /content gateway and the master's redirect to it:
# - the master's 307 goes round robin over every live chunkserver;
# - a file with a chunk that has no replica left is an error status
#   before any byte, never a 200 with a Content-Length and a short body.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

start_master --chunk-size 1MiB --replicas 1 --dead-after 2s
start_chunkservers 4 --heartbeat-interval 500ms
A=$MASTER_URL/api/v1
cd "$T"

# Round robin: 8 redirects reach each of the 4 servers twice.
random_file one 1000
gfs upload one /one >/dev/null || fail "upload one"
for _ in 1 2 3 4 5 6 7 8; do
	curl -s -o /dev/null -w '%{redirect_url}\n' "$A/content/one"
done | sed 's|/api/v1/.*||' | sort | uniq -c >rr
assert_eq "$(wc -l <rr)" 4 "servers reached by 8 redirects: $(tr '\n' ' ' <rr)"
awk '$1 != 2 { exit 1 }' rr || fail "uneven round robin: $(tr '\n' ' ' <rr)"

# A file of three chunks, each on one server (--replicas 1).
random_file big $((3 << 20))
gfs upload big /big >/dev/null || fail "upload big"
assert_eq "$(curl_code "${CS_URLS[0]}/api/v1/content/big")" 200 "whole file"
assert_same_file "$T/last_body" big "whole file through the gateway"

# A lost chunk: the one replica of chunk 1 of /big dies.  Every GET of
# the file, whole or from its start, is an error before any byte.
holder=$(curl -sf "$A/files/big" | jq -r '.chunks[1].replicas[0]')
for ((i = 0; i < 4; i++)); do [ "${CS_URLS[$i]}" = "$holder" ] && k=$i; done
[ -n "${k:-}" ] || fail "holder $holder of chunk 1 not found"
kill9 "${CS_PIDS[$k]}"
dead() { curl -sf "$A/status" | jq -e --arg u "$holder" \
	'.chunkservers[] | select(.url == $u) | .alive == false' >/dev/null; }
wait_for 10 "chunkserver $k dead" dead
g=$(((k + 1) % 4))
for range in "" "bytes=0-" "bytes=0-99" "bytes=2000000-2000100"; do
	code=$(curl -s -o "$T/last_body" -w '%{http_code}' ${range:+-H "Range: $range"} \
		"${CS_URLS[$g]}/api/v1/content/big")
	case $range in
	bytes=0-99) assert_eq "$code" 206 "a range of a chunk still held" ;;
	*) assert_eq "$code" 502 "GET ${range:-(whole)} of a file with a lost chunk"
	   assert_eq "$(json_error_code)" io_error "lost chunk: code"
	   grep -q "no live replica" "$T/last_body" || fail "message: $(cat "$T/last_body")" ;;
	esac
done
code=$(curl -sL -o /dev/null -w '%{http_code}' "$A/content/big")
assert_eq "$code" 502 "curl -L of a file with a lost chunk"
log "ok"
