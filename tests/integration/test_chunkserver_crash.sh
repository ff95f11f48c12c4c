#!/usr/bin/env bash
# kill -9 in the middle of a PUT, then restart: the chunk is never found at
# the new version.  Three shapes of write: a new chunk (written to an
# unnamed inode: no name until its commit, nothing left after the crash),
# an overwrite (written to a .tmp copy, removed), an append in place (past
# the committed length, never read).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

start_chunkserver 0
random_file "$T/base" 1000000
random_file "$T/big" 40000000
base=$(sha "$T/base")
OLD=0000000000000a01
NEW=0000000000000a02
assert_eq "$(put_chunk 0 $OLD version=1 "$T/base")" 200 "PUT v1"

file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }
size_above() { [ "$(file_size "$1")" -gt "$2" ]; }

# crash_during WHAT QUERY HANDLE CHECK...: start a slow PUT, wait until
# CHECK holds (the write is under way), kill -9 the server, restart it.
crash_during() {
	local what=$1 q=$2 h=$3 cpid
	shift 3
	curl -s -o /dev/null --limit-rate 8M -T "$T/big" "$(chunk_url 0 "$h" "$q")" &
	cpid=$!
	wait_for 20 "$what to be under way" "$@"
	if [ "$h" = "$NEW" ] && [ -e "$(data_file 0 $NEW)" ]; then
		fail "the new chunk has a name before its commit"
	fi
	kill9 "${CS_PIDS[0]}"
	kill "$cpid" 2>/dev/null
	wait "$cpid" 2>/dev/null
	start_chunkserver 0
}

# an overwrite goes to a copy: after the crash v1 is whole, no .tmp
crash_during "an overwrite" version=2 $OLD size_above "$(data_file 0 $OLD).tmp" 3000000
assert_eq "$(curl_code "$(chunk_url 0 $OLD)")" 200 "GET after crashed overwrite"
assert_eq "$(header X-GFS-Version)" 1 "version after crashed overwrite"
assert_eq "$(sha "$T/last_body")" "$base" "bytes after crashed overwrite"
[ ! -e "$(data_file 0 $OLD).tmp" ] || fail ".tmp survived the restart"

# an append in place: the bytes past the length are never read
crash_during "an append" version=2\&offset=1000000 $OLD size_above "$(data_file 0 $OLD)" 4000000
assert_eq "$(curl_code "$(chunk_url 0 $OLD)")" 200 "GET after crashed append"
assert_eq "$(header X-GFS-Version)" 1 "version after crashed append"
assert_eq "$(sha "$T/last_body")" "$base" "bytes after crashed append"

# a new chunk: not there at all, and its data file is gone
crash_during "a new chunk" version=1 $NEW unnamed_over 3000000 0
expect_error 404 not_found "GET of the crashed new chunk" "$(chunk_url 0 $NEW)"
[ ! -e "$(data_file 0 $NEW)" ] || fail "orphan data file survived the restart"
# no half chunk under any name: the one file left is the old chunk's
assert_eq "$(find "${CS_DIRS[0]}/chunks" -type f)" "$(data_file 0 $OLD)" \
	"files after the crashes"
assert_eq "$(status_num 0 chunks)" 1 "one chunk after the crashes"

# and the server takes the next version normally afterwards
assert_eq "$(put_chunk 0 $OLD version=2\&offset=1000000 "$T/base")" 200 "append after crashes"
cat "$T/base" "$T/base" >"$T/two"
assert_eq "$(chunk_sha 0 $OLD version=2)" "$(sha "$T/two")" "v2 after the crashes"
log "ok"
