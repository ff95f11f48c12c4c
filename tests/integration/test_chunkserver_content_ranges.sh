#!/usr/bin/env bash
# Range on the /content gateway reads as on /chunks: every form (one
# range, open, suffix, several, unsatisfiable, garbage, foreign units)
# gets the same status, Content-Range and bytes from /content as from
# /chunks for the same bytes (RFC 9110: 206, 200, or 416 with
# Content-Range: bytes */SIZE); empty files, ranges across chunks and
# curl -L through the master's redirect too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

start_cluster 3 --chunk-size 1MiB
A=$MASTER_URL/api/v1
cd "$T"

# Ranges: /content (the gateway on chunkserver 0) and /chunks of the
# one chunk of a file agree, status, Content-Range and bytes.
S=100000
random_file f $S
gfs upload f /f >/dev/null || fail "upload f"
curl -sf "$A/files/f" >entry || fail "entry of /f"
H=$(jq -r '.chunks[0].handle' entry)
R=$(jq -r '.chunks[0].replicas[0]' entry)
GW=${CS_URLS[0]}/api/v1/content/f
CH=$R/api/v1/chunks/$H
# answer URL RANGE: "STATUS CONTENT-RANGE SHA" of a GET with that Range.
answer() {
	local code
	code=$(curl_code -H "Range: $2" "$1")
	printf '%s %s %s\n' "$code" "$(header Content-Range)" \
		"$([ "$code" = 416 ] || sha "$T/last_body")"
}
for r in "bytes=0-9" "bytes=10-" "bytes=-10" "bytes=$((S - 1))-" \
	"bytes=5-999999999" "bytes=-999999999" "bytes=-0" "bytes=$S-" \
	"bytes=$S-$((S + 5))" "bytes=99999999999999999999999-" \
	"bytes=0-1,5-6" "bytes=$S-, 5-6" "bytes=$S-, $((S + 9))-" \
	"bytes=abc" "bytes=5-2" "bytes=1-2-3" "items=0-1" "Bytes=1-2" \
	"bytes= 3-4 ," "bytes=,,"; do
	want=$(answer "$CH" "$r")
	got=$(answer "$GW" "$r")
	assert_eq "$got" "$want" "Range: $r on /content vs /chunks"
done
# the expected status of a few, so that agreeing is not all
assert_eq "$(answer "$GW" "bytes=$S-" | cut -d" " -f1-3)" "416 bytes */$S" "past the end"
assert_eq "$(answer "$GW" "bytes=-0" | cut -d' ' -f1)" 416 "empty suffix"
assert_eq "$(answer "$GW" "bytes=10-19" | cut -d" " -f1-3)" "206 bytes 10-19/$S" "one range"
slice() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; }
curl_code -H "Range: bytes=10-19" "$GW" >/dev/null
slice f 10 10 >want
assert_same_file "$T/last_body" want "bytes of one range"
assert_eq "$(answer "$GW" "bytes=0-1,5-6" | cut -d' ' -f1)" 200 "several ranges: whole"
assert_eq "$(curl_code -H 'Range: bytes=abc' "$GW")" 200 "garbage"
assert_same_file "$T/last_body" f "garbage range: the whole file"
# the same through the master's redirect
code=$(curl -sL -o "$T/last_body" -w '%{http_code}' -H "Range: bytes=$S-" "$A/content/f")
assert_eq "$code" 416 "past the end through curl -L"
# an empty file: no byte is satisfiable, a suffix sends it (empty) whole
: >empty
gfs upload empty /empty >/dev/null || fail "upload empty"
assert_eq "$(answer "${CS_URLS[0]}/api/v1/content/empty" "bytes=0-" | cut -d" " -f1-3)" \
	"416 bytes */0" "empty file, bytes=0-"
assert_eq "$(curl_code -H "Range: bytes=-5" "${CS_URLS[0]}/api/v1/content/empty")" 200 \
	"empty file, suffix"
# a range across chunks
random_file big $((3 << 20))
gfs upload big /big >/dev/null || fail "upload big"
assert_eq "$(curl_code -H "Range: bytes=1048000-2097500" "${CS_URLS[1]}/api/v1/content/big")" 206
slice big 1048000 $((2097500 - 1048000 + 1)) >want
assert_same_file "$T/last_body" want "range across chunks"

log "ok"
