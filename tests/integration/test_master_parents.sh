#!/usr/bin/env bash
# The replies of mutations that change a directory's names carry that
# directory's entry as it is after them ("parents", docs/PROTOCOL.md):
# the same as a GET ?stat=1 of it right after, one per directory changed,
# none for a directory that went with the mutation, none in an error.
# GET /files/ is the root's entry.
. "$(dirname "$0")/lib.sh"

start_master
A=$MASTER_URL/api/v1

# parents_are DESC PATH...: the last reply's parents name exactly PATHs,
# each equal to the master's ?stat=1 entry of it now
parents_are() {
	local desc=$1 got want p
	shift
	got=$(jq -c '[.parents[].path]' "$T/last_body") || fail "$desc: no parents"
	want=$(printf '%s\n' "$@" | jq -R . | jq -sc .)
	[ $# -gt 0 ] || want='[]'
	assert_eq "$got" "$want" "$desc: the directories"
	cp "$T/last_body" "$T/reply"
	for p in "$@"; do
		assert_eq "$(http_status GET "$A/files$p?stat=1")" 200 "stat $p"
		assert_eq "$(jq -cS ".parents[] | select(.path == \"$p\")" "$T/reply")" \
			"$(jq -cS . "$T/last_body")" "$desc: $p as the master has it"
	done
}

assert_eq "$(http_status PUT "$A/files/d" -d '{"type":"dir"}')" 201 "mkdir"
parents_are "mkdir of a top directory" /
assert_eq "$(jq -r '.parents[0].ino' "$T/reply")" 1 "the root's inode"
assert_eq "$(http_status PUT "$A/files/d/f")" 201 "create"
parents_are "create" /d
assert_eq "$(jq -r '.parents[0].type' "$T/reply")" dir
assert_eq "$(http_status PUT "$A/files/d/sub" -d '{"type":"dir"}')" 201 "mkdir"
parents_are "mkdir" /d
assert_eq "$(jq -r '.parents[0].nlink' "$T/reply")" 3
assert_eq "$(http_status PUT "$A/files/e" -d '{"type":"dir"}')" 201 "mkdir e"
assert_eq "$(http_status POST "$A/files/d/f?op=rename&to=/e/g")" 200 "rename"
parents_are "rename across" /d /e
assert_eq "$(http_status POST "$A/files/e/g?op=rename&to=/e/h")" 200 "rename within"
parents_are "rename within" /e
assert_eq "$(http_status POST "$A/files/e/h?op=link&to=/d/l")" 201 "link"
parents_are "link" /d
assert_eq "$(http_status DELETE "$A/files/d/l")" 200 "unlink"
parents_are "unlink" /d
assert_eq "$(http_status DELETE "$A/files/e/h?keep=60" -H 'X-GFS-Client: c1')" 200 \
	"unlink keeping"
parents_are "unlink keeping" /e
assert_eq "$(http_status DELETE "$A/files/d/sub")" 200 "rmdir"
parents_are "rmdir" /d
assert_eq "$(jq -r '.parents[0].nlink' "$T/reply")" 2
# an implicit directory left empty goes with its last file
assert_eq "$(http_status PUT "$A/files/x/y/z")" 201 "create below implicit dirs"
parents_are "create below implicit dirs" /x/y
assert_eq "$(http_status DELETE "$A/files/x/y/z")" 200 "unlink the last"
parents_are "the implicit directory gone"
# errors name no directory
assert_eq "$(http_status PUT "$A/files/d")" 409 "create over a directory"
jq -e 'has("parents") | not' "$T/last_body" >/dev/null ||
	fail "an error reply carries parents"
log "ok"
