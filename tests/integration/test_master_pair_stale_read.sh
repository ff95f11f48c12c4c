#!/usr/bin/env bash
# Pair mode: a backup answers reads only while it provably holds every
# acknowledged change, even when its polls' answers are held up in the
# network (docs/MASTER.md, "The read window").  Primary m1 and backup m2
# in namespaces of their own, a client in a third: it creates a file on
# m1 every 10 ms and reads the newest acknowledged one from m2 all along
# (stale_reads.py); a 404 is a read that missed a create acknowledged
# before it was sent.  What m1 sends m2 goes through a proxy in m2's
# namespace (delay_proxy.py, WAY down) that holds it back when told to.
#
# A. Answers held up 3 s: m2 goes silent at m1, which refuses writes;
#    the operator gives it up (gfs detach) and m1 acknowledges alone.
#    m2 still gets the answers m1 gave before, attached; counted from
#    their arrival (the code before), they let m2 answer reads that miss
#    what m1 acknowledged since.
# B. Healed, attached again, then answers held up 1 s (m2 stays alive
#    at m1) and the operator detaches m2 while it is alive (m1 takes it
#    back once it polls again, caught up): m1 must not acknowledge
#    without m2 while m2 may still answer reads.
# Both: no stale read; and m2 answered reads before (the check can fail).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
NS_PREFIX="r9b-$$-" # this test's namespaces, removed on exit
. "$(dirname "$0")/split_lib.sh"
PROXY_PORT=7071
MARK=9

ns_setup
ns_add m1
ns_add m2
ns_add cl
declare -A URL
URL[m1]=http://$(ns_ip m1):7070
URL[m2]=http://$(ns_ip m2):7070

echo 0 >"$T/delay"
ns_start m2 "$T/proxy.log" python3 "$(dirname "$0")/delay_proxy.py" \
	"$PROXY_PORT" "$(ns_ip m1)" 7070 "$T/delay" "$MARK" down
wait_for 10 "the proxy" grep -q listening "$T/proxy.log"
ns_exec m2 iptables -t nat -A OUTPUT -p tcp -d "$(ns_ip m1)" --dport 7070 \
	-m mark ! --mark "$MARK" -j REDIRECT --to-ports "$PROXY_PORT" ||
	fail "iptables REDIRECT in m2"

# shellcheck disable=SC2207
MARGS=(--probation 500ms --backup-detach 1500ms $(master_auth))
mkdir -p "$T/m1" "$T/m2"
ns_start m1 "$T/m1.log" "$GFS_BIN/gfs-master" --listen "$(ns_ip m1):7070" \
	--data "$T/m1" "${MARGS[@]}"
# a failover timeout the test never reaches: m2 stays the backup
ns_start m2 "$T/m2.log" "$GFS_BIN/gfs-master" --listen "$(ns_ip m2):7070" \
	--data "$T/m2" --backup-of "${URL[m1]}" --failover-timeout 60s \
	"${MARGS[@]}"

status() { ns_curl cl "${URL[$1]}/api/v1/status"; }
attached() { status m1 | jq -e '.backup.attached' >/dev/null; }
silent() { status m1 | jq -e '.followers[0].silent' >/dev/null; }
out_of_sync() { status m2 | jq -e '.in_sync == false' >/dev/null; }
counts() { jq -r --arg p "$1" ".[\$p].$2 // 0" "$T/counts.json" 2>/dev/null || echo 0; }
fresh_at_least() { [ "$(counts "$1" fresh)" -ge "$2" ]; }
acked_at_least() { [ "$(counts "$1" acked)" -ge "$2" ]; }
phase() { echo "$1" >"$T/phase.tmp" && mv "$T/phase.tmp" "$T/phase"; }
detach() { ns_exec cl "$GFS_BIN/gfs" --master "${URL[m1]}" detach >/dev/null; }

wait_for 20 "m2 attached" attached
phase before-a
ns_start cl "$T/client.log" python3 "$(dirname "$0")/stale_reads.py" \
	"${URL[m1]}/api/v1" "${URL[m2]}/api/v1" "$T"
CLIENT=$NS_PID
wait_for 20 "m2 answering reads" fresh_at_least before-a 20

# ---- A: answers held up 3 s; m2 given up while they are on the way ----
phase a
echo 3000 >"$T/delay"
wait_for 20 "m2 silent at m1" silent
detach || fail "gfs detach"
log "A: m2 detached"
wait_for 20 "m1 acknowledging alone" acked_at_least a 20
wait_for 20 "m2 told it is not attached" out_of_sync

# ---- B: healed; answers held up 1 s; a live m2 detached ---------------
phase b
echo 0 >"$T/delay"
wait_for 20 "m2 attached again" attached
echo 1000 >"$T/delay"
wait_for 20 "m2 answering reads with 1 s of delay" fresh_at_least b 5
silent && fail "m2 silent at m1 with 1 s of delay"
detach || fail "gfs detach of a live backup"
log "B: m2 detached"
phase b-detached
wait_for 20 "m1 acknowledging" acked_at_least b-detached 5
# m1 takes the live m2 back at once (it caught up): the check covers
# the time between
wait_for 20 "m2 attached again" attached

touch "$T/stop"
wait "$CLIENT"
log "reads per phase: $(cat "$T/counts.json")"
if [ -s "$T/stale" ]; then
	head -n 5 "$T/stale" >&2
	fail "$(wc -l <"$T/stale") reads from m2 missed a create acknowledged before they were sent"
fi
log ok
