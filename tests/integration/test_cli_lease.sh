#!/usr/bin/env bash
# A lease gives one client exclusive upload and download: others get 423
# (a clear CLI message) until it is released or expires; nor can they move
# a directory above a leased file.  Stat and listing are never blocked.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB
cd "$T"
random_file f.txt 3000
gfs --client-id alice upload f.txt /f.txt >/dev/null || fail "upload"
# (the holder is the key's name, then the client id: all share one key)
gfs --client-id alice lease /f.txt | grep -q "leased /f.txt to admin/alice" || fail "lease"

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
gfs --client-id bob --json stat /f.txt >stat.json || fail "gfs stat blocked by a lease"
assert_eq "$(jq -r .lease.holder stat.json)" admin/alice "stat shows the lease"
assert_eq "$(jq .size stat.json)" 3000 "stat shows the size"
# bob cannot release alice's lease
gfs --client-id bob unlease /f.txt >/dev/null 2>&1 && fail "bob released alice's lease"
gfs --client-id alice unlease /f.txt >/dev/null || fail "unlease"
gfs --client-id bob download /f.txt bob.txt >/dev/null || fail "bob after unlease"
assert_same_file f.txt bob.txt

# renaming a directory moves the leased file below it: 423 for others
gfs --client-id alice upload f.txt /d/sub/g.txt >/dev/null || fail "upload g"
gfs --client-id alice lease /d/sub/g.txt >/dev/null || fail "lease g"
out=$(gfs --client-id bob mv /d /e 2>&1) && fail "bob moved a directory holding alice's leased file"
echo "$out" | grep -qi "leased" || fail "bob's mv message: $out"
assert_eq "$(http_status POST "$MASTER_URL/api/v1/files/d/sub?op=rename&to=/x" -H 'X-GFS-Client: bob')" 423 "REST rename of the parent"
assert_eq "$(jq -r .lease.path "$T/last_body")" /d/sub/g.txt "the 423 names the leased file"
gfs --client-id bob stat /d/sub/g.txt >/dev/null || fail "the file did not stay"
gfs --client-id alice mv /d /e >/dev/null || fail "the holder moves the directory"
gfs --client-id bob download /e/sub/g.txt >/dev/null 2>&1 && fail "the lease did not move with its file"
gfs --client-id alice unlease /e/sub/g.txt >/dev/null || fail "unlease g"
gfs --client-id bob mv /e /d >/dev/null || fail "bob's mv once nothing is leased"

# expiry: a 2 s lease lapses by itself
gfs --client-id alice lease /f.txt --ttl 2 >/dev/null || fail "short lease"
gfs --client-id bob download /f.txt bob2.txt >/dev/null 2>&1 && fail "bob during short lease"
wait_for 10 "lease expiry" gfs --client-id bob download /f.txt bob2.txt
assert_same_file f.txt bob2.txt
log "ok"
