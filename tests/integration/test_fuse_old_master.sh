#!/usr/bin/env bash
# The mount's deferred creates (docs/CLIENT.md) against masters that do
# not know them, through a proxy that answers as an older master would
# (old_master.py):
#   - POST /chunks answered 404 (no pre-placed chunks): each new file is
#     created at open and committed at close, two master rounds, and the
#     mount does not ask for pre-placed chunks again per file;
#   - a create+commit whose "create" the master ignores (404: no such
#     file), or answered 200 with no commit's entry: the close falls back
#     to a create and a commit, two master rounds;
# and every file's bytes are there, read through a mount of the master
# itself, and each file's records in the master's log are a create and a
# commit, never a CREATE_COMMIT.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1M
start_chunkservers 3
PPORT=$(free_port)
python3 "$(dirname "$0")/old_master.py" "$PPORT" "${MASTER_URL##*:}" \
	"$T/mode" "$T/proxy.log" >>"$T/proxy.err" 2>&1 &
PIDS+=("$!")
wait_for 10 "the proxy" http_ok "http://127.0.0.1:$PPORT/api/v1/healthz"
B=$T/b
mount_fuse "$B"
mkdir "$B/d1" "$B/d2" "$B/d3" || fail "mkdir"

# requests PATTERN: how many requests the proxy logged matching PATTERN
requests() { grep -cx -- "$1" "$T/proxy.log"; }
# made DIR MOUNT TEXT: split 5 files (and a short one) into MOUNT/DIR
# with the master behind the proxy as the mode file says; then checks
# the bytes through B and the master's log: for each file one create
# (MKNODE) and one commit.
made() {
	local dir=$1 mnt=$2 f n
	head -c $((5 * 4096 + 700)) /dev/urandom >"$T/$dir.src"
	(cd "$mnt/$dir" && split -b 4096 -a 1 -d "$T/$dir.src" s) ||
		fail "$3: split into the mount"
	cat "$B/$dir"/s* | cmp -s - "$T/$dir.src" ||
		fail "$3: the files' bytes differ through another mount"
	python3 "$(dirname "$0")/oplog_records.py" "$T/master" >"$T/records" ||
		fail "read the master's log"
	for n in 0 1 2 3 4 5; do
		f=/$dir/s$n
		assert_eq "$(awk -v p="$f" '$3 == p { printf "%s ", $2 }' "$T/records")" \
			"MKNODE COMMIT " "$3: the records of $f"
		assert_eq "$(requests "PUT /api/v1/files$f")" 1 "$3: creates of $f"
	done
}

# -- no POST /chunks: created at open, as before
echo no-chunks >"$T/mode"
MASTERS=http://127.0.0.1:$PPORT mount_fuse "$T/x"
made d1 "$T/x" "no POST /chunks"
for n in 0 1 2 3 4 5; do
	assert_eq "$(requests "POST /api/v1/files/d1/s$n/commit")" 1 \
		"no POST /chunks: commits of /d1/s$n"
done
assert_eq "$(requests "POST /api/v1/chunks (answered here)")" 1 \
	"no POST /chunks: asked for pre-placed chunks (once, not per file)"
assert_eq "$(grep -c "commit create" "$T/proxy.log")" 0 \
	"no POST /chunks: create+commits sent"

# -- a create+commit whose "create" the master ignores (404)
echo strip >"$T/mode"
MASTERS=http://127.0.0.1:$PPORT mount_fuse "$T/y"
made d2 "$T/y" "create ignored"
for n in 0 1 2 3 4 5; do
	assert_eq "$(requests "POST /api/v1/files/d2/s$n/commit create")" 1 \
		"create ignored: create+commits of /d2/s$n"
	assert_eq "$(requests "POST /api/v1/files/d2/s$n/commit")" 1 \
		"create ignored: plain commits of /d2/s$n"
done

# -- a create+commit answered 200 without a commit's entry
echo no-entry >"$T/mode"
made d3 "$T/y" "no entry"
for n in 0 1 2 3 4 5; do
	assert_eq "$(requests "POST /api/v1/files/d3/s$n/commit create (answered here)")" 1 \
		"no entry: create+commits of /d3/s$n"
	assert_eq "$(requests "POST /api/v1/files/d3/s$n/commit")" 1 \
		"no entry: plain commits of /d3/s$n"
done
log "ok"
