#!/usr/bin/env bash
# Killing one chunkserver while a large file is being read through the
# mount does not fail the read.
. "$(dirname "$0")/lib.sh"

start_cluster 4 --chunk-size 4MiB
M=$T/mnt
mount_fuse "$M"
cd "$T"
random_file big $((256 << 20))
cp big "$M/big" || fail "cp in"
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
exec 3<"$M/big"
dd bs=1M count=32 iflag=fullblock status=none <&3 >out || fail "first part"
kill9 "${CS_PIDS[1]}"
cat <&3 >>out || fail "the read failed after the kill"
exec 3<&-
cmp big out || fail "the data read differs"
log "ok"
