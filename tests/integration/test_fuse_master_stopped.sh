#!/usr/bin/env bash
# A master that stops answering (SIGSTOP) mid-work: every call through the
# mount returns an errno within its deadline, none hangs, gfs-fuse lives
# (-o master_timeout=0.3,failover_timeout=1 here: one call gives up after
# 0.3 s, a retried one after about 1.3 s; an operation makes a few).  A
# descriptor opened before reads on (the chunkservers serve it), and its
# close, which commits, fails in time.  Once the master goes on (SIGCONT)
# the mount works again and what was committed before is intact (the
# calls that change something go to other files: one that timed out may
# still take effect when the master reads it).
#
# The calls run one after the other: concurrent ones that change the same
# directory queue in the kernel (it locks the directory), each waiting
# for those before it.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB
M=$T/mnt
mount_fuse "$M" -o master_timeout=0.3,failover_timeout=1
FUSE_PID=${PIDS[-1]}
cd "$T"
random_file keep 3000000
cp keep "$M/keep" || fail "cp keep"
mkdir "$M/d" && echo x >"$M/d/f" || fail "setup"
cp keep "$M/victim" || fail "cp victim"
exec 7>"$M/open-before" || fail "open for writing before the stop"
echo before >&7
exec 8<"$M/keep" || fail "open for reading before the stop"

kill -STOP "$MASTER_PID"
log "master stopped"
slow=()
# timed COMMAND...: run it with a 30 s kill; fail on a hang, note it when
# slower than 8 s; leaves its exit status in rc.
timed() {
	local s=$SECONDS
	timeout -s KILL 30 "$@" >/dev/null 2>&1
	rc=$?
	log "$*: exit $rc after $((SECONDS - s))s"
	[ $rc -ne 137 ] || fail "hung with the master stopped: $*"
	[ $((SECONDS - s)) -le 8 ] || slow+=("$*")
}
timed cmp - keep <&8
[ $rc -eq 0 ] || fail "a descriptor opened before the stop does not read"
for op in "stat $M/missing" "ls $M/d" "cat $M/keep" "touch $M/new" \
	"mkdir $M/nd" "rm $M/d/f" "mv $M/victim $M/moved" "df $M" \
	"setfattr -n user.gfs.lease -v 1 $M/victim" \
	"getfattr -n user.gfs.chunks $M/victim" "cp keep $M/copy" \
	"truncate -s 10 $M/victim"; do
	timed $op
done
timed bash -c "exec 7>&-" # close(2) of the writer (flush commits)
s=$SECONDS
exec 7>&- 8<&-
log "closing the descriptors took $((SECONDS - s))s"
[ $((SECONDS - s)) -le 8 ] || slow+=("close")
kill -CONT "$MASTER_PID"
log "master continued"
kill -0 "$FUSE_PID" || fail "gfs-fuse died"
[ ${#slow[@]} -eq 0 ] || fail "too slow with the master stopped: ${slow[*]}"

# the master answers again: the mount works, committed data is intact
wait_for 30 "the mount to answer" ls "$M/d"
cmp keep "$M/keep" || fail "keep changed"
echo after >"$M/after" || fail "write after the master came back"
assert_eq "$(cat "$M/after")" after "read after the master came back"
log "ok"
