#!/usr/bin/env bash
# One chunkserver, no master: a chunk PUT (sized and chunked bodies) comes
# back byte for byte (sha256), the raw data file holds exactly those bytes,
# versions only grow, appends and holes work, DELETE removes the chunk, and
# everything survives a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

start_chunkserver 0
random_file "$T/a" 5000000
random_file "$T/b" 300000
A=00000000000000a1
B=00000000000000b2

# a sized body
assert_eq "$(put_chunk 0 $A version=1 "$T/a")" 200 "PUT with Content-Length"
assert_eq "$(json_num length)" 5000000 "length in the reply"
grep -q "\"replicas\":\[\"${CS_URLS[0]}\"\]" "$T/last_body" ||
	fail "replicas should be this server only: $(cat "$T/last_body")"
grep -q '"failed":\[\]' "$T/last_body" || fail "failed should be empty"
assert_eq "$(chunk_sha 0 $A)" "$(sha "$T/a")" "GET returns the PUT bytes"
assert_same_file "$(data_file 0 $A)" "$T/a" "the raw data file"
# the meta is in the data file's xattr (a chunk this small), no .meta file
meta_in_xattr "$(data_file 0 $A)" || fail "no meta xattr on the data file"
[ ! -e "$(data_file 0 $A).meta" ] || fail "a .meta file beside the xattr"

# a chunked body (curl -T - streams stdin with Transfer-Encoding: chunked)
code=$(curl_code -T - "$(chunk_url 0 $B version=7)" <"$T/b")
assert_eq "$code" 200 "PUT chunked"
assert_eq "$(chunk_sha 0 $B)" "$(sha "$T/b")" "chunked body stored whole"
assert_eq "$(status_num 0 chunks)" 2 "status counts both chunks"
assert_eq "$(status_num 0 used_bytes)" 5300000 "used_bytes"

# versions: the same again is stale, a GET for another version is stale
expect_error 409 stale_version "PUT at the stored version" \
	-T "$T/b" "$(chunk_url 0 $A version=1)"
expect_error 409 stale_version "GET of another version" \
	"$(chunk_url 0 $A version=2)"
assert_eq "$(curl_code "$(chunk_url 0 $A version=1)")" 200 "GET at v1"
assert_eq "$(header X-GFS-Version)" 1 "X-GFS-Version header"
assert_eq "$(chunk_sha 0 $A)" "$(sha "$T/a")" "refused PUT changed nothing"

# append at the end with the next version
assert_eq "$(put_chunk 0 $B version=8\&offset=300000 "$T/a")" 200 "append"
cat "$T/b" "$T/a" >"$T/ba"
assert_eq "$(chunk_sha 0 $B)" "$(sha "$T/ba")" "appended bytes follow"

# a write past the end leaves a hole that reads as zeros
printf 'tail' >"$T/t"
assert_eq "$(put_chunk 0 $B version=9\&offset=6000000 "$T/t")" 200 "gap"
{ cat "$T/ba"; head -c $((6000000 - 5300000)) /dev/zero; printf 'tail'; } >"$T/gap"
assert_eq "$(chunk_sha 0 $B)" "$(sha "$T/gap")" "hole reads as zeros"

# an overwrite in the middle, unaligned at both ends
head -c 100000 /dev/urandom >"$T/p"
assert_eq "$(put_chunk 0 $B version=10\&offset=70001 "$T/p")" 200 "overwrite"
{ slice "$T/gap" 0 70001; cat "$T/p"; tail -c +$((170001 + 1)) "$T/gap"; } >"$T/ow"
assert_eq "$(chunk_sha 0 $B)" "$(sha "$T/ow")" "overwrite in place"

# restart: same chunks, same bytes, same versions
stop_chunkserver 0
start_chunkserver 0
assert_eq "$(status_num 0 chunks)" 2 "chunks after restart"
assert_eq "$(chunk_sha 0 $A version=1)" "$(sha "$T/a")" "A after restart"
assert_eq "$(chunk_sha 0 $B version=10)" "$(sha "$T/ow")" "B after restart"

# delete
assert_eq "$(curl_code -X DELETE "$(chunk_url 0 $A)")" 200 "DELETE"
expect_error 404 not_found "GET after DELETE" "$(chunk_url 0 $A)"
expect_error 404 not_found "DELETE twice" -X DELETE "$(chunk_url 0 $A)"
[ ! -e "$(data_file 0 $A)" ] || fail "data file left after DELETE"
assert_eq "$(status_num 0 chunks)" 1 "count after DELETE"
log "ok"
