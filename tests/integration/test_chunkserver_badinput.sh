#!/usr/bin/env bash
# Bad input never changes a stored chunk and never stops the server: bad
# handles (non-hex, ../, wrong length), bad versions and offsets, huge
# sizes (413 before the body), bad headers, unknown routes each get a 4xx
# JSON error; HEAD is a GET without the body; a body cut
# short records nothing; a full disk is a 507, before the body when it can.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

start_chunkserver 0
random_file "$T/a" 200000
H=00000000000000e1
assert_eq "$(put_chunk 0 $H version=1 "$T/a")" 200 "PUT the chunk to protect"
want=$(sha "$T/a")
U="${CS_URLS[0]}/api/v1"

# handles: only 16 lowercase hex digits name a chunk
for bad in zzzzzzzzzzzzzzzz 00000000000000e 00000000000000e10 00000000000000E1 \
	0x000000000000e1 %2e%2e%2f%2e%2e%2fetc%2fpasswd "..%2f$H" "a%00b"; do
	expect_error 400 bad_request "GET /chunks/$bad" "$U/chunks/$bad"
	expect_error 400 bad_request "PUT /chunks/$bad" -T "$T/a" "$U/chunks/$bad?version=1"
	expect_error 400 bad_request "DELETE /chunks/$bad" -X DELETE "$U/chunks/$bad"
done
expect_error 400 bad_request "../ in the path" --path-as-is "$U/chunks/../../../etc/passwd"
expect_error 400 bad_request "sub-path" "$U/chunks/$H/x"

# versions and offsets
expect_error 400 bad_request "no version" -T "$T/a" "$U/chunks/$H"
expect_error 400 bad_request "version 0" -T "$T/a" "$U/chunks/$H?version=0"
expect_error 400 bad_request "version abc" -T "$T/a" "$U/chunks/$H?version=abc"
expect_error 400 bad_request "version -1" -T "$T/a" "$U/chunks/$H?version=-1"
expect_error 400 bad_request "version overflow" -T "$T/a" "$U/chunks/$H?version=18446744073709551616"
expect_error 409 stale_version "same version" -T "$T/a" "$U/chunks/$H?version=1"
expect_error 400 bad_request "offset overflow" -T "$T/a" "$U/chunks/$H?version=2&offset=18446744073709551616"
expect_error 413 too_large "huge offset" -T "$T/a" "$U/chunks/$H?version=2&offset=9223372036854775807"
expect_error 413 too_large "past 1 GiB" -T "$T/a" "$U/chunks/$H?version=2&offset=1073741800"
expect_error 400 bad_request "GET version abc" "$U/chunks/$H?version=abc"

# a Content-Length beyond 1 GiB is refused before the body
{
	printf 'PUT /api/v1/chunks/%s?version=2 HTTP/1.1\r\nHost: x\r\n' $H
	printf 'Content-Length: 2000000000\r\nExpect: 100-continue\r\n\r\n'
} >"$T/req"
timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/${CS_PORTS[0]}; cat '$T/req' >&3; head -c 400 <&3" \
	>"$T/resp" || true
head -n1 "$T/resp" | grep -q ' 413 ' || fail "no 413 before the body: $(head -n1 "$T/resp")"

# clone arguments and pipeline headers
expect_error 400 bad_request "clone of a non-handle" -T "$T/a" "$U/chunks/00000000000000e2?version=1&clone=xyz&clone_version=1"
expect_error 400 bad_request "clone without its version" -T "$T/a" "$U/chunks/00000000000000e2?version=1&clone=$H"
expect_error 404 not_found "clone of an absent chunk" -T "$T/a" "$U/chunks/00000000000000e2?version=1&clone=00000000000000ff&clone_version=1"
expect_error 409 stale_version "clone at another version" -T "$T/a" "$U/chunks/00000000000000e2?version=1&clone=$H&clone_version=7"
expect_error 400 bad_request "X-GFS-Forward not http" -T "$T/a" -H "X-GFS-Forward: ftp://x" "$U/chunks/00000000000000e2?version=1"
expect_error 400 bad_request "X-GFS-Forward not UTF-8" -T "$T/a" -H $'X-GFS-Forward: http://\xff:1' "$U/chunks/00000000000000e2?version=1"
many=$(printf 'http://127.0.0.1:%d,' 1 2 3 4 5 6 7 8 9)
expect_error 400 bad_request "X-GFS-Forward too long" -T "$T/a" -H "X-GFS-Forward: ${many%,}" "$U/chunks/00000000000000e2?version=1"

# routes and methods
expect_error 404 no_route "unknown route" "$U/nothing"
expect_error 404 no_route "no /api/v1" "${CS_URLS[0]}/chunks/$H"
expect_error 405 method_not_allowed "POST a chunk" -X POST "$U/chunks/$H"
expect_error 405 method_not_allowed "PUT /status" -X PUT "$U/status"

# a body cut short: nothing recorded, the old version intact
before=$(put_errors 0)
for te in sized chunked; do
	for h in $H 00000000000000e3; do
		{
			printf 'PUT /api/v1/chunks/%s?version=5&offset=0 HTTP/1.1\r\nHost: x\r\n' $h
			if [ $te = sized ]; then
				printf 'Content-Length: 1000000\r\n\r\n'
			else
				printf 'Transfer-Encoding: chunked\r\n\r\n%x\r\n' 1000000
			fi
			head -c 70000 /dev/urandom
		} | cut_http "${CS_PORTS[0]}"
	done
done
wait_for 10 "the four cut writes to end" put_errors_at_least 0 $((before + 4))
expect_error 404 not_found "a new chunk cut short" "$U/chunks/00000000000000e3"
assert_eq "$(curl_code "$U/chunks/$H")" 200 "the chunk after cut writes"
assert_eq "$(header X-GFS-Version)" 1 "still version 1"
assert_eq "$(sha "$T/last_body")" "$want" "still the same bytes"
[ -z "$(find "${CS_DIRS[0]}/chunks" -name '*.tmp')" ] || fail "temporary file left"
# and they let go of everything: once no job but the /metrics request's
# own is left, the chunk they named takes a write, and a delete
only_own_job() {
	[ "$(curl -sf --max-time 5 "$U/metrics" |
		awk '$1 == "gfs_chunkserver_http_jobs" {print $2}')" = 1 ]
}
wait_for 10 "the cut writes' jobs to end" only_own_job
assert_eq "$(put_chunk 0 00000000000000e3 version=5 "$T/a")" 200 "a write after the cut ones"
assert_eq "$(curl_code -X DELETE "$U/chunks/00000000000000e3")" 200 "then a delete"

# a declared length past a chunk is a 413 at once, before any body
# (--max-time: a server waiting for 2^64-1 bytes would hang here)
expect_error 413 too_large "Content-Length 2^64-1" --max-time 5 -X PUT \
	-H 'Content-Length: 18446744073709551615' "$U/chunks/$H?version=9"
expect_error 413 too_large "Content-Length past a chunk" --max-time 5 -X PUT \
	-H 'Content-Length: 1073741825' "$U/chunks/$H?version=9"
expect_error 413 too_large "GET with a body" --max-time 5 -X GET \
	-H "Content-Length: 5" --data-binary 12345 "$U/chunks/$H"

# HEAD answers the headers of the GET, without the body
curl -sfI --max-time 5 "$U/chunks/$H" >"$T/head" || fail "HEAD of a chunk"
grep -qi "^Content-Length: 200000" "$T/head" || fail "HEAD length: $(cat "$T/head")"
grep -qi "^X-GFS-Version: 1" "$T/head" || fail "HEAD version: $(cat "$T/head")"
for r in healthz status metrics; do
	curl -sfI --max-time 5 "$U/$r" >/dev/null || fail "HEAD /$r"
done

# the server is alive and nothing changed
assert_eq "$(curl_code "$U/healthz")" 200 "healthz"
assert_eq "$(status_num 0 chunks)" 1 "one chunk"
assert_eq "$(chunk_sha 0 $H)" "$want" "protected chunk unchanged"

# a full disk (here: a capacity of 1 MiB) is a 507 before the body, and
# mid-body for a chunked body that outgrows it
start_chunkserver 1 --capacity 1MiB --reserve 0
random_file "$T/big" 2000000
expect_error 507 disk_full "PUT beyond the capacity" -T "$T/big" "$(chunk_url 1 00000000000000f1 version=1)"
assert_eq "$(put_chunk 1 00000000000000f2 version=1 "$T/a")" 200 "PUT within"
expect_error 507 disk_full "chunked beyond the capacity" -T - "$(chunk_url 1 00000000000000f3 version=1)" <"$T/big"
assert_eq "$(status_num 1 chunks)" 1 "only the chunk that fit"
[ ! -e "$(data_file 1 00000000000000f3)" ] || fail "a refused write left its file"
log "ok"
