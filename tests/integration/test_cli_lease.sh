#!/usr/bin/env bash
# A lease gives one client exclusive upload and download: others get 423
# (a clear CLI message) until it is released or expires.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB
cd "$T"
random_file f.txt 3000
gfs --client-id alice upload f.txt /f.txt >/dev/null || fail "upload"
gfs --client-id alice lease /f.txt | grep -q "leased /f.txt to alice" || fail "lease"

out=$(gfs --client-id bob download /f.txt bob.txt 2>&1) && fail "bob downloaded a leased file"
echo "$out" | grep -qi "leased" || fail "bob's message does not say leased: $out"
[ ! -e bob.txt ] || fail "a refused download left a file"
gfs --client-id bob upload f.txt /f.txt >/dev/null 2>&1 && fail "bob uploaded over a leased file"
assert_eq "$(http_status GET "$MASTER_URL/api/v1/files/f.txt" -H 'X-GFS-Client: bob')" 423 "REST download by bob"
assert_eq "$(json_error_code)" leased "error code"
assert_eq "$(http_status GET "$MASTER_URL/api/v1/content/f.txt" -L)" 423 "curl -L by nobody"
# the holder keeps working
gfs --client-id alice download /f.txt alice.txt >/dev/null || fail "alice download"
assert_same_file f.txt alice.txt
# stat and listing are not downloads
gfs --client-id bob ls / | grep -q /f.txt || fail "listing blocked by a lease"
# bob cannot release alice's lease
gfs --client-id bob unlease /f.txt >/dev/null 2>&1 && fail "bob released alice's lease"
gfs --client-id alice unlease /f.txt >/dev/null || fail "unlease"
gfs --client-id bob download /f.txt bob.txt >/dev/null || fail "bob after unlease"
assert_same_file f.txt bob.txt

# expiry: a 2 s lease lapses by itself
gfs --client-id alice lease /f.txt --ttl 2 >/dev/null || fail "short lease"
gfs --client-id bob download /f.txt bob2.txt >/dev/null 2>&1 && fail "bob during short lease"
wait_for 10 "lease expiry" gfs --client-id bob download /f.txt bob2.txt
assert_same_file f.txt bob2.txt
log "ok"
