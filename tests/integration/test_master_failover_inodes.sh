#!/usr/bin/env bash
# Inodes survive failover: the backup, which applies the primary's
# records, shows the same inode numbers, link counts, owners, times and
# symlink targets, and once promoted numbers new inodes past every one in
# use.  (Numbers are logged with each inode, implicit parents included,
# so both masters agree without talking about it.)
. "$(dirname "$0")/lib.sh"

start_master --failover-timeout 2s --probation 3s
start_backup --failover-timeout 2s --probation 3s
P=$MASTER_URL/api/v1
B=$BACKUP_URL/api/v1
cd "$T"
hb() { # hb MASTER_API EPOCH PRIMARY
	cluster_post "$1/heartbeat" "{\"url\":\"http://127.0.0.1:9001\",\"full\":true,\"chunks\":[],\"free_bytes\":100000000000,\"epoch\":$2,\"primary\":\"$3\",\"primary_age_ms\":99999}"
}
hb "$P" 1 "$MASTER_URL" >/dev/null
hb "$B" 1 "$MASTER_URL" >/dev/null
attached() { curl -sf "$P/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 10 "backup attached" attached

put() { [ "$(http_status PUT "$P/files/$1" -d "$2")" = 201 ] || fail "create $1"; }
put a/b/f '{"uid":7,"gid":8,"mode":1604}'
put a/s '{"type":"symlink","target":"b/f"}'
put a/c '{"type":"char","rdev":259}'
[ "$(http_status POST "$P/files/a/b/f?op=link&to=/x/g")" = 201 ] || fail "link"
[ "$(http_status POST "$P/files/a/b/f?op=setattr" -d '{"atime_ns":5}')" = 200 ] ||
	fail "setattr"
fields='[.ino, .nlink, .uid, .gid, .mode, .atime_ns, .ctime_ns, .target, .rdev, .type]'
view() { # view API: every inode's fields, by path
	for p in a a/b a/b/f x/g a/s a/c; do
		curl -sf "$1/files/$p?stat=1" | jq -c "$fields" || echo "$p missing"
	done
}
view "$P" >primary.txt
grep -q missing primary.txt && fail "primary: $(cat primary.txt)"
assert_eq "$(sed -n 3p primary.txt)" "$(sed -n 4p primary.txt)" "two names, one inode"
view "$B" >backup.txt
assert_eq "$(cat backup.txt)" "$(cat primary.txt)" "the backup's inodes"

kill9 "$MASTER_PID"
promoted() { curl -sf "$B/status" | jq -e '.role == "primary"' >/dev/null; }
wait_for 15 "backup promoted" promoted
view "$B" >promoted.txt
assert_eq "$(cat promoted.txt)" "$(cat primary.txt)" "inodes after failover"
put_b() { [ "$(http_status PUT "$B/files/$1")" = 201 ] || fail "create $1 on the new primary"; }
put_b n/new
max=$(jq -s 'map(.[0]) | max' primary.txt)
new=$(curl -sf "$B/files/n/new?stat=1" | jq .ino)
dir=$(curl -sf "$B/files/n?stat=1" | jq .ino)
[ "$new" -gt "$max" ] && [ "$dir" -gt "$max" ] && [ "$new" != "$dir" ] ||
	fail "new inodes $new, $dir not past $max"
log "inodes the same on the backup and after failover"
