#!/usr/bin/env bash
# Range reads at the edges that matter: 0 and 1 byte, around a 64 KiB
# block boundary, the end of the chunk, past the end (416), suffixes, an
# empty chunk; and long ranges that are streamed rather than read whole.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

start_chunkserver 0
B=65536
SMALL=$((3 * B + 1000))
BIG=$((6 * 1024 * 1024 + 123))
random_file "$T/s" $SMALL
random_file "$T/b" $BIG
S=00000000000000c1
L=00000000000000c2
E=00000000000000c3
assert_eq "$(put_chunk 0 $S version=1 "$T/s")" 200 "PUT small"
assert_eq "$(put_chunk 0 $L version=1 "$T/b")" 200 "PUT big"
: >"$T/empty"
assert_eq "$(put_chunk 0 $E version=1 "$T/empty")" 200 "PUT empty"

# check_range HANDLE FILE SIZE A B: bytes=A-B gives 206, the right
# Content-Range and the right bytes (B clipped at the end).
check_range() {
	local h=$1 f=$2 size=$3 a=$4 b=$5 end
	end=$((b < size - 1 ? b : size - 1))
	assert_eq "$(curl_code -r "$a-$b" "$(chunk_url 0 "$h")")" 206 "range $a-$b status"
	assert_eq "$(header Content-Range)" "bytes $a-$end/$size" "range $a-$b Content-Range"
	slice "$f" "$a" $((end - a + 1)) >"$T/want"
	assert_same_file "$T/last_body" "$T/want" "range $a-$b bytes"
}

for r in 0-0 1-1 0-1 $((B - 1))-$((B - 1)) $((B - 1))-$B $B-$B \
	$((B + 1))-$((B + 1)) $((B - 1))-$((B + 1)) 0-$((B - 1)) $B-$((2 * B - 1)) \
	100-$((2 * B + 100)) $((SMALL - 1))-$((SMALL - 1)) \
	$((SMALL - 10))-$((SMALL + 500)) 0-$((SMALL - 1)) 5-999999999; do
	check_range $S "$T/s" $SMALL "${r%-*}" "${r#*-}"
done

# open-ended and suffix ranges
assert_eq "$(curl_code -H "Range: bytes=$((SMALL - 7))-" "$(chunk_url 0 $S)")" 206 "open range"
slice "$T/s" $((SMALL - 7)) 7 >"$T/want"
assert_same_file "$T/last_body" "$T/want" "open range bytes"
assert_eq "$(curl_code -H "Range: bytes=-5" "$(chunk_url 0 $S)")" 206 "suffix range"
slice "$T/s" $((SMALL - 5)) 5 >"$T/want"
assert_same_file "$T/last_body" "$T/want" "suffix bytes"
assert_eq "$(curl_code -H "Range: bytes=-999999999" "$(chunk_url 0 $S)")" 206 "long suffix"
assert_same_file "$T/last_body" "$T/s" "a suffix longer than the chunk is all of it"

# past the end: 416 with the size; nonsense ranges are ignored (200)
expect_error 416 bad_range "range past the end" -r "$SMALL-$((SMALL + 5))" "$(chunk_url 0 $S)"
assert_eq "$(header Content-Range)" "bytes */$SMALL" "416 Content-Range"
expect_error 416 bad_range "empty suffix" -H "Range: bytes=-0" "$(chunk_url 0 $S)"
assert_eq "$(curl_code -H "Range: bytes=abc" "$(chunk_url 0 $S)")" 200 "garbage range ignored"
assert_same_file "$T/last_body" "$T/s" "garbage range: whole chunk"
assert_eq "$(curl_code -H "Range: bytes=5-2" "$(chunk_url 0 $S)")" 200 "backwards range ignored"

# the empty chunk: 200 with nothing, any range 416
assert_eq "$(curl_code "$(chunk_url 0 $E)")" 200 "empty chunk"
assert_eq "$(stat -c %s "$T/last_body")" 0 "empty body"
expect_error 416 bad_range "range of an empty chunk" -r 0-0 "$(chunk_url 0 $E)"

# long ranges (streamed in 1 MiB steps): unaligned both ends, aligned
# start to the end, the whole chunk
check_range $L "$T/b" $BIG 100 5000000
check_range $L "$T/b" $BIG $B $((BIG - 1))
check_range $L "$T/b" $BIG $((B - 1)) $((BIG - 2))
assert_eq "$(chunk_sha 0 $L)" "$(sha "$T/b")" "whole big chunk"
log "ok"
