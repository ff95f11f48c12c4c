#!/usr/bin/env bash
# statfs (df, df -i) of a mount tells the truth: capacity and free space
# are what the live chunkservers report divided by the replica count
# (each byte of a file is stored that many times), and the inodes in use
# are the files and directories in the master.  Before: raw capacity, 3x
# what files could take, and inodes in use counted files only.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --replicas 3
M=$T/mnt
mount_fuse "$M"
mkdir -p "$M/a/b" || fail "mkdir"
for i in 1 2 3 4 5; do echo $i >"$M/a/f$i" || fail "create f$i"; done
S=$MASTER_URL/api/v1/status
reported() { curl -sf "$S" | jq -e '[.chunkservers[] | select(.alive and .total_bytes > 0)] | length == 3' >/dev/null; }
wait_for 20 "three servers' capacity" reported
total=$(curl -sf "$S" | jq '[.chunkservers[] | select(.alive) | .total_bytes] | add')
free=$(curl -sf "$S" | jq '[.chunkservers[] | select(.alive) | .free_bytes] | add')
read -r blocks bsize bfree files ffree < <(stat -f -c '%b %S %f %c %d' "$M")
assert_eq "$((blocks * bsize / 4096))" "$((total / 3 / 4096))" "capacity divided by 3 replicas"
want=$((free / 3 / 4096))
diff=$((bfree - want))
[ "${diff#-}" -le $((want / 100 + 256)) ] || fail "free blocks $bfree, wanted about $want"
# 5 files, directories /a and /a/b, and the root
assert_eq "$((files - ffree))" 8 "inodes in use"
df "$M" >/dev/null || fail "df"
log "OK"
