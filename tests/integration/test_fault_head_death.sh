#!/usr/bin/env bash
# kill -9 of the chunkserver at the head of a chunk's pipeline, in the
# middle of that chunk: the client places the chunk again without it and
# sends its bytes once more (gfs upload reads them again from the file, a
# cp into a mount kept them until they were acknowledged), so the write
# succeeds, reads back byte for byte, and every chunk has 3 live replicas
# within seconds.  Before, the write failed with EIO.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 32MiB --dead-after 2s
start_chunkservers 4 --heartbeat-interval 500ms
A=$MASTER_URL/api/v1
M=$T/mnt
M2=$T/mnt2
cd "$T"
random_file src $((48 << 20)) # chunk 0 and half of chunk 1

# head_of PID: index of the one chunkserver PID has a connection to
head_of() {
	local i hit="" n=0
	for i in "${!CS_PORTS[@]}"; do
		if ss -Htnp state established "( dport = :${CS_PORTS[$i]} )" |
			grep "pid=$1," >/dev/null; then
			hit=$i
			n=$((n + 1))
		fi
	done
	[ "$n" = 1 ] && echo "$hit"
}
# kill_head PID: kill -9 the one chunkserver PID streams to; sets H
kill_head() {
	wait_for 20 "a chunk streaming from pid $1" head_of "$1"
	H=$(head_of "$1")
	kill9 "${CS_PIDS[$H]}"
	log "killed server $H, the head of a chunk being written"
}
live_urls() { curl -sf "$A/status" | jq -c '[.chunkservers[] | select(.alive) | .url]'; }
# replicated FILE...: every chunk on 3 distinct live servers
replicated() {
	local live f
	live=$(live_urls) || return 1
	for f in "$@"; do
		curl -sf "$A/files$f" | jq -e --argjson live "$live" '[.chunks[] |
			(.replicas | unique | length == 3) and
			all(.replicas[]; . as $r | $live | index($r))] | all' >/dev/null ||
			return 1
	done
}

# gfs upload of a regular file, slowed down (each 4 MiB read waits
# half a second) so that the head can be killed while it writes chunk 0
# (LeakSanitizer cannot work under strace: make asan checks the rest)
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
	strace -f -qq -o /dev/null -P "$T/src" -e trace=read \
	-e inject=read:delay_enter=500000 \
	"$GFS_BIN/gfs" --master "$MASTERS" --log-level info upload src /up \
	>up.out 2>up.log &
up=$!
wait_for 10 "gfs to start" pgrep -P "$up"
# chunks_over MIB: a chunkserver holds a chunk of more than MIB MiB,
# committed (a file under chunks/) or being written (an unnamed inode)
chunks_over() {
	find "${CS_DIRS[@]/%//chunks}" -type f -size +"$1"M | grep . >/dev/null ||
		unnamed_over $(($1 << 20)) "${!CS_PIDS[@]}"
}
wait_for 20 "2 MiB of chunk 0 written" chunks_over 1
gp=$(pgrep -P "$up")
kill -STOP "$gp" # held there while its head is found and killed
! chunks_over 31 || fail "gfs upload was past chunk 0 already"
kill_head "$gp"
kill -CONT "$gp"
wait "$up" || fail "gfs upload failed when its head died: $(tail -3 up.log)"
grep "of /up again" up.log >/dev/null || fail "gfs upload placed no chunk again"
log "$(grep "again" up.log)"
gfs download /up back >/dev/null || fail "download /up"
assert_same_file back src "/up after its head died"
wait_for 30 "3 live replicas of every chunk of /up" replicated /up

# back_again: the killed server returns (so that 4 are alive again)
back_again() {
	start_chunkserver "$H" --heartbeat-interval 500ms
	wait_for 20 "4 live chunkservers" alive_at_least "$MASTER_URL" 4
}

# cp_killing_head MOUNT NAME SRC MIB [CP_ARGS...]: a fresh mount at
# MOUNT; cp of SRC to MOUNT/NAME through a FIFO that pauses after MIB MiB
# while the head the mount streams to is killed; the copy must succeed,
# read back identical, and the mount must have placed a chunk again.
cp_killing_head() {
	local m=$1 name=$2 src=$3 mib=$4 cpp
	shift 4
	back_again
	mount_fuse "$m"
	cp "$@" pipe "$m/$name" &
	cpp=$!
	exec 7>pipe
	head -c $((mib << 20)) "$src" >&7
	kill_head "$(pgrep -f "gfs-fuse.*$m\$")"
	tail -c +$(((mib << 20) + 1)) "$src" >&7
	exec 7>&-
	wait "$cpp" || fail "cp $* into the mount failed when its head died"
	assert_same_file "$m/$name" "$src" "/$name after its head died"
	grep "of /$name again" "$T/fuse-$(basename "$m").log" >/dev/null ||
		fail "the mount placed no chunk of /$name again"
	log "$(grep -h "again" "$T/fuse-$(basename "$m").log")"
}
mkfifo pipe

# in the middle of chunk 0
cp_killing_head "$M" cp src 6

# in a second PUT to chunk 0 (cp --sparse seeks over a hole in it): its
# bytes build on bytes that only the first PUT's replicas hold, so the new
# chunk is cloned from the two of them that are left
{ head -c $((6 << 20)) src; head -c $((1 << 20)) /dev/zero; tail -c +$(((7 << 20) + 1)) src; } >holey
cp_killing_head "$M2" rw holey 11 --sparse=always
grep "starts again from the [0-9]* bytes" "$T/fuse-mnt2.log" >/dev/null ||
	fail "the new chunk 0 of /rw was not cloned from what its replicas acknowledged"
wait_for 30 "3 live replicas of every chunk" replicated /up /cp /rw
gfs download /rw back >/dev/null || fail "download /rw"
assert_same_file back holey "/rw read back by gfs"
log "ok"
