#!/usr/bin/env bash
# kill -9 one of four chunkservers: within a bounded time every chunk has
# 3 replicas again on the three left (under_replicated 0, 3 distinct live
# servers per chunk) and every file reads back identical.  While it is
# down files are written, replaced and deleted; when it comes back its
# stale and surplus replicas go, until every server's disk holds exactly
# the chunks the master lists it for.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1MiB --dead-after 2s --gc-interval 1s
start_chunkservers 4 --heartbeat-interval 500ms
A=$MASTER_URL/api/v1
cd "$T"

# files: name -> local copy in $T/src
mkdir src
sizes=(1 700000 $((1 << 20)) 2500000 $((7 << 19)) 4000000 123456 3000000)
for i in "${!sizes[@]}"; do
	random_file "src/f$i" "${sizes[$i]}"
	gfs upload "src/f$i" "/f$i" >/dev/null || fail "upload f$i"
done

files() { curl -sf "$A/files?prefix=/" | jq -r '.files[].path'; }
live_urls() { curl -sf "$A/status" | jq -c '[.chunkservers[] | select(.alive) | .url]'; }
# every chunk of every file: exactly 3 distinct replicas, all live ones
fully_replicated() {
	local live f
	live=$(live_urls) || return 1
	[ "$(curl -sf "$A/status" | jq .under_replicated)" = 0 ] || return 1
	for f in $(files); do
		curl -sf "$A/files$f" | jq -e --argjson live "$live" '[.chunks[] |
			(.replicas | length == 3) and (.replicas | unique | length == 3) and
			all(.replicas[]; . as $r | $live | index($r))] | all' >/dev/null ||
			return 1
	done
}
# chunk handles on server I's disk, sorted
on_disk() { chunks_on_disk "${CS_DIRS[$1]}"; }
# chunk handles the master lists server I for, sorted
listed() {
	local f
	for f in $(files); do
		curl -sf "$A/files$f" | jq -r --arg u "${CS_URLS[$1]}" \
			'.chunks[] | select(.replicas | index($u)) | .handle'
	done | sort
}
handles_of() { curl -sf "$A/files$1" | jq -r '.chunks[].handle'; }
read_back() {
	local f
	for f in src/*; do
		gfs download "/${f#src/}" back >/dev/null || fail "download /${f#src/}"
		assert_same_file back "$f" "/${f#src/} after $1"
	done
}
wait_for 10 "every chunk on 3 servers" fully_replicated

# The victim holds a chunk of f3 (replaced while it is down) and of f5
# (deleted while it is down).
victim=$(curl -sf "$A/files/f3" | jq -r '.chunks[0].replicas[0]')
for i in 0 1 2 3; do [ "${CS_URLS[$i]}" = "$victim" ] && v=$i; done
old_f3=$(handles_of /f3)
old_f5=$(handles_of /f5)
before=$(on_disk $v | wc -l)
kill9 "${CS_PIDS[$v]}"
killed=$SECONDS
dead() { curl -sf "$A/status" | jq -e --arg u "$victim" '.chunkservers[] | select(.url == $u) | .alive == false' >/dev/null; }
wait_for 10 "the master to call it dead" dead
wait_for 40 "3 replicas of every chunk on the other three" fully_replicated
log "re-replicated $before chunks of the dead server in $((SECONDS - killed)) s"
read_back "re-replication"

# While it is down: a new file, a replaced one, a deleted one.
random_file src/new $((5 << 19))
gfs upload src/new /new >/dev/null || fail "upload while down"
random_file src/f3 2200000
gfs upload src/f3 /f3 >/dev/null || fail "replace while down"
gfs rm /f5 >/dev/null || fail "rm while down"
rm src/f5
wait_for 10 "new chunks on 3 servers" fully_replicated

# It comes back with its old disk: stale and surplus copies are deleted.
start_chunkserver $v --heartbeat-interval 500ms
back=$SECONDS
in_step() {
	local i
	fully_replicated || return 1
	for i in 0 1 2 3; do
		[ "$(on_disk $i)" = "$(listed $i)" ] || return 1
	done
}
wait_for 40 "every disk to hold just what the master lists" in_step
log "the returning server went from $before to $(on_disk $v | wc -l) chunks in $((SECONDS - back)) s"
for h in $old_f3 $old_f5; do
	on_disk $v | grep -qx "$h" && fail "stale chunk $h is still on the returned server"
done
assert_eq "$(curl -sf "${CS_URLS[$v]}/api/v1/status" | jq .chunks)" "$(listed $v | wc -l)" \
	"chunks the returned server reports"
assert_eq "$(curl -sf "$A/status" | jq --arg u "$victim" '.chunkservers[] | select(.url == $u) | .chunks')" \
	"$(listed $v | wc -l)" "chunks the master counts on the returned server"
read_back "the return"
log "ok"
