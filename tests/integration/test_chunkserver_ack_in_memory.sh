#!/usr/bin/env bash
# --ack-in-memory (the opt-in durability of GFS and HDFS: a write is
# acknowledged when the replicas hold it in memory, before their disks
# do): chunkservers say so at start-up, and files written through the
# CLI and a mount read back whole, also after every chunkserver restarted
# (a process restart keeps the page cache, so nothing is lost).  That no
# commit waits for the disk is tests/unit/test_chunkwrite_sync.c.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1M
start_chunkservers 3 --ack-in-memory
for i in 0 1 2; do
	grep -q -- "--ack-in-memory: writes are acknowledged before the disk has them" \
		"$T/cs$i.log" || fail "cs$i does not warn about --ack-in-memory"
done
M=$T/mnt
mount_fuse "$M"
random_file "$T/big" $((3 * 1024 * 1024 + 123))
random_file "$T/small" 4096
gfs upload "$T/big" /big >/dev/null || fail "upload"
cp "$T/small" "$M/small" || fail "cp into the mount"
for i in 0 1 2; do
	kill -TERM "${CS_PIDS[$i]}"
	wait "${CS_PIDS[$i]}"
	start_chunkserver "$i" --ack-in-memory
done
wait_for 20 "3 live chunkservers" alive_at_least "$MASTER_URL" 3
gfs download /big "$T/big.out" >/dev/null || fail "download"
assert_same_file "$T/big.out" "$T/big" "big after the restarts"
assert_same_file "$M/small" "$T/small" "small after the restarts"
log "ok"
