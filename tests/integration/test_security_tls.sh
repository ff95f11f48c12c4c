#!/usr/bin/env bash
# TLS: servers given --tls-cert/--tls-key serve HTTPS only (plain HTTP is
# refused), advertise https:// URLs and call each other over HTTPS,
# trusting --ca-file; clients trust --ca-file (curl --cacert works, and
# without it the certificate is refused).  The secret and keys still
# apply over TLS.
. "$(dirname "$0")/lib.sh"

cd "$T"
# a CA and a certificate for 127.0.0.1 signed by it (EC keys: quick)
ec() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@" 2>/dev/null; }
ec -x509 -keyout ca.key -out ca.pem -days 2 -subj /CN=gfs-test-ca || fail "CA"
ec -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 || fail "CSR"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	-out srv.pem -days 2 -extfile ext 2>/dev/null || fail "certificate"
chmod 600 srv.key
TLS=(--tls-cert srv.pem --tls-key srv.key --ca-file ca.pem)

P=$(free_port)
MASTER_URL=https://127.0.0.1:$P
MASTERS=$MASTER_URL
A=$MASTER_URL/api/v1
# shellcheck disable=SC2046
"$GFS_BIN/gfs-master" --listen "127.0.0.1:$P" --data "$T/master" "${TLS[@]}" \
	--chunk-size 1MiB $(master_auth) >>"$T/master.log" 2>&1 &
MASTER_PID=$!
PIDS+=("$MASTER_PID")
tls_ok() { curl -sf -o /dev/null --max-time 2 --cacert ca.pem "$1"; }
wait_for 10 "the master over TLS" tls_ok "$A/healthz"
for i in 0 1 2; do
	CS_PORTS[$i]=$(free_port)
	CS_URLS[$i]=https://127.0.0.1:${CS_PORTS[$i]}
	# shellcheck disable=SC2046
	"$GFS_BIN/gfs-chunkserver" --data "$T/cs$i" --master "$MASTERS" "${TLS[@]}" \
		$(cs_auth) "${CS_PORTS[$i]}" >>"$T/cs$i.log" 2>&1 &
	PIDS+=("$!")
done
three() { [ "$(curl -sf --cacert ca.pem "$A/status" | jq '[.chunkservers[] | select(.alive)] | length')" = 3 ]; }
wait_for 20 "three chunkservers heartbeating over TLS" three
assert_eq "$(curl -sf --cacert ca.pem "$A/status" | jq -r '[.url, (.chunkservers[].url | .[0:8])] | unique | join(" ")')" \
	"https:// $MASTER_URL" "advertised URLs"

# plain HTTP and an untrusted certificate: refused
out=$(curl -q -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P/api/v1/status")
[ "$out" = 000 ] || fail "plain HTTP answered $out"
out=$(curl -q -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${CS_PORTS[0]}/api/v1/status")
[ "$out" = 000 ] || fail "plain HTTP to a chunkserver answered $out"
curl -q -s -o /dev/null --max-time 5 "$A/status" && fail "a certificate no CA vouches for"
assert_eq "$(curl -q -s -o /dev/null -w '%{http_code}' --cacert ca.pem "$A/files?prefix=/")" 401 "no key over TLS"

# the clients
random_file f 2500000
gfs --ca-file ca.pem upload f /f >/dev/null || fail "gfs upload over TLS"
gfs --ca-file ca.pem download /f back >/dev/null || fail "gfs download over TLS"
assert_same_file back f "gfs over TLS"
GFS_CA_FILE=ca.pem gfs ls / | grep -q /f || fail "GFS_CA_FILE"
# without --ca-file: refused at once (no retrying a certificate for the
# failover window), saying why
out=$(timeout 10 "$GFS_BIN/gfs" --master "$MASTERS" upload f /g 2>&1)
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "gfs without --ca-file: exit $rc"
grep -qi "certificate\|ssl\|tls" <<<"$out" || fail "gfs without --ca-file said: $out"
curl -sf --cacert ca.pem --location-trusted "$A/content/f" -o back2 || fail "curl -L over TLS"
assert_same_file back2 f "the gateway over TLS"
mount_fuse "$T/mnt" -o ca_file="$T/ca.pem"
cp f "$T/mnt/h" || fail "cp into a mount over TLS"
cmp f "$T/mnt/h" || fail "read back through a mount over TLS"
log "ok"
