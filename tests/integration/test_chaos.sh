#!/usr/bin/env bash
# A short run of the fault-injection loop (tests/integration/chaos.py;
# `make chaos` runs 200 rounds): clients upload, copy into mounts, append,
# rename, delete and read while chunkservers are killed, paused, cut off
# and filled up, and the primary master is paused; after every round
# every acknowledged write reads back byte for byte, nothing deleted comes
# back, no two masters acknowledged at the same time, nothing we did not
# kill died and every chunk has 3 replicas.
#
# CHAOS_SEED (default random, printed), CHAOS_ROUNDS (3), CHAOS_SECS (8),
# CHAOS_FAULTS (only these kinds, to narrow a failure down: chaos.py --help),
# CHAOS_ISSUE9=1 (also the faults that meet issue 9, left out by default).
. "$(dirname "$0")/lib.sh"

python3 "$(dirname "$0")/chaos.py" --self-test || fail "the checker's self-test"
MOUNTS+=("$T/mnt0" "$T/mnt1")
TMPFS+=("$T/cs3" "$T/cs4")	# chaos.py mounts them (TMPFS_CS)
seed=${CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
rounds=${CHAOS_ROUNDS:-3}
secs=${CHAOS_SECS:-8}
faults=${CHAOS_FAULTS:-}
issue9=${CHAOS_ISSUE9:-}
replay="CHAOS_SEED=$seed CHAOS_ROUNDS=$rounds CHAOS_SECS=$secs${faults:+ CHAOS_FAULTS=$faults}${issue9:+ CHAOS_ISSUE9=1} make chaos"
python3 "$(dirname "$0")/chaos.py" --bin "$GFS_BIN" --dir "$T" --seed "$seed" \
	--rounds "$rounds" --secs "$secs" --faults "$faults" ${issue9:+--issue9} --replay "$replay" ||
	fail "chaos, seed $seed (replay: $replay; KEEP=1 keeps $T)"
