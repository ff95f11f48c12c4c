#!/usr/bin/env bash
# When close(2) returns in a mount, the file is on the disks of all three
# replicas and in the op logs of both masters -- on the disks, not in
# their page caches.  Every server keeps its data on a file system of its
# own (a loop-mounted image, mounted with commit=60 so that ext4's
# periodic journal commit saves nothing on its own), so each image holds
# exactly what that server made durable plus what the kernel happened to
# write back.  Files are made both ways the mount creates them: cp
# (O_EXCL: a create, then a commit) and split and `>` (deferred creates:
# one CREATE_COMMIT at the close, docs/CLIENT.md).  The deferred ones are
# written while every fsync(2) and fdatasync(2) of the servers first waits
# (slow_sync.c, LD_PRELOAD; the backup's longest, the replicas' each
# differently), so that anything acknowledged before it was durable -- a
# create+commit before the backup's fsync, a chunk before a replica's --
# is still undone when, right after the last close, every process is
# killed at once (kill -9) and the images are copied as they are: a power
# cut.  Then:
#   - each replica's copy holds every chunk, bytes and meta (raw files,
#     or packed records that its start-up would take: pack_records.py);
#   - each master's op log holds each cp'd file's CREATE and COMMIT, and
#     each deferred file's CREATE_COMMIT, whose chunks are on the disk
#     of every replica (oplog_records.py reads the logs, checksums and
#     all, as a replay would);
#   - a cluster started from the copies serves every file byte for byte.
# (A run with fsync(2) and fdatasync(2) turned into no-ops by an
# LD_PRELOAD shim fails here: the chunks and the log records are gone;
# so does one whose master acknowledges a create+commit once its own log
# has it, without waiting for the backup's.)
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

# each server's syncs wait as many ms as $T/slow.NAME says (none before)
if ! cc -shared -fPIC -o "$T/slow_sync.so" "$(dirname "$0")/slow_sync.c" \
	-ldl 2>"$T/cc.log"; then
	cat "$T/cc.log" >&2
	fail "cannot build slow_sync.so"
fi
# (before the sanitizer's runtime when the programs have one, which
# then must not insist on coming first)
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
export LD_PRELOAD=$T/slow_sync.so
GFS_SLOW_SYNC_FILE=$T/slow.master start_master --chunk-size 1M
GFS_SLOW_SYNC_FILE=$T/slow.backup start_backup
for c in 0 1 2; do
	GFS_SLOW_SYNC_FILE=$T/slow.cs$c start_chunkserver "$c" --reserve 0
done
unset LD_PRELOAD
wait_for 20 "3 live chunkservers" alive_at_least "$MASTER_URL" 3
M=$T/mnt
# deferred creates stay deferred however slow their close (not made on
# the master as a long-open file)
mount_fuse "$M" --defer-create 60s
FUSE_PID=${PIDS[-1]}
wait_for 10 "the backup in sync" \
	bash -c "curl -sf '$MASTER_URL/api/v1/status' | jq -e '.backup.attached' >/dev/null"

# 12 small files and one of 2.5 MiB (3 chunks), each closed by its writer
mkdir -p "$T/src"
for i in $(seq 1 12); do random_file "$T/src/s$i" 4096; done
random_file "$T/src/big" $((2560 * 1024))
for f in "$T"/src/*; do cp "$f" "$M/" || fail "cp $f into the mount"; done

# deferred creates, with slow disks: 3 files of split and one of `>`
mkdir -p "$T/dsrc"
random_file "$T/dsrc.all" $((2 * 4096 + 100))
(cd "$T/dsrc" && split -b 4096 -a 1 -d "$T/dsrc.all" sp) || fail "split"
random_file "$T/dsrc/redir" 3000
# the backup's disk the slowest (a master that acknowledged without it
# would do so 300 ms early), each replica's slower than the one before
echo 100 >"$T/slow.master"
echo 400 >"$T/slow.backup"
for c in 0 1 2; do echo $((100 << c)) >"$T/slow.cs$c"; done
t0=$(date +%s%N)
cat "$T/dsrc/redir" >"$M/redir" || fail "> into the mount"
# last, as the power cut follows it: a create+commit (no plain commit
# after it, which would wait for the backup to hold all before it)
(cd "$M" && split -b 4096 -a 1 -d "$T/dsrc.all" sp) || fail "split into the mount"
# the shim worked: each close waited for the backup's sync at least
ms=$((($(date +%s%N) - t0) / 1000000))
log "deferred closes took $ms ms"
[ "$ms" -ge $((4 * 400)) ] || fail "the slow syncs did not slow the closes ($ms ms)"

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
	while read -r _ _ _ s _; do
		have[$s]=1
	done < <(python3 "$IT_DIR/pack_records.py" "$T/cs$c")
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

# each deferred file's CREATE_COMMIT in the op log of both masters, its
# one chunk on the disk of every replica
for s in master backup; do
	python3 "$(dirname "$0")/oplog_records.py" "$T/$s" >"$T/$s.records" ||
		fail "read $s's op log"
	for f in "$T"/dsrc/*; do
		name=$(basename "$f")
		awk -v p="/$name" '$2 == "CREATE_COMMIT" && $3 == p { f = 1 }
			($2 == "CREATE" || $2 == "MKNODE") && $3 == p { exit 1 }
			END { exit !f }' "$T/$s.records" ||
			fail "$s's op log lacks the CREATE_COMMIT of $name"
		# its last commit (`>`: the shell's own close commits it empty
		# first, then cat's close commits the bytes)
		rec=$(awk -v p="/$name" '$2 ~ /COMMIT$/ && $3 == p' "$T/$s.records" | tail -1)
		# shellcheck disable=SC2086
		set -- $rec
		[ $# = 4 ] || fail "$name's CREATE_COMMIT has $(($# - 3)) chunks"
		handle=${4%:*} len=${4#*:}
		assert_eq "$len" "$(stat -c %s "$f")" "$name's committed length"
		for c in 0 1 2; do
			chunk=$(ls "$T/cs$c"/chunks/*/"$handle" 2>/dev/null) ||
				chunk=
			if [ -z "$chunk" ]; then # a packed record, or nothing
				python3 "$IT_DIR/pack_records.py" "$T/cs$c" \
					"$handle" >"$T/record" ||
					fail "cs$c lacks $name's chunk $handle"
				assert_eq "$(stat -c %s "$T/record")" "$len" \
					"$name's record length on cs$c"
				chunk=$T/record
			else
				getfattr -n user.gfs.meta "$chunk" >/dev/null 2>&1 ||
					[ -e "$chunk.meta" ] || fail "cs$c lacks $name's chunk meta"
			fi
			assert_eq "$(head -c "$len" "$chunk" | sha256sum | cut -d' ' -f1)" \
				"$(sha "$f")" "$name's bytes on cs$c"
		done
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
for f in "$T"/src/* "$T"/dsrc/*; do
	assert_same_file "$M/$(basename "$f")" "$f" "$(basename "$f") after the power cut"
done
log "ok"
