#!/usr/bin/env bash
# Client keys: no key or a wrong one is 401; a read-only key reads but
# every mutating route is 403 (and cp, mkdir, rm, mv, touch, setfattr
# through a mount EACCES), with nothing changed; a key limited to a prefix
# works inside it only (403 outside, listings show only its part, renames
# need both ends inside); the gateway acts with the caller's key; keys
# are read again on SIGHUP; every mutation is in the master's log with
# its key's name.
. "$(dirname "$0")/lib.sh"

RO=$(add_key reader ro)
PRE=$(add_key alice rw /home/alice)
start_cluster 3 --chunk-size 1MiB
A=$MASTER_URL/api/v1
cd "$T"
random_file f 1500000
gfs upload f /data/f >/dev/null || fail "upload"
gfs upload f /home/alice/a >/dev/null || fail "upload a"
gfs upload f /home/bob/b >/dev/null || fail "upload b"

# key FILE METHOD URL [CURL_ARGS...]: the status with the key in FILE
key() {
	local k=$1 m=$2 u=$3
	shift 3
	curl -q -s -o "$T/last_body" -w '%{http_code}' -X "$m" \
		-H "Authorization: Bearer $(cat "$k")" "$@" "$u"
}
state() { curl -sf "$A/files?prefix=/&dirs=1" | jq -c '[.files[] | [.path, .size, .mtime_ns, .mode]]'; curl -sf "$A/status" | jq .seq; }

# no key, a wrong key
assert_eq "$(curl -q -s -o /dev/null -w '%{http_code}' "$A/files/data/f")" 401 "no key"
echo "not-a-key-0123456789abcdef" >wrong
assert_eq "$(key wrong GET "$A/files/data/f")" 401 "a wrong key"
assert_eq "$(jq -r .code "$T/last_body")" unauthorized "error code"
GFS_KEY_FILE=wrong gfs ls / >/dev/null 2>&1 && fail "gfs with a wrong key"

# a read-only key: reads work, every mutation is 403 and changes nothing
before=$(state)
assert_eq "$(key "$RO" GET "$A/files/data/f")" 200 "read-only: GET"
assert_eq "$(key "$RO" GET "$A/files?prefix=/")" 200 "read-only: list"
GFS_KEY_FILE=$RO gfs download /data/f back >/dev/null || fail "read-only download"
assert_same_file back f
printf '{}' >empty.json
for req in "PUT $A/files/new" "DELETE $A/files/data/f" \
	"POST $A/files/data/f?op=rename&to=/data/g" "POST $A/files/data/f?op=setattr" \
	"POST $A/files/data/f/chunks" "POST $A/files/data/f/commit" \
	"PUT $A/leases/data/f" "DELETE $A/leases/data/f" "PUT $A/content/data/new"; do
	read -r m u <<<"$req"
	assert_eq "$(key "$RO" "$m" "$u" --data-binary @empty.json)" 403 "read-only: $req"
	assert_eq "$(jq -r .code "$T/last_body")" forbidden "read-only: $req: code"
done
GFS_KEY_FILE=$RO gfs upload f /data/x >/dev/null 2>&1 && fail "read-only upload"
GFS_KEY_FILE=$RO gfs rm /data/f >/dev/null 2>&1 && fail "read-only rm"
assert_eq "$(state)" "$before" "read-only calls changed something"

# what concerns the whole cluster: a read-write key without prefixes
assert_eq "$(key "$RO" POST "$A/detach")" 403 "read-only: gfs detach"
assert_eq "$(key "$RO" POST "$A/promote")" 403 "read-only: gfs promote"
assert_eq "$(key "$PRE" POST "$A/detach")" 403 "prefix key: gfs detach"
assert_eq "$(key "$PRE" POST "$A/promote")" 403 "prefix key: gfs promote"
assert_eq "$(key wrong POST "$A/promote")" 401 "a wrong key: gfs promote"
assert_eq "$(curl -sf "$A/status" | jq -r .role)" primary "the master's role"

# ... and through a mount
M=$T/mnt
GFS_KEY_FILE=$RO mount_fuse "$M"
cmp "$M/data/f" f || fail "read through a read-only mount"
for op in "cp f $M/data/new" "cp f $M/data/f" "mkdir $M/d" "rm $M/data/f" \
	"mv $M/data/f $M/data/g" "touch $M/data/f" "chmod 600 $M/data/f" \
	"setfattr -n user.gfs.lease -v 1 $M/data/f"; do
	out=$($op 2>&1) && fail "read-only mount: $op worked"
	echo "$out" | grep -q "Permission denied" || fail "read-only mount: $op: $out"
done
assert_eq "$(state)" "$before" "the read-only mount changed something"

# a key limited to /home/alice
al() { key "$PRE" "$@"; }
assert_eq "$(al PUT "$A/files/home/alice/new")" 201 "prefix: create inside"
assert_eq "$(al PUT "$A/files/home/alicex")" 403 "prefix: a sibling name"
assert_eq "$(al PUT "$A/files/data/x")" 403 "prefix: create outside"
assert_eq "$(al GET "$A/files/home/bob/b")" 403 "prefix: read outside"
assert_eq "$(al GET "$A/files/home/bob/b?stat=1")" 403 "prefix: stat outside"
assert_eq "$(al GET "$A/files/home?stat=1")" 200 "prefix: stat on the way"
assert_eq "$(al GET "$A/files/?stat=1")" 200 "prefix: the root's entry"
assert_eq "$(al POST "$A/files/?op=setattr" -d '{"mode":511}')" 403 "prefix: chmod of the root"
assert_eq "$(al PUT "$A/xattrs/" -d '{"name":"user.x","value":"eA=="}')" 403 "prefix: xattr of the root"
assert_eq "$(al DELETE "$A/files/home/bob/b")" 403 "prefix: delete outside"
assert_eq "$(al POST "$A/files/home/alice/a?op=rename&to=/data/a")" 403 "prefix: rename out"
assert_eq "$(al POST "$A/files/home/bob/b?op=rename&to=/home/alice/b")" 403 "prefix: rename in"
assert_eq "$(al POST "$A/files/home/alice/a?op=rename&to=/home/alice/c")" 200 "prefix: rename inside"
assert_eq "$(al GET "$A/files?prefix=/" | cut -c1-3)" 200 "prefix: list"
assert_eq "$(jq -r '[.files[].path] | join(" ")' "$T/last_body")" "/home/alice/c /home/alice/new" "prefix: what a listing shows"
assert_eq "$(al GET "$A/files?dir=/")" 200 "prefix: list the root"
assert_eq "$(jq -r '[.entries[].name] | join(" ")' "$T/last_body")" "home" "prefix: the root shows the way"
assert_eq "$(al GET "$A/files?dir=/home")" 200
assert_eq "$(jq -r '[.entries[].name] | join(" ")' "$T/last_body")" "alice" "prefix: /home shows alice only"
assert_eq "$(al GET "$A/files?dir=/data")" 403 "prefix: list outside"
GFS_KEY_FILE=$PRE gfs upload f /home/alice/up >/dev/null || fail "prefix: gfs upload inside"
GFS_KEY_FILE=$PRE gfs download /home/alice/up back2 >/dev/null || fail "prefix: gfs download inside"
assert_same_file back2 f
GFS_KEY_FILE=$PRE gfs download /data/f back3 >/dev/null 2>&1 && fail "prefix: gfs download outside"

# the gateway acts with the caller's key
gw() { curl -q -s -o "$T/last_body" -w '%{http_code}' --location-trusted "$@"; }
assert_eq "$(gw "$A/content/data/f")" 401 "gateway: no key"
assert_eq "$(gw -H "Authorization: Bearer $(cat "$RO")" "$A/content/data/f")" 200 "gateway: read-only read"
assert_same_file "$T/last_body" f
assert_eq "$(gw -H "Authorization: Bearer $(cat "$PRE")" "$A/content/data/f")" 403 "gateway: prefix outside"
assert_eq "$(gw -H "Authorization: Bearer $(cat "$PRE")" -T f "$A/content/home/alice/gw")" 201 "gateway: prefix inside"
assert_eq "$(gw -H "Authorization: Bearer $(cat "$RO")" -T f "${CS_URLS[0]}/api/v1/content/data/gw")" 403 "gateway itself: read-only write"

# keys again on SIGHUP: a new one works, a removed one stops
NEW=$(add_key late ro)
grep -v "^reader " "$KEYS_FILE" >keys.new && cat keys.new >"$KEYS_FILE"
kill -HUP "$MASTER_PID"
wait_for 10 "the reloaded keys" key_works "$NEW" "$A/files/data/f?stat=1"
assert_eq "$(key "$RO" GET "$A/files/data/f?stat=1")" 401 "a removed key"
echo "garbage" >>"$KEYS_FILE"
kill -HUP "$MASTER_PID"
wait_for 10 "the bad keys file refused" grep -q "keys not reloaded" "$T/master.log"
assert_eq "$(key "$NEW" GET "$A/files/data/f?stat=1")" 200 "the keys in use stay"

# the audit trail: each mutation with its key's name
grep -q "audit: alice PUT /api/v1/files/home/alice/new 201" "$T/master.log" || fail "no audit line of alice's create"
grep -q "audit: alice POST /api/v1/files/home/alice/a?op=rename&to=%2Fhome%2Falice%2Fc 200" "$T/master.log" ||
	grep -q "audit: alice POST /api/v1/files/home/alice/a?op=rename&to=/home/alice/c 200" "$T/master.log" ||
	fail "no audit line of alice's rename"
grep -q "audit: reader DELETE /api/v1/files/data/f 403 refused" "$T/master.log" || fail "no audit line of a refusal"
grep -q "audit: admin PUT /api/v1/files/data/f 201" "$T/master.log" || fail "no audit line of gfs upload"
log "ok"
