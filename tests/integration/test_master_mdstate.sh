#!/usr/bin/env bash
# A master started on a state that gfs-mdstate (bench/mdstate.c) wrote for
# it takes creates: bench/master.sh's run (b).  gfs-mdstate named a URL of
# its own as the owner of the state's epoch, so the master that loaded it
# followed that URL and answered 421 to every create (a master leads only
# an epoch it logged, docs/MASTER.md).
. "$(dirname "$0")/lib.sh"
MDSTATE=$GFS_BIN/../bench/gfs-mdstate
[ -x "$MDSTATE" ] || fail "no $MDSTATE (make $(basename "$(dirname "$GFS_BIN")")/bench/gfs-mdstate)"
start_master --probation 500ms
kill -TERM "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null
rm -rf "$T/master" && mkdir -p "$T/master"
"$MDSTATE" "$T/master" 2000 "$MASTER_URL" >/dev/null || fail "gfs-mdstate"
restart_master --probation 500ms
P=$MASTER_URL/api/v1
code=
writable() { code=$(http_status PUT "$P/files/new"); [ "$code" = 201 ]; }
wait_for 10 "the loaded master to take a create" writable
[ "$(curl -sf --max-time 5 "$P/status" | jq -r .role)" = primary ] || fail "not primary"
[ "$(http_status GET "$P/files/many/d0001/f0001999?stat=1")" = 200 ] ||
	fail "the generated files are not there"
log "ok: a master on gfs-mdstate's state is primary and takes creates"
