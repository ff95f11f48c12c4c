#!/usr/bin/env bash
# An upload cut off (gfs upload killed with -9, a /content PUT whose
# body is shorter than its Content-Length) leaves no file: not listed,
# no stat, no download, and its chunks are reclaimed by GC; an
# interrupted overwrite keeps the old content.  A complete upload,
# empty or not, appears at its commit.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB --orphan-grace 2s --gc-interval 1s
A=$MASTER_URL/api/v1
cd "$T"
random_file keep.v1 300000
gfs upload keep.v1 /keep >/dev/null || fail "upload keep"
: >empty
gfs upload empty /empty >/dev/null || fail "upload of an empty file"
assert_eq "$(curl -sf "$A/files/empty?stat=1" | jq .size)" 0 "the empty upload is there"
kept=$(curl -sf "$A/files/keep" | jq -r '.chunks[].handle' | sort -u)
disk_chunks() { find "$T"/cs[0-2]/chunks -type f -printf '%f\n' | cut -c1-16 | sort -u; }
only_kept() { [ "$(disk_chunks)" = "$kept" ]; }
wait_for 10 "the kept file's chunks on disk" only_kept

# 1. gfs upload killed once a few of its chunks are written
random_file big 64000000
"$GFS_BIN/gfs" --master "$MASTERS" upload big /big >/dev/null 2>&1 &
up=$! # the program itself, not a shell around it
some_written() { [ "$(disk_chunks | wc -l)" -gt 2 ]; }
wait_for 30 "the upload's first chunks" some_written
kill -KILL "$up"
wait "$up" && fail "the upload finished before it was killed (make big larger)"

# 2. a /content PUT whose body stops short of its Content-Length, as a
# new file and as an overwrite of /keep
gw=${CS_PORTS[0]}
cut_put() { # cut_put PATH: 1.5 MB of a promised 3 MB, then hang up
	{
		printf 'PUT /api/v1/content/%s HTTP/1.1\r\nHost: x\r\n' "$1"
		printf 'Content-Length: 3000000\r\n\r\n'
		head -c 1500000 /dev/urandom
	} | timeout 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$gw; cat >&3"
}
cut_put cut
cut_put keep
# curl -T with a Content-Length larger than the body: the same, by curl
head -c 100000 /dev/urandom >small
curl -s -o /dev/null --max-time 3 -H 'Content-Length: 5000000' \
	-T small "${CS_URLS[1]}/api/v1/content/curled"

# nothing appears: listing, stat, download
for p in big cut curled; do
	assert_eq "$(http_status GET "$A/files/$p?stat=1")" 404 "stat of /$p"
	gfs download "/$p" "got.$p" >/dev/null 2>&1 && fail "/$p downloads"
	[ ! -e "got.$p" ] || fail "a download of /$p left a file"
done
assert_eq "$(curl -sf "$A/files?prefix=/" | jq -r '.files[].path' | paste -sd,)" \
	"/empty,/keep" "the listing"
assert_eq "$(curl -sf "$A/files?dir=/" | jq -r '.entries[].name' | sort | paste -sd,)" \
	"empty,keep" "the directory listing"
# the interrupted overwrite kept the old content
gfs download /keep keep.back >/dev/null || fail "download keep"
assert_same_file keep.back keep.v1 "keep after a cut overwrite"
# the names are free: a new upload takes one at once
gfs upload small /cut >/dev/null || fail "upload over an interrupted name"
assert_eq "$(curl -sf "$A/files/cut?stat=1" | jq .size)" 100000 "the new /cut"

# the interrupted uploads are removed through the log, their chunks by GC
wait_for 30 "the master to drop the uploads never committed" \
	grep -q "never committed: removed" "$T/master.log"
kept=$(curl -sf "$A/files/keep" "$A/files/cut" | jq -r '.chunks[].handle' | sort -u)
wait_for 40 "the interrupted uploads' chunks to leave every disk" only_kept
log "ok"
