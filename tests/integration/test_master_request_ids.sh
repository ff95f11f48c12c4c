#!/usr/bin/env bash
# Request ids (X-GFS-Request): a mutation retried with the same id gets
# its first answer instead of EEXIST/ENOENT, across a restart (log and
# checkpoint) and a failover; an exclusive create through the mount whose
# reply is lost while the primary dies succeeds, exactly once.
. "$(dirname "$0")/lib.sh"

start_master --failover-timeout 2s --probation 3s
A=$MASTER_URL/api/v1
hb() { # hb MASTER_API: a chunkserver heartbeat, ends probation
	cluster_post "$1/heartbeat" '{"url":"http://127.0.0.1:9001","full":true,"chunks":[],"free_bytes":100000000000}' >/dev/null
}
id1=0123456789abcdef0123456789abcd01
id2=0123456789abcdef0123456789abcd02
id3=0123456789abcdef0123456789abcd03
rq() { echo "X-GFS-Request: $1"; }

assert_eq "$(http_status PUT "$A/files/a" -H "$(rq $id1)")" 201 "create"
assert_eq "$(http_status PUT "$A/files/a" -H "$(rq $id1)")" 201 "the same create again"
assert_eq "$(jq -r .path "$T/last_body")" /a "its entry"
assert_eq "$(http_status PUT "$A/files/a")" 409 "another create"
assert_eq "$(http_status PUT "$A/files/a" -H "$(rq $id2)")" 409 "another id"
assert_eq "$(http_status PUT "$A/files/b")" 201
assert_eq "$(http_status DELETE "$A/files/b" -H "$(rq $id2)")" 200 "delete"
assert_eq "$(http_status DELETE "$A/files/b" -H "$(rq $id2)")" 200 "the same delete again"
assert_eq "$(http_status PUT "$A/files/c")" 201
assert_eq "$(http_status POST "$A/files/c?op=rename&to=/d" -H "$(rq $id3)")" 200 "rename"
assert_eq "$(http_status POST "$A/files/c?op=rename&to=/d" -H "$(rq $id3)")" 200 "the same rename again"
assert_eq "$(jq -r .path "$T/last_body")" /d
assert_eq "$(http_status POST "$A/files/c?op=rename&to=/d")" 404 "another rename"
assert_eq "$(http_status PUT "$A/files/e" -H "X-GFS-Request: 0123")" 400 "a malformed id"
assert_eq "$(http_status PUT "$A/files/e" -H "$(rq ${id1^^})")" 400 "an uppercase id"
assert_eq "$(http_status GET "$A/files/e")" 404 "nothing made by a refused request"

# the ids survive a crash (the log) and a clean restart (the checkpoint)
for how in KILL TERM; do
	kill -$how "$MASTER_PID"
	wait "$MASTER_PID" 2>/dev/null
	restart_master --failover-timeout 2s --probation 3s
	hb "$A"
	assert_eq "$(http_status PUT "$A/files/a" -H "$(rq $id1)")" 201 "the create after kill -$how"
	assert_eq "$(http_status DELETE "$A/files/b" -H "$(rq $id2)")" 200 "the delete after kill -$how"
done
grep -q "checkpoint at record" "$T/master.log" || fail "no checkpoint was written"

# failover: the mount's exclusive create lands on the primary and on the
# backup, the primary dies before its reply goes out (a proxy kills it
# then and cuts the connection); the retry with the same id on the
# promoted backup answers success
start_backup --failover-timeout 2s --probation 3s
hb "$BACKUP_URL/api/v1"
attached() { curl -sf "$A/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 10 "backup attached" attached
drop_reply "${MASTER_URL##*:}" "PUT /api/v1/files/excl" "$T/dropped" \
	"$MASTER_PID"
MASTERS="http://127.0.0.1:$PROXY_PORT,$BACKUP_URL"
M=$T/mnt
mount_fuse "$M"
(set -o noclobber; : >"$M/excl") 2>"$T/excl.err" &
excl=$!
wait_for 20 "the create's reply to be dropped" test -e "$T/dropped"
kill9 "$MASTER_PID" # killed by the proxy before it cut the reply
wait "$excl" || fail "exclusive create across the failover: $(cat "$T/excl.err")"
assert_eq "$(curl -sf "$BACKUP_URL/api/v1/status" | jq -r .role)" primary "the backup took over"
grep -q "promoted to primary" "$T/backup.log" || fail "no failover happened"
assert_eq "$(http_status GET "$BACKUP_URL/api/v1/files/excl?stat=1")" 200 "the file is there"
stat "$M/excl" >/dev/null || fail "the mount sees it"
(set -o noclobber; : >"$M/excl") 2>/dev/null && fail "a second exclusive create succeeded"
# and the promoted backup learned the earlier ids from the log stream
assert_eq "$(http_status PUT "$BACKUP_URL/api/v1/files/a" -H "$(rq $id1)")" 201 "the create after failover"
log "ok"
