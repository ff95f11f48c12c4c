#!/usr/bin/env bash
# When close(2) returns in a mount, the file is on the disks of all three
# replicas and in the op logs of both masters -- on the disks, not in
# their page caches.  Every server keeps its data on a file system of its
# own (a loop-mounted image, mounted with commit=60 so that ext4's
# periodic journal commit saves nothing on its own), so each image holds
# exactly what that server made durable plus what the kernel happened to
# write back.  Right after the last close, every process is killed at once
# (kill -9) and the images are copied as they are: a power cut.  Then:
#   - each replica's copy holds every chunk, bytes and meta (raw files);
#   - each master's op log holds each file's CREATE and COMMIT;
#   - a cluster started from the copies serves every file byte for byte.
# (A run with fsync(2) and fdatasync(2) turned into no-ops by an
# LD_PRELOAD shim fails here: the chunks and the log records are gone.)
. "$(dirname "$0")/lib.sh"

SERVERS=(master backup cs0 cs1 cs2)
# disk_at NAME IMG: mount IMG at $T/NAME (loop, commit=60), or status 1.
disk_at() {
	mkdir -p "$T/$1" &&
		mount -o loop,commit=60 "$2" "$T/$1" 2>/dev/null || return 1
	TMPFS+=("$T/$1")
}
for s in "${SERVERS[@]}"; do
	if ! truncate -s 128M "$T/$s.img" ||
		! mkfs.ext4 -q -F "$T/$s.img" >/dev/null 2>&1 ||
		! disk_at "$s" "$T/$s.img"; then
		log "skipped: cannot mount a loop device here"
		exit 0
	fi
done

start_master --chunk-size 1M
start_backup
start_chunkservers 3 --reserve 0
M=$T/mnt
mount_fuse "$M"
FUSE_PID=${PIDS[-1]}
wait_for 10 "the backup in sync" \
	bash -c "curl -sf '$MASTER_URL/api/v1/status' | jq -e '.backup.attached' >/dev/null"

# 12 small files and one of 2.5 MiB (3 chunks), each closed by its writer
mkdir -p "$T/src"
for i in $(seq 1 12); do random_file "$T/src/s$i" 4096; done
random_file "$T/src/big" $((2560 * 1024))
for f in "$T"/src/*; do cp "$f" "$M/" || fail "cp $f into the mount"; done

# the power cut: everything at once, then the disks as they are
kill -KILL "$MASTER_PID" "$BACKUP_PID" "${CS_PIDS[@]}" "$FUSE_PID"
for s in "${SERVERS[@]}"; do
	cp --sparse=always "$T/$s.img" "$T/$s.crash" || fail "copy of $s"
done
for p in "$MASTER_PID" "$BACKUP_PID" "${CS_PIDS[@]}" "$FUSE_PID"; do
	wait "$p" 2>/dev/null
done
fusermount3 -uz "$M" 2>/dev/null
for s in "${SERVERS[@]}"; do
	umount "$T/$s" || fail "umount $s"
	disk_at "$s" "$T/$s.crash" || fail "mount the copy of $s"
done

# every chunk, on the disk of every replica: bytes and meta
expected=()
for i in $(seq 1 12); do expected+=("$(sha "$T/src/s$i")"); done
for c in 0 1; do
	expected+=("$(head -c $(((c + 1) << 20)) "$T/src/big" | tail -c $((1 << 20)) | sha256sum | cut -d' ' -f1)")
done
expected+=("$(tail -c $((512 * 1024)) "$T/src/big" | sha256sum | cut -d' ' -f1)")
for c in 0 1 2; do
	declare -A have=()
	for f in "$T/cs$c"/chunks/*/*; do
		case $f in *.meta | *.tmp) continue ;; esac
		[ -f "$f" ] || continue
		getfattr -n user.gfs.meta "$f" >/dev/null 2>&1 || [ -e "$f.meta" ] ||
			continue # no meta: not committed, removed at start-up
		have[$(sha "$f")]=1
	done
	for e in "${expected[@]}"; do
		[ -n "${have[$e]:-}" ] || fail "cs$c lost a chunk acknowledged by close ($e)"
	done
	unset have
done

# each file's CREATE and COMMIT, in the op log of both masters
for s in master backup; do
	for f in "$T"/src/*; do
		n=$(cat "$T/$s"/log.* | grep -aoF "/$(basename "$f")" | wc -l)
		[ "$n" -ge 2 ] || fail "$s's op log lacks $(basename "$f") ($n records)"
	done
done

# and a cluster started from the copies serves every file
# (the backup on its own port again: the primary waits for it)
restart_master --chunk-size 1M
# shellcheck disable=SC2046
"$GFS_BIN/gfs-master" --listen "127.0.0.1:${BACKUP_URL##*:}" --data "$T/backup" \
	--backup-of "$MASTER_URL" $(master_auth) >>"$T/backup.log" 2>&1 &
PIDS+=("$!")
for c in 0 1 2; do start_chunkserver "$c" --reserve 0; done
mount_fuse "$M"
for f in "$T"/src/*; do
	assert_same_file "$M/$(basename "$f")" "$f" "$(basename "$f") after the power cut"
done
log "ok"
