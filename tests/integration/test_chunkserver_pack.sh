#!/usr/bin/env bash
# Small new chunks are packed records, not chunk files
# (docs/CHUNKSERVER.md, "Packed small chunks"): a small file written
# through the mount lands as a record on each of its 3 replicas and reads
# back; a kill -9 of every replica right after the upload's ack loses
# nothing; an append materialises the chunk into a file with the right
# bytes; a deleted packed chunk stays deleted across a restart; a flipped
# byte in a record is found by a read, the replica dropped and the chunk
# re-replicated from a packed source; so is a replica that dies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

start_master --dead-after 2s
MASTERS=$MASTER_URL
CS_ARGS=(--heartbeat-interval 500ms --scrub-interval 0)
start_chunkservers 4 "${CS_ARGS[@]}"
M=$T/mnt
mount_fuse "$M"
A=$MASTER_URL/api/v1
cd "$T"

cs_index() { local i; for i in 0 1 2 3; do [ "${CS_URLS[$i]}" = "$1" ] && echo $i; done; }
# chunk_of FILE: "HANDLE URL URL URL" of its first chunk
chunk_of() { curl -sf "$A/files/$1" | jq -r '.chunks[0] | "\(.handle) \(.replicas | join(" "))"'; }
# replicas_of FILE: the indexes of its chunk's replicas
replicas_of() {
	local h r
	read -r h r <<<"$(chunk_of "$1")"
	for r in $r; do cs_index "$r"; done
}
# serves I HANDLE FILE: chunkserver I's GET of HANDLE is FILE
serves() { curl -sf --max-time 10 "$(chunk_url "$1" "$2")" | cmp -s - "$3"; }
# packed_on I HANDLE: a live record and no chunk file
packed_on() { [ -n "$(packed_at "$1" "$2")" ] && [ ! -e "$(data_file "$1" "$2")" ]; }
# good_again FILE: 3 replicas, each serving FILE's bytes
good_again() {
	local h r n=0
	read -r h r <<<"$(chunk_of "$1")"
	for r in $r; do
		curl -sf --max-time 10 "$r/api/v1/chunks/$h" | cmp -s - "$1" || return 1
		n=$((n + 1))
	done
	[ $n = 3 ]
}
gone_from() { # I HANDLE: not served, no record, no file
	[ "$(curl_code "$(chunk_url "$1" "$2")")" = 404 ] &&
		[ -z "$(packed_at "$1" "$2")" ] && [ ! -e "$(data_file "$1" "$2")" ]
}

# 1. Through the mount: a record on each of 3 replicas, no chunk file.
random_file small 5000
cp small "$M/small" || fail "cp into the mount"
read -r h _ <<<"$(chunk_of small)"
n=0
for i in $(replicas_of small); do
	packed_on "$i" "$h" || fail "cs$i: chunk $h is not a packed record"
	serves "$i" "$h" small || fail "cs$i: packed chunk $h serves other bytes"
	[ "$(metric "$i" packed_chunks)" -ge 1 ] || fail "cs$i: packed_chunks metric"
	n=$((n + 1))
done
assert_eq "$n" 3 "replicas of the small file"
assert_same_file "$M/small" small "read back through the mount"

# 2. kill -9 of every replica right after the ack, restart: still served.
# (the old segment, mostly empty, may be reclaimed into files meanwhile)
random_file acked 3000
gfs upload acked /acked >/dev/null || fail "upload acked"
read -r h2 _ <<<"$(chunk_of acked)"
reps=$(replicas_of acked)
for i in $reps; do
	packed_on "$i" "$h2" || fail "cs$i: uploaded chunk $h2 is not a packed record"
done
for i in $reps; do kill9 "${CS_PIDS[$i]}"; done
for i in $reps; do start_chunkserver "$i" "${CS_ARGS[@]}"; done
for i in $reps; do
	serves "$i" "$h2" acked || fail "cs$i: $h2 after kill -9 serves other bytes"
done
wait_for 20 "4 live chunkservers" alive_at_least "$MASTER_URL" 4
gfs download /acked back >/dev/null || fail "download after kill -9"
assert_same_file back acked "acked file after kill -9 of its replicas"

# 3. An append through the mount (the client writes a new chunk, a
# clone of the packed one) reads right; an append to a packed chunk on a
# chunkserver materialises it into a file first.
random_file more 3000
cat small more >grown
cat more >>"$M/small" || fail "append through the mount"
gfs download /small back >/dev/null || fail "download of the appended file"
assert_same_file back grown "appended small file"
MASTERS="" start_chunkserver 4 --scrub-interval 0
H=00000000000abc01
assert_eq "$(put_chunk 4 $H version=1 small)" 200 "PUT of a small chunk"
packed_on 4 $H || fail "cs4: chunk $H is not a packed record"
assert_eq "$(put_chunk 4 $H "version=2&offset=5000" more)" 200 "append to it"
[ -e "$(data_file 4 $H)" ] || fail "cs4: appended chunk $H is no file"
[ -z "$(packed_at 4 $H)" ] || fail "cs4: record of $H still live"
serves 4 $H grown || fail "cs4: appended chunk serves other bytes"
stop_chunkserver 4
start_chunkserver 4 --master "" --scrub-interval 0
serves 4 $H grown || fail "cs4: appended chunk after a restart"
[ -z "$(packed_at 4 $H)" ] || fail "cs4: record of $H live after a restart"
stop_chunkserver 4

# 4. Delete: the records die and stay dead across a kill -9 and restart.
reps=$(replicas_of acked)
gfs rm /acked || fail "rm acked"
for i in $reps; do
	wait_for 30 "cs$i to drop $h2" gone_from "$i" "$h2"
done
for i in $reps; do kill9 "${CS_PIDS[$i]}"; done
for i in $reps; do start_chunkserver "$i" "${CS_ARGS[@]}"; done
for i in $reps; do
	gone_from "$i" "$h2" || fail "cs$i: deleted packed chunk $h2 came back"
done
wait_for 20 "4 live chunkservers" alive_at_least "$MASTER_URL" 4

# 5. A flipped byte in a record: found by a read, the replica dropped,
# the chunk copied again from a packed replica.
random_file bad 4000
gfs upload bad /bad >/dev/null || fail "upload bad"
read -r h5 _ <<<"$(chunk_of bad)"
i=$(replicas_of bad | head -n1)
read -r seg off <<<"$(packed_at "$i" "$h5")"
[ -n "$seg" ] || fail "cs$i: no record of $h5"
flip_byte "$seg" $((off + 100))
code=$(curl_code "$(chunk_url "$i" "$h5")")
assert_eq "$code" 503 "GET of a flipped packed record"
[ -z "$(packed_at "$i" "$h5")" ] || fail "cs$i: the corrupt record is still live"
wait_for 30 "bad: 3 good replicas again" good_again bad
gfs download /bad back >/dev/null || fail "download of bad"
assert_same_file back bad "re-replicated file"

# 6. A replica of a packed chunk dies: copied from a packed source.
random_file lost 2000
gfs upload lost /lost >/dev/null || fail "upload lost"
read -r h6 _ <<<"$(chunk_of lost)"
i=$(replicas_of lost | head -n1)
for j in $(replicas_of lost); do
	packed_on "$j" "$h6" || fail "cs$j: $h6 is not packed"
done
kill9 "${CS_PIDS[$i]}"
good_elsewhere() { good_again lost && ! replicas_of lost | grep -qx "$i"; }
wait_for 30 "lost: 3 good replicas without cs$i" good_elsewhere
log "ok"
