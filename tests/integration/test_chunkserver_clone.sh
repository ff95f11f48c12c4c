#!/usr/bin/env bash
# Copy-on-write clones: a new chunk starting as [0, L) of another, held
# here (copied locally) or elsewhere (fetched from X-GFS-Clone-Sources,
# every block checked), with the body laid over it; through a pipeline
# each replica clones for itself.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

for i in 0 1 2; do start_chunkserver $i; done
random_file "$T/base" 300000
random_file "$T/body" 1000
BASE=0000000000000b01
assert_eq "$(put_chunk 0 $BASE version=3 "$T/base")" 200 "PUT the base on 0"
Q="version=1&offset=100000&clone=$BASE&clone_version=3&clone_length=250001"
{ slice "$T/base" 0 100000; cat "$T/body"; slice "$T/base" 101000 149001; } >"$T/want"
want=$(sha "$T/want")

# held here: copied locally
assert_eq "$(put_chunk 0 0000000000000b02 "$Q" "$T/body")" 200 "local clone"
assert_eq "$(json_num length)" 250001 "clone length"
assert_eq "$(chunk_sha 0 0000000000000b02)" "$want" "local clone bytes"
assert_eq "$(chunk_sha 0 $BASE)" "$(sha "$T/base")" "the base is untouched"

# not held here: fetched from the sources
SRC="X-GFS-Clone-Sources: http://127.0.0.1:1,${CS_URLS[0]}"
assert_eq "$(put_chunk 1 0000000000000b03 "$Q" "$T/body" -H "$SRC")" 200 "remote clone"
assert_eq "$(chunk_sha 1 0000000000000b03)" "$want" "remote clone bytes"
expect_error 404 not_found "no source" -T "$T/body" "$(chunk_url 1 0000000000000b04 "$Q")"
expect_error 409 stale_version "sources have another version" -T "$T/body" -H "$SRC" \
	"$(chunk_url 1 0000000000000b04 "${Q/clone_version=3/clone_version=2}")"

# a clone that exists already is just written (the clone is ignored)
assert_eq "$(put_chunk 1 0000000000000b03 "${Q/version=1/version=2}" "$T/body" -H "$SRC")" 200 \
	"second write to a clone"
assert_eq "$(chunk_sha 1 0000000000000b03)" "$want" "same bytes at v2"

# through a pipeline: 0 has the base, 1 and 2 fetch it
FWD="X-GFS-Forward: ${CS_URLS[1]},${CS_URLS[2]}"
assert_eq "$(put_chunk 0 0000000000000b05 "$Q" "$T/body" -H "$FWD" -H "$SRC")" 200 "pipelined clone"
grep -q '"failed":\[\]' "$T/last_body" || fail "pipelined clone: $(cat "$T/last_body")"
for i in 0 1 2; do
	assert_eq "$(chunk_sha $i 0000000000000b05)" "$want" "pipelined clone on $i"
done

# a corrupt source block is caught on arrival, not copied
flip_byte "$(data_file 0 $BASE)" 70000
expect_error 503 corrupt "clone of a corrupt source" -T "$T/body" -H "$SRC" \
	"$(chunk_url 2 0000000000000b06 "$Q")"
expect_error 404 not_found "nothing recorded" "$(chunk_url 2 0000000000000b06)"
log "ok"
