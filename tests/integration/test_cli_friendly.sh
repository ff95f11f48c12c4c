#!/usr/bin/env bash
# gfs for a new user: --help lists every command; a failure says what was
# tried and what to do, with an exit status per kind of failure; stat is
# for people (--json for programs); status shows every master; upload
# and download draw a progress bar on a terminal only.
source "$(dirname "$0")/lib.sh"
cd "$T"

# --help: every command of the man page, one line each with what it does
"$GFS_BIN/gfs" --help >help.txt || fail "gfs --help"
for c in upload download lease unlease ls stat rm mv status; do
	grep -E "^  $c( |\$).* [a-z]{3,}" help.txt >/dev/null || fail "--help does not describe $c"
done

# no master: the URLs tried, what failed, what to do; status 6
p1=$(free_port) p2=$(free_port)
want="cannot reach a master at http://127.0.0.1:$p1, http://127.0.0.1:$p2: connection refused; is gfs-master running? set --master or GFS_MASTER"
echo x >x.txt
for cmd in status "upload x.txt" "ls /"; do
	"$GFS_BIN/gfs" --master "http://127.0.0.1:$p1,http://127.0.0.1:$p2" \
		--failover-timeout 1s $cmd >out.txt 2>err.txt
	rc=$?
	assert_eq "$rc" 6 "exit status of gfs $cmd with no master"
	grep -F "$want" err.txt >/dev/null || fail "gfs $cmd said: $(cat err.txt)"
done

start_master --chunk-size 1M
start_backup --chunk-size 1M
start_chunkservers 3
random_file big.bin $((3 << 20))
gfs upload big.bin /d/big.bin >/dev/null || fail "upload"

# stat like stat(1), --json as the master's JSON
gfs stat /d/big.bin >stat.txt || fail "stat"
grep -x "  File: /d/big.bin" stat.txt >/dev/null || fail "stat: $(cat stat.txt)"
grep -E "^  Size: 3145728 +Type: regular file" stat.txt >/dev/null || fail "stat size: $(cat stat.txt)"
grep -F "Access: (0644/-rw-r--r--)" stat.txt >/dev/null || fail "stat mode: $(cat stat.txt)"
grep -E "^Modify: 20[0-9-]+ [0-9:]+\.[0-9]{9} [+-][0-9]{4}$" stat.txt >/dev/null || fail "stat time: $(cat stat.txt)"
grep -x " Lease: none" stat.txt >/dev/null || fail "stat lease: $(cat stat.txt)"
for h in $(curl -sf "$MASTER_URL/api/v1/files/d/big.bin" | jq -r '.chunks[].handle'); do
	n=$(grep -E " $h +[0-9]+ +[0-9]+ +http" stat.txt | wc -w)
	assert_eq "$n" 7 "stat's line of chunk $h (index, handle, version, length, 3 replicas)"
done
gfs --json stat /d/big.bin | jq -e '.size == 3145728 and .path == "/d/big.bin"' >/dev/null ||
	fail "stat --json"
gfs stat /d | grep -F "Type: directory" >/dev/null || fail "stat of a directory"

# status: both masters, by role, and the chunkservers
gfs status >status.txt || fail "status"
grep -E "^  $MASTER_URL +primary +epoch [0-9]+ +seq [0-9]+ +lag 0$" status.txt >/dev/null ||
	fail "status does not show the primary: $(cat status.txt)"
grep -E "^  $BACKUP_URL +backup +epoch [0-9]+ +seq [0-9]+ +lag [0-9]+$" status.txt >/dev/null ||
	fail "status does not show the backup: $(cat status.txt)"
assert_eq "$(grep -c ' alive ' status.txt)" 3 "live chunkservers in status"
gfs --json status | jq -e '.masters | length == 2' >/dev/null || fail "status --json masters"

# exit statuses tell failures apart; each failure is one line on stderr
# saying what failed (and where, for what a master refused)
code() {
	"$@" >/dev/null 2>"$T/code.err"
	local rc=$?
	printf '%s\n' "$*: $(cat "$T/code.err")" >>"$T/errors.txt"
	[ "$(wc -l <"$T/code.err")" = 1 ] || fail "$*: not one line: $(cat "$T/code.err")"
	grep -E '^gfs: ' "$T/code.err" >/dev/null || fail "$*: $(cat "$T/code.err")"
	echo $rc
}
assert_eq "$(code gfs download /nope)" 3 "not found"
assert_eq "$(code gfs upload no-such-local-file)" 3 "local file not found"
gfs upload x.txt /taken >/dev/null || fail "upload taken"
assert_eq "$(code gfs mv /d/big.bin /taken)" 4 "exists"
gfs --client-id alice lease /taken >/dev/null || fail "lease"
assert_eq "$(code gfs --client-id bob download /taken)" 5 "leased"
assert_eq "$(code gfs frobnicate)" 2 "unknown command"
assert_eq "$(code gfs stat)" 2 "missing argument"
assert_eq "$(code gfs --no-such-option status)" 2 "unknown option"
assert_eq "$(gfs download /d/big.bin - >/dev/full 2>/dev/null; echo $?)" 7 "I/O error"
# what a master refused names the file and the master
for what in "download /nope" "mv /d/big.bin /taken" "--client-id bob download /taken"; do
	grep -F "gfs $what: " "$T/errors.txt" | grep -F "$MASTER_URL" >/dev/null ||
		fail "gfs $what does not name the master: $(grep -F "gfs $what: " "$T/errors.txt")"
done

# progress: on a terminal only (script(1) gives gfs one), not with --quiet
gfs upload big.bin /p.bin 2>err.txt >/dev/null || fail "upload"
[ ! -s err.txt ] || fail "progress on a pipe: $(od -c err.txt | head)"
GFS_MASTER=$MASTERS script -qfec "$GFS_BIN/gfs upload big.bin /p2.bin" /dev/null >tty.txt ||
	fail "upload on a terminal"
grep -a "/p2.bin  .* / 3.0 MiB  .*%  .*/s  ETA [0-9]:[0-9][0-9]" tty.txt >/dev/null ||
	fail "no progress bar on a terminal: $(od -c tty.txt | head -20)"
GFS_MASTER=$MASTERS script -qfec "$GFS_BIN/gfs download /p2.bin got.bin" /dev/null >tty.txt ||
	fail "download on a terminal"
grep -a "/p2.bin  .*B/s" tty.txt >/dev/null || fail "no download progress bar: $(od -c tty.txt | head -20)"
assert_same_file big.bin got.bin
GFS_MASTER=$MASTERS script -qfec "$GFS_BIN/gfs --quiet upload big.bin /p3.bin" /dev/null >tty.txt ||
	fail "quiet upload"
grep -a "ETA" tty.txt >/dev/null && fail "--quiet drew a progress bar"

# status names a master that does not answer, and why (last: the primary
# waits for a silent backup, so nothing is written after this)
kill9 "$BACKUP_PID"
gfs status | grep -E "^  $BACKUP_URL +unreachable: connection refused$" >/dev/null ||
	fail "status does not show the dead backup"
true
