#!/usr/bin/env bash
# gfs upload/download and curl -L keep every edge size byte-identical:
# 0, 1, chunk-1, chunk, chunk+1 and 3.5 chunks, with 1 MiB chunks.
. "$(dirname "$0")/lib.sh"

start_cluster 4 --chunk-size 1MiB
CHUNK=$((1 << 20))
cd "$T"
for size in 0 1 $((CHUNK - 1)) $CHUNK $((CHUNK + 1)) $((CHUNK * 7 / 2)); do
	random_file "src.$size" "$size"
	gfs upload "src.$size" "/sizes/f.$size" >/dev/null || fail "upload of $size bytes"
	gfs download "/sizes/f.$size" "out.$size" >/dev/null || fail "download of $size bytes"
	assert_same_file "src.$size" "out.$size" "gfs round trip of $size bytes"
	curl -sf --location-trusted "$MASTER_URL/api/v1/content/sizes/f.$size" -o "curl.$size" ||
		fail "curl -L download of $size bytes"
	assert_same_file "src.$size" "curl.$size" "curl round trip of $size bytes"
	got=$(curl -sf "$MASTER_URL/api/v1/files/sizes/f.$size?stat=1" | grep -o '"size":[0-9]*')
	assert_eq "$got" "\"size\":$size" "size reported by the master"
done

# curl -L -T uploads through the gateway too
random_file up.bin $((CHUNK * 2 + 12345))
curl -sf --location-trusted -T up.bin "$MASTER_URL/api/v1/content/curl/up.bin" >/dev/null || fail "curl -L -T upload"
gfs download /curl/up.bin up.out >/dev/null || fail "download of the curl upload"
assert_same_file up.bin up.out "curl upload"

# the seed's command lines on stdin
random_file seed.txt 5000
printf 'upload seed.txt\nlease seed.txt\nunlease seed.txt\n' | gfs >/dev/null ||
	fail "stdin upload"
mkdir d && (cd d && echo 'download seed.txt' | gfs >/dev/null) || fail "stdin download"
assert_same_file seed.txt d/seed.txt "stdin round trip"
echo 'download nothing.txt' | gfs >/dev/null 2>&1 && fail "stdin mode hid a failure"
log "ok"
