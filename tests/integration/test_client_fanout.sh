#!/usr/bin/env bash
# A small body goes from the client to every replica at once; a big one
# streams down the chain.  Each chunkserver logs one "time put HANDLE
# forward=N" line per PUT (N: replicas it relays to): a 4 KiB upload
# must reach its three replicas with forward=0 each (before, 2, 1, 0),
# a 1 MiB one 2, 1, 0.  When one replica is down the small write still
# lands on the other two; when all are down it fails at once, with a
# message, and nothing is committed.
. "$(dirname "$0")/lib.sh"

start_master --dead-after 60s
start_chunkservers 3 --log-level debug
A=$MASTER_URL/api/v1
cd "$T"

# forwards PATH: the forward=N of every PUT of the file's chunks, sorted
forwards() {
	local h
	for h in $(curl -sf "$A/files$1" | jq -r '.chunks[].handle'); do
		cat "$T"/cs*.log | sed -n "s/.*time put $h forward=\([0-9]*\).*/\1/p"
	done | sort | paste -sd' '
}

random_file small 4096
gfs upload small /small >/dev/null || fail "upload small"
got=$(forwards /small)
[ "$got" = "0 0 0" ] || fail "a 4 KiB PUT should reach 3 replicas directly, forwards: '$got'"
cmp small <(gfs download /small -) || fail "small reads back different"

random_file big $((1 << 20))
gfs upload big /big >/dev/null || fail "upload big"
got=$(forwards /big)
[ "$got" = "0 1 2" ] || fail "a 1 MiB PUT should go down the chain, forwards: '$got'"

# one replica down, the master not told yet (--dead-after 60s): the small
# write lands on the two others
kill -9 "${CS_PIDS[2]}"
wait "${CS_PIDS[2]}" 2>/dev/null
for i in 1 2 3; do
	random_file "one$i" 4096
	gfs upload "one$i" "/one$i" >/dev/null || fail "upload one$i with a replica down"
	cmp "one$i" <(gfs download "/one$i" -) || fail "one$i reads back different"
	n=$(curl -sf "$A/files/one$i" | jq '[.chunks[].replicas[]] | unique | length')
	[ "$n" = 2 ] || fail "one$i should be on the 2 live replicas, is on $n"
	curl -sf "$A/files/one$i" | jq -e --arg dead "${CS_URLS[2]}" \
		'[.chunks[].replicas[] | select(. == $dead)] | length == 0' >/dev/null ||
		fail "one$i lists the dead replica"
done

# all down: a clear failure, soon, and no file
kill -9 "${CS_PIDS[0]}" "${CS_PIDS[1]}"
wait "${CS_PIDS[0]}" "${CS_PIDS[1]}" 2>/dev/null
random_file none 4096
t0=$SECONDS
if timeout 60 gfs upload none /none >out 2>err; then
	fail "upload with every replica down succeeded"
fi
[ $((SECONDS - t0)) -lt 50 ] || fail "upload with every replica down took $((SECONDS - t0))s"
[ "$(wc -l <err)" -ge 1 ] || fail "no message for the failed upload"
curl -sf "$A/files/none" >/dev/null && fail "/none exists after a failed upload"
log "ok"
