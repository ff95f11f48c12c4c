#!/usr/bin/env bash
# Chunk tokens: a token allows one operation on one chunk at one version
# until it expires.  Replayed after its expiry, or for another handle,
# version or operation, forged or altered, it is 403 and nothing changes.
# Clients renew theirs: a file open in a mount across the expiry of every
# token it was given still reads and writes.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB --token-ttl 10s
A=$MASTER_URL/api/v1
cd "$T"
random_file f 2200000
gfs upload f /f >/dev/null || fail "upload"
curl -sf "$A/files/f" >map.json || fail "file map"
read -r H V TOK R <<<"$(jq -r '.chunks[0] | "\(.handle) \(.version) \(.token) \(.replicas[0])"' map.json)"
read -r H2 V2 TOK2 <<<"$(jq -r '.chunks[1] | "\(.handle) \(.version) \(.token)"' map.json)"
EXP=$(cut -d. -f5 <<<"$TOK")
C=$R/api/v1/chunks
# tok TOKEN METHOD URL [CURL_ARGS...]: status of a chunk request
tok() { curl -q -s -o "$T/last_body" -w '%{http_code}' -H "X-GFS-Token: $1" -X "$2" "${@:4}" "$3"; }
bad() { # bad WHAT TOKEN METHOD URL [CURL_ARGS...]: 403 bad_token
	local what=$1
	shift
	assert_eq "$(tok "$@")" 403 "$what"
	assert_eq "$(jq -r .code "$T/last_body")" bad_token "$what: code"
}
head -c 1000 /dev/urandom >evil

assert_eq "$(tok "$TOK" GET "$C/$H?version=$V")" 200 "the token as given"
cmp -s "$T/last_body" <(head -c 1048576 f) || fail "the chunk's bytes"
bad "another handle" "$TOK" GET "$C/$H2?version=$V2"
bad "another version" "$TOK" GET "$C/$H?version=$((V + 1))"
bad "no version" "$TOK" GET "$C/$H"
bad "another operation (PUT)" "$TOK" PUT "$C/$H?version=$((V + 1))" -T evil
bad "another operation (clone into)" "$TOK" PUT "$C/00000000000fffff?version=1&clone=$H&clone_version=$V" -T evil
assert_eq "$(tok "$TOK" DELETE "$C/$H")" 401 "another operation (DELETE)"
bad "a token for another version, signed" "$(gfs_token "$SECRET_FILE" "$H" $((V + 1)) r "$EXP")" GET "$C/$H?version=$V"
bad "altered: r made rw" "$(sed 's/\.r\./.rw./' <<<"$TOK")" PUT "$C/$H?version=$((V + 1))" -T evil
bad "altered: later expiry" "$(sed "s/\.$EXP\./.$((EXP + 3600))./" <<<"$TOK")" GET "$C/$H?version=$V"
bad "forged with another secret" "$(echo forged-secret-0123456789 >o && chmod 600 o && gfs_token o "$H" "$V" rw +600)" GET "$C/$H?version=$V"
bad "signed by the secret, expired" "$(gfs_token "$SECRET_FILE" "$H" "$V" r $(($(date +%s) - 1)))" GET "$C/$H?version=$V"
bad "not a token" "g1.nonsense" GET "$C/$H?version=$V"

# A file open across the expiry of every token it holds, in a mount.
M=$T/mnt
mount_fuse "$M" -o readahead_kb=4 # (no read-ahead of the whole file)
exec 3<"$M/f" || fail "open for reading"
head -c 1000 <&3 >/dev/null
dd if=/dev/urandom of=w1 bs=64K count=1 status=none
dd if=/dev/urandom of=w2 bs=64K count=1 status=none
exec 4<>"$M/w" || fail "open for writing"
dd if=w1 bs=64K count=1 status=none >&4
# (every token given so far, the mount's included, lived 10 s at most)
last=$(($(date +%s) + 10))
expired() { [ "$(date +%s)" -gt "$last" ]; }
wait_for 15 "every token given so far to expire" expired
bad "the token replayed after its expiry" "$TOK" GET "$C/$H?version=$V"
# (a new PUT of the private chunk, at a jump: version 2, a fresh token;
# dd seeks from where fd 4 stands)
dd if=w2 bs=64K count=1 seek=5 conv=notrunc status=none >&4 || fail "write after the expiry"
exec 4>&-
cat w1 <(head -c $((5 * 65536)) /dev/zero) w2 >want
cmp want "$M/w" || fail "the file written across the expiry"
tail -c +1001 f >rest
cmp rest <(cat <&3) || fail "the read across the expiry"
exec 3<&-
renewals=$(curl -sf "$A/metrics" | grep 'requests_total{method="POST",route="/api/v1/files/\*/tokens"}' | awk '{print $2}')
[ "${renewals:-0}" -ge 2 ] || fail "the mount renewed ${renewals:-no} tokens"
gfs download /f back >/dev/null || fail "download"
assert_same_file back f "nothing changed"
log "ok: the mount renewed $renewals times"
