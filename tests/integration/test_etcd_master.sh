#!/usr/bin/env bash
# Three masters elected through one etcd, every timing at its default
# (lease 5 s, --backup-detach 1.5 s):
# - forged epochs (an X-GFS-Epoch header, a POST /epoch notice, a
#   heartbeat's epoch) change nothing: only etcd says who leads;
# - gfs status shows each follower's lag: a paused one falls behind,
#   leaves the in-sync set, and catches up when resumed;
# - kill -9 of the leader: a gfs upload started right after succeeds,
#   under 15 s after the kill, on the new leader, with everything
#   acknowledged before;
# - etcd stopped: the leader acknowledges nothing later than its lease
#   after the stop, and goes on serving reads; etcd back: writes go on
#   without restarting anything.
. "$(dirname "$0")/lib.sh"

start_etcd
for m in m1 m2 m3; do start_etcd_master $m --chunk-size 1MiB; done
api() { echo "${EM_URL[$1]}/api/v1"; }
isr3() { L=$(etcd_leader) && curl -sf "$(api "$L")/status" | jq -e '.isr | length == 3' >/dev/null; }
wait_for 30 "a leader with all three in sync" isr3
MASTER_URL=${EM_URL[$L]}
start_chunkservers 3 --heartbeat-interval 500ms
E=$(curl -sf "$(api "$L")/status" | jq .epoch)
log "leader $L, epoch $E"
gfs status | grep -q "in-sync set:.*${EM_URL[m1]}" || fail "gfs status shows no in-sync set"

# ---- forged epochs ----------------------------------------------------
for m in m1 m2 m3; do
	curl -s -o /dev/null -H 'X-GFS-Epoch: 999999' -H "X-GFS-Primary: ${EM_URL[$m]}" "$(api $m)/healthz"
done
printf '{"epoch": 999999, "primary": "http://127.0.0.1:1"}' >"$T/notice.json"
assert_eq "$(http_status POST "$(api "$L")/epoch" -d @"$T/notice.json")" 401 "an unsigned epoch notice"
# (one signed with the cluster secret reaches the handler, which refuses
# it in etcd mode)
assert_eq "$(cluster_curl POST "$(api "$L")/epoch" --data-binary "@$T/notice.json" -o /dev/null -w '%{http_code}')" 400 "an epoch notice in etcd mode"
curl -s -o /dev/null -X POST "$(api "$L")/heartbeat" \
	-d '{"url":"http://127.0.0.1:9","full":true,"chunks":[],"epoch":999999,"primary":"http://127.0.0.1:1"}'
assert_eq "$(etcd_leader)" "$L" "the leader after forged epochs"
assert_eq "$(curl -sf "$(api "$L")/status" | jq .epoch)" "$E" "the epoch after forged epochs"
assert_eq "$(http_status PUT "$(api "$L")/files/after-forgery")" 201 "create after forged epochs"

# ---- gfs status: each follower's lag ---------------------------------
F=$(for m in m1 m2 m3; do [ "$m" != "$L" ] && echo "$m"; done | head -n 1)
FURL=${EM_URL[$F]}
lag_of() { curl -sf "$(api "$L")/status" | jq --arg u "$FURL" '.followers[] | select(.url == $u) | .lag'; }
assert_eq "$(gfs status | grep -c "follower .* 0 records behind, attached")" 2 "followers attached, none behind"
kill -STOP "${EM_PID[$F]}"
dropped() { curl -sf "$(api "$L")/status" | jq -e '.isr | length == 2' >/dev/null; }
wait_for 10 "the paused $F out of the in-sync set" dropped
for i in 1 2 3 4 5; do assert_eq "$(http_status PUT "$(api "$L")/files/lag$i")" 201 "create lag$i"; done
[ "$(lag_of)" -ge 5 ] || fail "the paused follower's lag is $(lag_of), not 5 or more"
gfs status | grep -q "follower $FURL .* records behind, not in the set" ||
	fail "gfs status does not show the paused follower behind: $(gfs status)"
kill -CONT "${EM_PID[$F]}"
caught_up() { [ "$(lag_of)" = 0 ] && isr3; }
wait_for 15 "$F caught up and back in the in-sync set" caught_up

# ---- kill -9 of the leader -------------------------------------------
random_file "$T/f" $((3 << 19))
gfs upload "$T/f" /before >/dev/null || fail "upload before the kill"
OLD=$L
kill9 "${EM_PID[$OLD]}"
t0=$(date +%s%N)
gfs upload "$T/f" /during >/dev/null || fail "upload during the failover"
took=$((($(date +%s%N) - t0) / 1000000))
L=$(etcd_leader) || fail "no leader after the kill"
log "kill -9 $OLD: upload done after $took ms on $L"
[ "$took" -lt 15000 ] || fail "writes resumed after $took ms (15 s allowed)"
[ "$L" != "$OLD" ] || fail "the killed master leads"
for f in before during; do
	MASTERS=${EM_URL[$L]} gfs download "/$f" "$T/back" >/dev/null || fail "download /$f"
	assert_same_file "$T/back" "$T/f" "/$f after the failover"
done
[ "$(curl -sf "$(api "$L")/files/after-forgery?stat=1" | jq -r .path)" = /after-forgery ] ||
	fail "a create acknowledged before the kill is gone"

# ---- etcd stopped, then back -----------------------------------------
A=$(api "$L")
kill -TERM "$ETCD_PID"
wait "$ETCD_PID"
stopped=$(date +%s%N)
last_ok=$stopped
for i in $(seq 1 200); do
	code=$(http_status PUT "$A/files/dark/f$i")
	now=$(date +%s%N)
	[ "$code" = 201 ] && last_ok=$now
	[ "$code" = 201 ] || [ "$code" = 503 ] || fail "create without etcd answered $code"
	assert_eq "$(http_status GET "$A/files/before?stat=1")" 200 "a read without etcd"
	[ $((now - last_ok)) -gt 1000000000 ] && break # refused for 1 s
	sleep 0.1
done
late=$(((last_ok - stopped) / 1000000))
log "without etcd: last acknowledgement $late ms after the stop"
[ "$late" -lt 5000 ] || fail "acknowledged $late ms after etcd stopped (lease 5 s)"
[ "$code" = 503 ] || fail "still acknowledging without etcd"
restart_etcd
t0=$SECONDS
back() { [ "$(http_status PUT "$A/files/light$SECONDS")" = 201 ] || [ "$(http_status PUT "$(api "$(etcd_leader)")/files/light$SECONDS")" = 201 ]; }
wait_for 30 "writes with etcd back" back
assert_eq "$(gfs stat --json /before | jq -r .path)" /before "a read with etcd back"
log "writes again $((SECONDS - t0)) s after etcd came back (leader $(etcd_leader))"
log "ok"
