#!/usr/bin/env bash
# Directory listings through the mount: every entry of a directory larger
# than one readdir buffer, exactly once, with its size; and the listing
# carries the attributes, so `stat *` after it asks the master nothing
# per file (one round trip per name is what made `ls -l` slow).
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB
M=$T/mnt
mount_fuse "$M"
N=300
mkdir "$M/d"
for i in $(seq -w 1 $N); do printf '%s' "$i" >"$M/d/f$i" || fail "create f$i"; done
mkdir "$M/d/sub"

assert_eq "$(ls "$M/d" | wc -l)" $((N + 1)) "entries listed"
assert_eq "$(ls "$M/d" | sort | uniq -d | wc -l)" 0 "entries listed twice"
assert_eq "$(ls "$M/d" | grep -c '^f')" $N "files listed"
# sizes as the listing reports them: each file holds its own number
bad=$(cd "$M/d" && stat -c '%n %s' f* | awk '{ if ($2 != length(substr($1, 2))) print }')
[ -z "$bad" ] || fail "sizes in the listing: $bad"
assert_eq "$(find "$M/d" -type f | wc -l)" $N "find"

file_gets() {
	curl -sf "$MASTER_URL/api/v1/metrics" |
		awk '/^gfs_master_http_requests_total\{method="GET",route="\/api\/v1\/files\/\*"\}/ { n = $2 }
		     END { print n + 0 }'
}
sync
echo 3 >/proc/sys/vm/drop_caches
before=$(file_gets)
(cd "$M/d" && stat -c '%s' f* >/dev/null) || fail "stat"
after=$(file_gets)
[ $((after - before)) -lt 10 ] ||
	fail "stat of $N listed files cost $((after - before)) master lookups"
log "ok"
