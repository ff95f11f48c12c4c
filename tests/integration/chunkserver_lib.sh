# chunkserver_lib.sh - helpers for tests/integration/test_chunkserver_*.sh,
# sourced after lib.sh.  Chunkservers here run without a master unless a
# test starts one (MASTERS="" means no --master: they serve, report to
# nobody).

MASTERS=${MASTERS:-}

# These tests speak the chunk protocol itself, with no master to hand out
# tokens: the chunkservers run open, on loopback (test_security_*.sh
# covers tokens).
open_cluster

# curl_code ARGS...: run curl, body to $T/last_body, headers to
# $T/last_headers, print the status code.
curl_code() {
	curl -s -o "$T/last_body" -D "$T/last_headers" -w '%{http_code}' \
		--max-time 60 "$@"
}

# chunk_url I HANDLE [QUERY]: the chunk's URL on chunkserver I.
chunk_url() { echo "${CS_URLS[$1]}/api/v1/chunks/$2${3:+?$3}"; }

# put_chunk I HANDLE QUERY FILE [CURL_ARGS...]: PUT FILE, print the status.
put_chunk() {
	local i=$1 h=$2 q=$3 f=$4
	shift 4
	curl_code -T "$f" "$@" "$(chunk_url "$i" "$h" "$q")"
}

# chunk_sha I HANDLE [QUERY]: sha256 of the chunk as GET returns it.
chunk_sha() {
	curl -sf --max-time 60 "$(chunk_url "$1" "$2" "${3:-}")" | sha256sum |
		cut -d' ' -f1
}

# json_num NAME: a numeric member of $T/last_body.
json_num() { grep -o "\"$1\":[0-9-]*" "$T/last_body" | head -n1 | cut -d: -f2; }

# status_num I NAME: a numeric member of chunkserver I's /status.
status_num() {
	curl -sf --max-time 5 "${CS_URLS[$1]}/api/v1/status" |
		grep -o "\"$2\":[0-9]*" | head -n1 | cut -d: -f2
}

# chunk_count_is I N: chunkserver I reports N chunks.
chunk_count_is() { [ "$(status_num "$1" chunks)" = "$2" ]; }

# header NAME: a header of the last curl_code reply (value only).
header() {
	grep -i "^$1:" "$T/last_headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'
}

# expect_error CODE JSON_CODE WHAT CURL_ARGS...: the request fails with
# HTTP CODE and a JSON error whose "code" is JSON_CODE.
expect_error() {
	local want=$1 jcode=$2 what=$3 got
	shift 3
	got=$(curl_code "$@")
	assert_eq "$got" "$want" "$what: status"
	assert_eq "$(json_error_code)" "$jcode" "$what: error code"
}

# data_file I HANDLE: where chunkserver I keeps the chunk's bytes.
data_file() { echo "${CS_DIRS[$1]}/chunks/${2: -2}/$2"; }

# packed_at I HANDLE: "SEGMENT OFFSET" where the data of HANDLE's live
# packed record is on chunkserver I, as its start-up would read it
# (pack_records.py; docs/CHUNKSERVER.md, "Packed small chunks"), or
# nothing when it has none.
packed_at() {
	python3 "$IT_DIR/pack_records.py" "${CS_DIRS[$1]}" |
		awk -v h="$2" '$1 == h { print $5, $6 }' | tail -n1
}

# metric I NAME: chunkserver I's /metrics value gfs_chunkserver_NAME.
metric() {
	curl -sf --max-time 5 "${CS_URLS[$1]}/metrics" |
		awk -v n="gfs_chunkserver_$2" '$1 == n { print $2 }'
}

# meta_in_xattr FILE: the data file FILE carries its chunk's meta in its
# user.gfs.meta xattr (else the meta is in FILE.meta).
meta_in_xattr() { getfattr -n user.gfs.meta "$1" >/dev/null 2>&1; }

# flip_byte FILE OFFSET: invert one byte in place.
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# slice FILE START LEN: bytes [START, START+LEN) of FILE on stdout.
slice() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; }

# stop_chunkserver I: SIGTERM, and wait for a clean exit (status 0).
stop_chunkserver() {
	local pid=${CS_PIDS[$1]} rc
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	assert_eq "$rc" 0 "chunkserver $1 exit status after SIGTERM"
}

# cut_http PORT: send stdin (a request cut short) to 127.0.0.1:PORT and
# close, the end riding on the last bytes (cut_http.py); print nothing.
cut_http() {
	python3 "$(dirname "${BASH_SOURCE[0]}")/cut_http.py" "$1" ||
		fail "cannot send to $1"
}

# put_errors I: PUT /chunks requests chunkserver I ended in error or cut.
put_errors() {
	curl -sf --max-time 5 "${CS_URLS[$1]}/api/v1/metrics" |
		grep '^gfs_chunkserver_http_errors_total{method="PUT",route="/api/v1/chunks/\*"}' |
		awk '{print $2}'
}

# put_errors_at_least I N
put_errors_at_least() { [ "$(put_errors "$1")" -ge "$2" ] 2>/dev/null; }
