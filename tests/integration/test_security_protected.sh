#!/usr/bin/env bash
# Protected by default: a server told to listen beyond loopback without a
# secret (and, a master, without keys) does not start, and says what to
# do; --insecure starts it anyway.  /status, /healthz and /metrics answer
# without a key unless --private-status.  No secret and no key is ever in
# a log or a reply.
. "$(dirname "$0")/lib.sh"

cd "$T"
# refused DESCRIPTION PROGRAM ARGS...: exits non-zero, saying what to do
refused() {
	local what=$1
	shift
	timeout 10 "$@" >out 2>&1 && fail "$what started"
	grep -q -- "--secret-file" out || fail "$what: no word of --secret-file: $(cat out)"
	grep -q -- "--insecure" out || fail "$what: no word of --insecure: $(cat out)"
}
P=$(free_port)
refused "a master on 0.0.0.0" "$GFS_BIN/gfs-master" --listen "0.0.0.0:$P" --data m0
grep -q -- "--keys" out || fail "the master's message does not name --keys: $(cat out)"
refused "a master on every address" "$GFS_BIN/gfs-master" --listen ":$P" --data m0
refused "a master with a secret, no keys" "$GFS_BIN/gfs-master" --listen "0.0.0.0:$P" --data m0 --secret-file "$SECRET_FILE"
refused "a chunkserver on 0.0.0.0" "$GFS_BIN/gfs-chunkserver" --listen 0.0.0.0 --data c0 --master "" "$P"
[ ! -e m0 ] && [ ! -e c0 ] || fail "a refused server made its data directory"
# --insecure: it starts (and warns)
"$GFS_BIN/gfs-master" --listen "0.0.0.0:$P" --data m1 --insecure >>"$T/open.log" 2>&1 &
pid=$!
PIDS+=("$pid")
wait_for 10 "the --insecure master" http_ok "http://127.0.0.1:$P/api/v1/healthz"
grep -q "no --secret-file" "$T/open.log" || fail "no warning of an open master"
kill -TERM "$pid"
wait "$pid" || fail "the --insecure master's exit status"

# protected (lib.sh's default) on every address: health without a key
P=$(free_port)
MASTER_URL=http://127.0.0.1:$P
MASTERS=$MASTER_URL
# shellcheck disable=SC2046
"$GFS_BIN/gfs-master" --listen "0.0.0.0:$P" --data "$T/master" $(master_auth) \
	>>"$T/master.log" 2>&1 &
MASTER_PID=$!
PIDS+=("$MASTER_PID")
wait_for 10 "the master on every address" http_ok "$MASTER_URL/api/v1/healthz"
start_chunkservers 3
M=$MASTER_URL/api/v1
C=${CS_URLS[0]}/api/v1
for u in "$M/status" "$M/healthz" "$M/metrics" "$C/status" "$C/healthz" "$C/metrics"; do
	assert_eq "$(curl -q -s -o /dev/null -w '%{http_code}' "$u")" 200 "$u without a key"
done
assert_eq "$(curl -q -s -o /dev/null -w '%{http_code}' "$M/files?prefix=/")" 401 "a listing without a key"

# --private-status: a key (on a master) or the secret (anywhere)
B=$(free_port)
"$GFS_BIN/gfs-master" --listen "127.0.0.1:$B" --data "$T/priv" --private-status \
	$(master_auth) >>"$T/priv.log" 2>&1 &
PIDS+=("$!")
wait_for 10 "the private master" key_works "$GFS_KEY_FILE" "http://127.0.0.1:$B/api/v1/healthz"
for r in status healthz metrics; do
	assert_eq "$(curl -q -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$B/api/v1/$r")" 401 "private $r without a key"
	assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$B/api/v1/$r")" 200 "private $r with a key"
done
P=$(free_port)
# shellcheck disable=SC2046
"$GFS_BIN/gfs-chunkserver" --data "$T/cs9" --master "$MASTERS" --private-status \
	$(cs_auth) "$P" >>"$T/cs9.log" 2>&1 &
PIDS+=("$!")
signed_ok() { cluster_curl GET "$1" -f -o /dev/null; }
wait_for 10 "the private chunkserver" signed_ok "http://127.0.0.1:$P/api/v1/healthz"
assert_eq "$(curl -q -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/api/v1/status")" 401 "a private chunkserver's status"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/api/v1/status")" 401 "... with a client key (it knows none)"

# Work, and mistakes: then look for the secret and the keys everywhere.
random_file f 3000000
gfs upload f /f >/dev/null || fail "upload"
gfs download /f back >/dev/null || fail "download"
RO=$(add_key reader ro)
kill -HUP "$MASTER_PID"
wait_for 10 "the new key" key_works "$RO" "$M/files/f?stat=1"
curl -q -s -X PUT -H "Authorization: Bearer $(cat "$RO")" "$M/files/x" >>replies
curl -q -s -H "Authorization: Bearer $(cat "$RO")x" "$M/files/f" >>replies
curl -q -s -H "Authorization: Bearer $(cat "$SECRET_FILE")" "$M/files/f" >>replies
curl -q -s -H "Authorization: $(cat "$SECRET_FILE")" "$M/heartbeat" -X POST -d '{}' >>replies
curl -q -s -H "X-GFS-Token: $(cat "$SECRET_FILE")" "$C/chunks/0000000000000001?version=1" >>replies
for u in "$M/status" "$M/metrics" "$M/healthz" "$C/status" "$C/metrics" "$M/files/f" "$M/leases/f"; do
	curl -s "$u" >>replies
done
secrets=("$(cat "$SECRET_FILE")")
for k in "$AUTH_DIR"/*.key; do secrets+=("$(cat "$k")"); done
for s in "${secrets[@]}"; do
	[ ${#s} -ge 16 ] || fail "a short secret: '$s'"
	! grep -rqF -- "$s" "$T"/*.log replies || fail "a secret or key is in $(grep -rlF -- "$s" "$T"/*.log replies)"
done
log "ok: ${#secrets[@]} secrets, none in $(cat "$T"/*.log replies | wc -c) bytes of logs and replies"
