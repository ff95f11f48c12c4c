#!/usr/bin/env bash
# A flipped byte in a stored chunk is never served: a short read answers
# 503 "corrupt", a long (streamed) read is cut; either way the replica is
# quarantined at once and leaves /status.  The scrubber finds one nobody
# reads.  A torn meta (xattr or .meta file) makes its chunk vanish at
# start-up.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

start_chunkserver 0 --scrub-interval 0
random_file "$T/a" 300000
random_file "$T/b" 9000000
A=00000000000000d1
B=00000000000000d2
C=00000000000000d3
D=00000000000000d4
E=00000000000000d5
for h in $A $C $D; do
	assert_eq "$(put_chunk 0 $h version=1 "$T/a")" 200 "PUT $h"
done
assert_eq "$(put_chunk 0 $B version=1 "$T/b")" 200 "PUT big"
assert_eq "$(status_num 0 chunks)" 4 "four chunks"

# a short read of a block with a flipped byte: 503 corrupt, gone at once
flip_byte "$(data_file 0 $A)" 200000
expect_error 503 corrupt "GET of a corrupt block" -r 199990-200010 "$(chunk_url 0 $A)"
assert_eq "$(status_num 0 chunks)" 3 "corrupt chunk left /status at once"
expect_error 404 not_found "GET after quarantine" "$(chunk_url 0 $A)"
[ ! -e "$(data_file 0 $A)" ] || fail "corrupt data file still in chunks/"
ls "${CS_DIRS[0]}/quarantine/" | grep -q "^$A\." || fail "nothing in quarantine/"

# a streamed read reaching a bad block is cut short: never the bad bytes
flip_byte "$(data_file 0 $B)" 8000000
curl -sf --max-time 30 "$(chunk_url 0 $B)" >"$T/got" && fail "streamed GET of a corrupt chunk succeeded"
size=$(stat -c %s "$T/got")
[ "$size" -le 8000000 ] || fail "bytes past the bad block were sent ($size)"
cmp -s "$T/got" <(head -c "$size" "$T/b") || fail "the bytes sent before the cut differ"
wait_for 5 "big chunk quarantined" chunk_count_is 0 2
grep -q '^gfs_chunkserver_corrupt_total 2$' <(curl -s "${CS_URLS[0]}/api/v1/metrics") ||
	fail "corrupt_total should be 2"

# nobody reads C: the scrubber finds it
stop_chunkserver 0
start_chunkserver 0 --scrub-interval 1s --scrub-rate 64MiB
flip_byte "$(data_file 0 $C)" 5
wait_for 30 "scrubber to find the corrupt chunk" chunk_count_is 0 1
expect_error 404 not_found "scrubbed chunk" "$(chunk_url 0 $C)"
assert_eq "$(chunk_sha 0 $D)" "$(sha "$T/a")" "the good chunk is still served"

# a torn meta xattr: the chunk is quarantined when the server starts,
# whatever a .meta file beside it says
stop_chunkserver 0
meta_in_xattr "$(data_file 0 $D)" || fail "no meta xattr on $D"
setfattr -n user.gfs.meta -v 0x4746534300 "$(data_file 0 $D)"
start_chunkserver 0
assert_eq "$(status_num 0 chunks)" 0 "torn meta xattr: not reported"
expect_error 404 not_found "chunk with a torn meta xattr" "$(chunk_url 0 $D)"
[ "$(ls "${CS_DIRS[0]}/quarantine/" | grep -c "^$D\.")" = 1 ] ||
	fail "the data file (meta xattr and all) should be in quarantine/"

# a torn meta file (--meta-files): data and meta file are quarantined
stop_chunkserver 0
start_chunkserver 0 --meta-files
assert_eq "$(put_chunk 0 $E version=1 "$T/a")" 200 "PUT $E"
[ -f "$(data_file 0 $E).meta" ] || fail "--meta-files wrote no .meta file"
meta_in_xattr "$(data_file 0 $E)" && fail "--meta-files wrote an xattr"
stop_chunkserver 0
truncate -s 30 "$(data_file 0 $E).meta"
start_chunkserver 0
assert_eq "$(status_num 0 chunks)" 0 "torn meta file: not reported"
expect_error 404 not_found "chunk with a torn meta file" "$(chunk_url 0 $E)"
[ "$(ls "${CS_DIRS[0]}/quarantine/" | grep -c "^$E\.")" = 2 ] ||
	fail "data and meta of the torn chunk should be in quarantine/"
log "ok"
