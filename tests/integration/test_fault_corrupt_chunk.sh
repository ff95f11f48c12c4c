#!/usr/bin/env bash
# A byte flipped in a stored chunk file (the raw data file under --data)
# is never served: reads through gfs, curl -L and the mount return the
# right bytes from another replica, the bad replica is quarantined, and
# the master brings the chunk back to 3 good replicas.  The scrubber finds
# a flipped byte in a chunk nobody reads and it is replaced the same way.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

start_master --chunk-size 1MiB --dead-after 2s
MASTERS=$MASTER_URL
start_chunkservers 4 --heartbeat-interval 500ms --scrub-interval 0
M=$T/mnt
mount_fuse "$M"
A=$MASTER_URL/api/v1
cd "$T"
for f in viagfs viacurl viamount idle; do
	random_file "$f" $((3 << 20))
	gfs upload "$f" "/$f" >/dev/null || fail "upload $f"
done

cs_index() { local i; for i in 0 1 2 3; do [ "${CS_URLS[$i]}" = "$1" ] && echo $i; done; }
# chunk_of FILE INDEX: "HANDLE URL URL URL"
chunk_of() { curl -sf "$A/files/$1" | jq -r --argjson i "$2" '.chunks[$i] | "\(.handle) \(.replicas | join(" "))"'; }
# good_again FILE INDEX: 3 replicas, each serving the right bytes
good_again() {
	local h r n=0
	read -r h r <<<"$(chunk_of "$1" "$2")"
	for r in $r; do
		curl -sf "$r/api/v1/chunks/$h" | cmp -s - <(slice "$1" $(($2 << 20)) $((1 << 20))) || return 1
		n=$((n + 1))
	done
	[ $n = 3 ]
}
quarantined() { ls "${CS_DIRS[$1]}/quarantine/" 2>/dev/null | grep -q "^$2\."; }

# corrupt FILE: flip a byte in chunk 1 on the replica a reader tries
# first (replicas are tried from index mod 3: the second one); prints
# "SERVER HANDLE".
corrupt() {
	local h reps i
	read -r h reps <<<"$(chunk_of "$1" 1)"
	reps=($reps)
	i=$(cs_index "${reps[1]}")
	flip_byte "$(data_file "$i" "$h")" 300000
	echo "$i $h"
}
check_replaced() { # FILE SERVER HANDLE
	quarantined "$2" "$3" || fail "$1: the flipped replica on cs$2 was not quarantined"
	[ ! -e "$(data_file "$2" "$3")" ] ||
		cmp -s <(curl -sf "${CS_URLS[$2]}/api/v1/chunks/$3") <(slice "$1" $((1 << 20)) $((1 << 20))) ||
		fail "$1: the flipped data is still in chunks/"
	wait_for 20 "$1: 3 good replicas again" good_again "$1" 1
}

read -r s h <<<"$(corrupt viagfs)"
gfs download /viagfs back >/dev/null || fail "gfs download of a corrupt chunk"
assert_same_file back viagfs "gfs download"
check_replaced viagfs "$s" "$h"

read -r s h <<<"$(corrupt viacurl)"
curl -sfL --max-time 30 "$A/content/viacurl" -o back || fail "curl -L of a corrupt chunk"
assert_same_file back viacurl "curl -L"
check_replaced viacurl "$s" "$h"

read -r s h <<<"$(corrupt viamount)"
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
cp "$M/viamount" back || fail "cp out of the mount of a corrupt chunk"
assert_same_file back viamount "read through the mount"
check_replaced viamount "$s" "$h"
grep -q "corrupt" "$T/master.log" || fail "no corruption reached the master"

# The scrubber: a flipped byte in a chunk nobody reads.
read -r h reps <<<"$(chunk_of idle 2)"
reps=($reps)
i=$(cs_index "${reps[0]}")
stop_chunkserver "$i"
flip_byte "$(data_file "$i" "$h")" 5
start_chunkserver "$i" --heartbeat-interval 500ms --scrub-interval 1s --scrub-rate 64MiB
wait_for 30 "the scrubber to find the flipped byte" quarantined "$i" "$h"
wait_for 20 "idle: 3 good replicas again" good_again idle 2
gfs download /idle back >/dev/null || fail "download of idle"
assert_same_file back idle "idle after scrubbing"
log "ok"
