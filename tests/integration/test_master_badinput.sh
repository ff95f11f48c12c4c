#!/usr/bin/env bash
# Bad input to gfs-master: each gets a 4xx JSON error, the server keeps
# serving, and nothing changes (the listing and the log stay the same).
. "$(dirname "$0")/lib.sh"

# Heartbeats and op-log reads by hand, unsigned: the master runs open
# (test_security_*.sh refuses them with a secret).
open_cluster
start_master
A=$MASTER_URL/api/v1
curl -sf -X PUT "$A/files/keep" >/dev/null || fail "setup"
before=$(curl -sf "$A/files?prefix=/&dirs=1")
seq_before=$(curl -sf "$A/status" | jq .seq)

# expect STATUS CODE METHOD URL [CURL_ARGS...]
expect() {
	local want=$1 code=$2 got
	shift 2
	got=$(http_status "$@" --path-as-is)
	[ "$got" = "$want" ] || fail "$*: status $got, wanted $want ($(cat "$T/last_body"))"
	jq -e .error "$T/last_body" >/dev/null || fail "$*: no JSON error"
	[ "$(json_error_code)" = "$code" ] || fail "$*: code $(json_error_code), wanted $code"
}

long=$(printf 'x%.0s' $(seq 1 256))
deep=$(for i in $(seq 1 500); do printf 'abcdefgh/'; done)
expect 400 bad_request PUT "$A/files/a/../b"
expect 400 bad_request PUT "$A/files/a/./b"
expect 400 bad_request PUT "$A/files/a%00b"
expect 400 bad_request PUT "$A/files/a//b"
expect 400 bad_request PUT "$A/files/a%2"
expect 400 name_too_long PUT "$A/files/$long"
expect 400 name_too_long PUT "$A/files/${deep}f"
expect 400 bad_request PUT "$A/files/x" -d '{"mode": "rw"'
expect 400 bad_request PUT "$A/files/x" -d '[1,2]'
expect 400 bad_request PUT "$A/files/x" -d '{"mode":"rw"}'
expect 400 bad_request PUT "$A/files/x" -d '{"mode":99999}'
expect 400 bad_request PUT "$A/files/x" -d '{"type":"pipe"}'
expect 400 bad_request PUT "$A/files/x" -d '{"type":"symlink"}'
expect 400 bad_request PUT "$A/files/x" -d '{"type":"file","target":"y"}'
expect 400 bad_request PUT "$A/files/x" -d '{"type":"fifo","uid":4294967296}'
expect 400 bad_request POST "$A/files/x?op=setattr" -d '{"mode":65535}'
head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T/huge"
expect 413 too_large PUT "$A/files/x" --data-binary @"$T/huge"
expect 400 bad_request POST "$A/files/keep/commit" -d '{"size":-1}'
expect 400 bad_request POST "$A/files/keep/commit" -d '{"chunks":{}}'
# past the largest file: 2^32 - 1 chunks of 64 MiB
expect 413 too_large POST "$A/files/keep/commit" -d "{\"size\":$((2**58))}"
# extended attributes
expect 400 bad_request PUT "$A/xattrs/keep" -d '{"name":"user.a"}'
expect 400 bad_request PUT "$A/xattrs/keep" -d '{"name":"user.a","value":"","flag":"x"}'
expect 400 bad_request PUT "$A/xattrs/keep" -d '{"name":"os2.a","value":""}'
expect 400 name_too_long PUT "$A/xattrs/keep" -d "{\"name\":\"user.$long\",\"value\":\"\"}"
head -c 65537 /dev/zero | base64 -w0 | jq -Rc '{name: "user.big", value: .}' >"$T/bigx"
expect 413 too_large PUT "$A/xattrs/keep" --data-binary @"$T/bigx"
expect 404 no_attribute PUT "$A/xattrs/keep" -d '{"name":"user.a","value":"","flag":"replace"}'
expect 404 no_attribute DELETE "$A/xattrs/keep?name=user.none"
expect 400 bad_request DELETE "$A/xattrs/keep"
expect 404 not_found GET "$A/xattrs/nope"
expect 400 bad_request POST "$A/files/keep/commit" -d '{"size":5,"chunks":[{"index":0,"handle":"xyz","version":1}]}'
expect 400 bad_request POST "$A/files/keep/commit" -d '{"size":5,"chunks":[{"index":0,"handle":"0000000000000001","version":0}]}'
expect 400 bad_request POST "$A/files/keep/chunks" -d '{"near":"x"}'
expect 400 bad_request POST "$A/files/keep/chunks" -d '{"index":-3}'
expect 400 bad_request POST "$A/files/keep?op=rename"
expect 400 bad_request POST "$A/files/keep?op=rename&to=rel"
expect 400 bad_request POST "$A/files/keep?op=explode"
expect 400 bad_request PUT "$A/leases/keep?ttl=0" -H 'X-GFS-Client: a'
expect 400 bad_request PUT "$A/leases/keep?ttl=86401" -H 'X-GFS-Client: a'
expect 400 bad_request PUT "$A/leases/keep" -H "X-GFS-Client: $long"
expect 400 bad_request DELETE "$A/files/keep?type=pipe"
expect 400 bad_request DELETE "$A/files/%2F"
# names, holder ids and URLs are UTF-8, checked at the door (a name that
# is not used to be created, then crashed the listing and replay)
expect 400 bad_request PUT "$A/files/%FF"
expect 400 bad_request PUT "$A/files/d/a%C3"
expect 400 bad_request PUT "$A/files/%C0%AF"
expect 400 bad_request GET "$A/files/%FF"
expect 400 bad_request GET "$A/files?prefix=/%FF"
expect 400 bad_request GET "$A/files?dir=/%FF"
expect 400 bad_request POST "$A/files/keep?op=rename&to=/%FE"
expect 400 bad_request PUT "$A/leases/keep" -H $'X-GFS-Client: \xff\xfe'
expect 400 bad_request DELETE "$A/files/keep" -H $'X-GFS-Client: a\xc3'
grep -q 'UTF-8' "$T/last_body" || fail "no clear message: $(cat "$T/last_body")"
expect 400 bad_request GET "$A/oplog?from=1" -H $'X-GFS-Backup: http://\xff'
expect 404 not_found GET "$A/leases/keep"
# handles are 16 lowercase hex digits
expect 400 bad_request POST "$A/files/keep/commit" -d '{"size":5,"chunks":[{"index":0,"handle":"000000000000000A","version":1}]}'
expect 400 bad_request POST "$A/heartbeat" -d '{"url":"http://x:1","full":true,"chunks":[["00000000000000AB",1,1]]}'
expect 400 bad_request POST "$A/heartbeat" -d '{"url":"ftp://x"}'
expect 400 bad_request POST "$A/heartbeat" -d '{"url":"http://x:1","full":true,"chunks":[["zz",1,1]]}'
expect 400 bad_request POST "$A/heartbeat" -d '{"url":"http://x:1","free_bytes":"lots"}'
expect 400 bad_request GET "$A/oplog"
expect 404 not_found GET "$A/files/nope"
expect 404 no_route GET "$A/nothing/here"
expect 404 no_route GET "$MASTER_URL/nothing"
# a raw byte that is not UTF-8, quoted in the error message: still JSON
printf 'GET /api/v1/nothing/\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/${MASTER_URL##*:}; cat >&3; cat <&3" >"$T/resp"
head -n1 "$T/resp" | grep -q ' 404 ' || fail "raw byte in a URL: $(head -n1 "$T/resp")"
grep -q '"code":"no_route"' "$T/resp" || fail "raw byte in a URL: no JSON error"
expect 405 method_not_allowed DELETE "$A/status"
expect 405 method_not_allowed POST "$A/files/keep"
expect 405 method_not_allowed PATCH "$A/files/keep"
# bodies are capped by what the route can need, before they are read
expect 413 too_large GET "$A/files/keep" -H 'Content-Length: 5' --data-binary 12345
expect 413 too_large DELETE "$A/files/nope" -H 'Content-Length: 5' --data-binary 12345
expect 413 too_large PUT "$A/leases/keep" -H 'X-GFS-Client: a' \
	-H 'Content-Length: 70000' --data-binary @"$T/huge"
# an empty master takes a heartbeat of about 5 MiB at most
head -c $((6 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T/hb"
expect 413 too_large POST "$A/heartbeat" --data-binary @"$T/hb"
expect 413 too_large POST "$A/heartbeat" -H 'Transfer-Encoding: chunked' \
	--data-binary @"$T/hb"

# HEAD: a GET's status and headers, no body, on every GET route
for r in status healthz metrics "files?prefix=/" files/keep leases/nope \
	"oplog?from=1&wait_ms=0" checkpoint content/keep; do
	want=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$A/$r")
	got=$(curl -s -I -o "$T/head" -w '%{http_code}' --max-time 5 "$A/$r")
	assert_eq "$got" "$want" "HEAD /$r"
	grep -qi '^Content-Length: ' "$T/head" || grep -qi '^Location: ' "$T/head" ||
		fail "HEAD /$r: no Content-Length: $(cat "$T/head")"
done
len=$(curl -sf "$A/files/keep" | wc -c)
curl -sfI "$A/files/keep" | grep -qi "^Content-Length: $len" ||
	fail "HEAD /files/keep: not the length of the GET"

after=$(curl -sf "$A/files?prefix=/&dirs=1")
assert_eq "$after" "$before" "the namespace changed"
assert_eq "$(curl -sf "$A/status" | jq .seq)" "$seq_before" "something was logged"
assert_eq "$(curl -sf "$A/status" | jq '.chunkservers | length')" 0 "a bad heartbeat registered"
http_ok "$A/healthz" || fail "the server stopped serving"

# a URL flag that is not UTF-8 (it would go into the log and JSON) is a
# clean refusal at start, not an abort
"$GFS_BIN/gfs-master" --advertise $'http://\xff:1' --data "$T/m2" --listen 127.0.0.1:1 2>"$T/m2.err"
assert_eq "$?" 1 "gfs-master with a bad --advertise"
grep -q "UTF-8" "$T/m2.err" || fail "no message: $(cat "$T/m2.err")"

# UTF-8 names are fine, and the listing (sorted by bytes) serves them
for p in caf%C3%A9 %E2%82%AC; do
	[ "$(http_status PUT "$A/files/$p")" = 201 ] || fail "create $p"
done
assert_eq "$(curl -sf "$A/files?prefix=/" | jq -r '.files[].path')" \
	"$(printf '/caf\xc3\xa9\n/keep\n/\xe2\x82\xac')" "listing of UTF-8 names"
log "ok"
