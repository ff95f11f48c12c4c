#!/usr/bin/env bash
# Pair mode (issue 9): a poll the network delays is no sign of life.
# Primary m1 and backup m2 in namespaces of their own, three chunkservers
# and a client in theirs; the client creates and uploads every 200 ms.
# Then every byte m2 sends to m1 is held back DELAY_MS (longer than the
# backup's poll timeout and its failover timeout) while m1 runs
# normally: m2 hears nothing for its failover timeout and takes over,
# while its polls go on arriving at m1, seconds late.  Before the fix m1
# counted such a poll as m2 alive and acknowledged with it after m2 had
# taken over; now a poll counts only when the stamp it echoes says it
# was sent recently (docs/MASTER.md, "The stamp echo").  Asserted from
# the masters' own trace (ack and epoch start lines, CLOCK_MONOTONIC,
# one clock on one machine): no master acknowledged after another began
# a later epoch; and after healing, every acknowledged create and upload
# is there, byte for byte.
#
# netem (sch_netem) is not in every kernel (it is not in ours): the delay
# is a user-space proxy in m2's namespace (delay_proxy.py) that an
# iptables REDIRECT rule puts between m2 and m1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
NS_PREFIX="p9-$$-" # this test's namespaces, removed on exit
. "$(dirname "$0")/split_lib.sh"
DELAY_MS=6000
PROXY_PORT=7071
MARK=9

ns_setup
declare -A URL PID
split_masters

# m2's connections to m1 go through the proxy from the start (a rule
# redirects new connections only), with no delay until we say so
echo 0 >"$T/delay"
ns_start m2 "$T/proxy.log" python3 "$(dirname "$0")/delay_proxy.py" \
	"$PROXY_PORT" "$(ns_ip m1)" 7070 "$T/delay" "$MARK"
wait_for 10 "the proxy" grep -q listening "$T/proxy.log"
ns_exec m2 iptables -t nat -A OUTPUT -p tcp -d "$(ns_ip m1)" --dport 7070 \
	-m mark ! --mark "$MARK" -j REDIRECT --to-ports "$PROXY_PORT" ||
	fail "iptables REDIRECT in m2"

# shellcheck disable=SC2207
MARGS=(--chunk-size 1MiB --dead-after 3s --failover-timeout 2s --probation 1s
	--log-level debug $(master_auth))
mkdir -p "$T/m1" "$T/m2"
ns_start m1 "$T/m1.log" "$GFS_BIN/gfs-master" --listen "$(ns_ip m1):7070" \
	--data "$T/m1" "${MARGS[@]}"
PID[m1]=$NS_PID
ns_start m2 "$T/m2.log" "$GFS_BIN/gfs-master" --listen "$(ns_ip m2):7070" \
	--data "$T/m2" --backup-of "${URL[m1]}" "${MARGS[@]}"
PID[m2]=$NS_PID
SPLIT_HEARTBEAT=2s # the default: the old primary hears of a new epoch late
split_chunkservers 3

status() { ns_curl "$1" "${URL[$1]}/api/v1/status"; }
is_primary() { status "$1" | jq -e '.role == "primary"' >/dev/null; }
epoch_of() { status "$1" | jq .epoch; }
pair_ok() { is_primary "$1" && status "$1" | jq -e '.backup.attached' >/dev/null && status "$2" | jq -e '.in_sync' >/dev/null; }
alive3() { status "$1" | jq -e '[.chunkservers[] | select(.alive)] | length == 3' >/dev/null; }
wait_for 20 "the backup attached" pair_ok m1 m2
wait_for 20 "3 live chunkservers" alive3 m1
# The client: an upload every 200 ms through gfs, which retries a
# refused mutation (503) with the same request id, as any client does;
# it knows only m1 (and follows where m1 sends it).
cat >"$T/client.sh" <<'EOF'
T=$1 BIN=$2 master=$3
mkdir -p "$T/src"
n=0
while [ ! -e "$T/stop" ]; do
	n=$((n + 1))
	f=$T/src/a-u$n
	head -c $(((n * 7919) % 20000 + 1)) /dev/urandom >"$f"
	if "$BIN/gfs" --master "$master" upload "$f" "/a/u$n" >/dev/null 2>>"$T/client.err"; then
		echo "$(date +%s%N) /a/u$n" >>"$T/uploads.a"
	fi
	sleep 0.2
done
EOF
ns_add cl-a
ns_start cl-a "$T/client.log" bash "$T/client.sh" "$T" "$GFS_BIN" "${URL[m1]}"
SPLIT_CLIENTS+=("$NS_PID")
wait_for 20 "uploads" eval '[ "$(split_uploads a)" -ge 3 ]'

E0=$(epoch_of m1)
log "delaying what m2 sends to m1 by $DELAY_MS ms"
echo "$DELAY_MS" >"$T/delay"
promoted() { is_primary "$1" && [ "$(epoch_of "$1")" -gt "$2" ]; }
wait_for 20 "m2 to take over" promoted m2 "$E0"
stepped_down() { ! is_primary m1; }
wait_for 20 "m1 to step down" stepped_down
echo 0 >"$T/delay"
log "healed"
wait_for 30 "m1 attached to m2" pair_ok m2 m1
split_stop_clients
log "uploads acknowledged: $(split_uploads a)"
split_verify cl-a "${URL[m2]}"

# the masters' trace: no acknowledgement under an epoch after a later
# one began (chaos.py's checker)
python3 - "$(dirname "$0")" "$T/m1.log" "$T/m2.log" <<'EOF' || fail "two masters acknowledged in overlapping time"
import sys
sys.path.insert(0, sys.argv[1])
import chaos
acks = chaos.Acks()
for name, path in (("m1", sys.argv[2]), ("m2", sys.argv[3])):
    with open(path, errors="replace") as f:
        acks.feed(name, f.read())
for e, s in sorted(acks.epochs.items()):
    print("epoch %d: %s, from %.3f to %s s" % (e, s["master"], s["begin"] / 1e9,
          "%.3f" % (s["last"] / 1e9) if s["last"] else "-"), file=sys.stderr)
try:
    acks.check()
except chaos.Failure as e:
    print("FAIL: %s" % e, file=sys.stderr)
    sys.exit(1)
if acks.count < 5:
    print("FAIL: only %d acknowledgements traced" % acks.count, file=sys.stderr)
    sys.exit(1)
EOF
log ok
