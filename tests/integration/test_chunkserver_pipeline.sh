#!/usr/bin/env bash
# Three chunkservers, no master: a PUT to the first with X-GFS-Forward
# leaves identical bytes on all three (sized and chunked bodies); a replica
# that is down, or refuses, is reported in "failed" while the others still
# succeed; no replica takes a body its sender did not finish.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

for i in 0 1 2; do start_chunkserver $i; done
FWD="X-GFS-Forward: ${CS_URLS[1]},${CS_URLS[2]}"
random_file "$T/f" 20000000
want=$(sha "$T/f")

# all three hold the bytes, replicas listed in pipeline order
H=0000000000000101
assert_eq "$(put_chunk 0 $H version=1 "$T/f" -H "$FWD")" 200 "pipeline PUT"
grep -q "\"replicas\":\[\"${CS_URLS[0]}\",\"${CS_URLS[1]}\",\"${CS_URLS[2]}\"\]" \
	"$T/last_body" || fail "replicas: $(cat "$T/last_body")"
grep -q '"failed":\[\]' "$T/last_body" || fail "failed: $(cat "$T/last_body")"
for i in 0 1 2; do
	assert_eq "$(chunk_sha $i $H version=1)" "$want" "bytes on server $i"
	assert_same_file "$(data_file $i $H)" "$T/f" "data file on server $i"
done

# chunked, as the client library streams
H=0000000000000102
code=$(curl_code -T - -H "$FWD" "$(chunk_url 0 $H version=3)" <"$T/f")
assert_eq "$code" 200 "chunked pipeline PUT"
for i in 0 1 2; do
	assert_eq "$(chunk_sha $i $H version=3)" "$want" "chunked on server $i"
done

# a replica that refuses (it has a newer version) is reported, the others
# hold the new bytes
H=0000000000000103
assert_eq "$(put_chunk 1 $H version=9 "$T/f")" 200 "newer copy on server 1"
head -c 1000 /dev/urandom >"$T/small"
assert_eq "$(put_chunk 0 $H version=5 "$T/small" -H "$FWD")" 200 "PUT with a stale replica"
grep -q "\"failed\":\[{\"url\":\"${CS_URLS[1]}\",\"error\":\"[^\"]*version" \
	"$T/last_body" || fail "stale replica not reported: $(cat "$T/last_body")"
assert_eq "$(chunk_sha 0 $H version=5)" "$(sha "$T/small")" "head wrote"
assert_eq "$(chunk_sha 1 $H version=9)" "$want" "refusing replica unchanged"
expect_error 404 not_found "replica behind the refusing one" "$(chunk_url 2 $H)"

# the tail is down: the head and the middle succeed, the tail is failed
kill9 "${CS_PIDS[2]}"
H=0000000000000104
assert_eq "$(put_chunk 0 $H version=1 "$T/f" -H "$FWD")" 200 "PUT, tail down"
grep -q "\"replicas\":\[\"${CS_URLS[0]}\",\"${CS_URLS[1]}\"\]" "$T/last_body" ||
	fail "replicas with the tail down: $(cat "$T/last_body")"
grep -q "\"failed\":\[{\"url\":\"${CS_URLS[2]}\"" "$T/last_body" ||
	fail "tail not in failed: $(cat "$T/last_body")"
assert_eq "$(chunk_sha 1 $H version=1)" "$want" "middle holds it"

# the middle is down: the head alone succeeds; both others are failed
kill9 "${CS_PIDS[1]}"
H=0000000000000105
assert_eq "$(put_chunk 0 $H version=1 "$T/f" -H "$FWD")" 200 "PUT, middle down"
grep -q "\"replicas\":\[\"${CS_URLS[0]}\"\]" "$T/last_body" ||
	fail "replicas with the middle down: $(cat "$T/last_body")"
grep -q "${CS_URLS[1]}.*${CS_URLS[2]}.*not reached" "$T/last_body" ||
	fail "failed should list both: $(cat "$T/last_body")"
assert_eq "$(chunk_sha 0 $H version=1)" "$want" "head holds it"

# a client that vanishes mid-body: no replica records the chunk
start_chunkserver 1
start_chunkserver 2
H=0000000000000106
{
	printf 'PUT /api/v1/chunks/%s?version=1 HTTP/1.1\r\nHost: x\r\n' $H
	printf 'Transfer-Encoding: chunked\r\n%s\r\n\r\n' "$FWD"
	printf '%x\r\n' 3000000
	head -c 3000000 "$T/f"
	printf '\r\n'
} | cut_http "${CS_PORTS[0]}"
for i in 0 1 2; do
	wait_for 10 "server $i to see the cut write" put_errors_at_least $i 1
	[ ! -e "$(data_file $i $H)" ] || fail "cut write left a file on $i"
	expect_error 404 not_found "cut write on server $i" "$(chunk_url $i $H)"
done
log "ok"
