#!/usr/bin/env bash
# The attributes of a directory after this mount's own change in it come
# with the master's reply to the change ("parents", docs/PROTOCOL.md) and
# answer the kernel's getattr of the directory that follows (the kernel
# drops them after every create, unlink, rename, mkdir): one master
# round trip less per file for split and rm (docs/PERFORMANCE.md).
#   - creates and removes one file at a time ask the master for the
#     directory (almost) never, though the kernel asks the mount each time;
#   - what the mount shows after its own create, mkdir, rename, unlink,
#     rmdir and after a chmod followed by a create is what the master
#     says (a mount with --attr-timeout 0 asks it every time), for the
#     root too;
#   - another client's change (a second mount, REST) is seen by this
#     mount once the copy's window (1/50 of --attr-timeout) has passed:
#     it never stretches the kernel's --attr-timeout.
. "$(dirname "$0")/lib.sh"

start_master
start_backup
start_chunkservers 3
A=$T/a
B=$T/b
mount_fuse "$A" --log-level debug
mount_fuse "$B" --attr-timeout 0
mkdir "$A/d" "$A/e" || fail "mkdir"

# master GETs of /d from mount A, and the getattrs of /d the kernel sent
gets() { grep -c 'time http GET [^ ]*/files/d?stat=1 ' "$T/fuse-a.log"; }
getattrs() { grep -c 'time fuse getattr /d [0-9]*us rc=0' "$T/fuse-a.log"; }

# -- one file at a time: the kernel asks, the mount answers alone
g0=$(gets)
a0=$(getattrs)
head -c $((20 * 4096)) /dev/urandom >"$T/src"
(cd "$A/d" && split -b 4096 -a 2 -d "$T/src" f) || fail "split"
(cd "$A/d" && rm f*) || fail "rm"
asked=$(($(getattrs) - a0))
fetched=$(($(gets) - g0))
[ "$fetched" -le 3 ] ||
	fail "the mount asked the master for /d $fetched times for 20 creates and 20 unlinks"
[ "$asked" -ge 40 ] ||
	fail "the kernel asked for /d $asked times for 20 creates and 20 unlinks"
log "getattr of /d: $asked from the kernel, $fetched to the master"

# -- after each change of its own, this mount shows what the master has
attrs() { stat -c '%i %h %a %u %g %.9Y %.9Z' "$1"; }
same() { # same NAME: A's view of NAME is the master's (B asks it)
	local a b
	a=$(attrs "$A/$1") || fail "stat $A/$1"
	b=$(attrs "$B/$1") || fail "stat $B/$1"
	assert_eq "$a" "$b" "$2: /$1 in this mount vs the master"
}
echo x >"$A/d/one" || fail "create"
same d "after a create"
mkdir "$A/d/sub" || fail "mkdir sub"
same d "after a mkdir (link count)"
mv "$A/d/one" "$A/e/two" || fail "rename"
same d "after a rename out"
same e "after a rename in"
rmdir "$A/d/sub" || fail "rmdir"
same d "after a rmdir"
chmod 700 "$A/d" || fail "chmod"
echo y >"$A/d/three" || fail "create after chmod"
same d "a chmod, then a create"
rm "$A/d/three" || fail "unlink"
same d "after an unlink"
# the root too: the master's (GET /files/), not one made up
mkdir "$A/top" || fail "mkdir at the top"
same "" "the root after a mkdir in it"
assert_eq "$(stat -c %h "$A")" 5 "the root's link count (d, e, top)"

# -- another client's change: seen once the window (20 ms) is over
echo z >"$A/d/four" || fail "create four"
rm "$A/d/four" || fail "unlink four" # the mount holds /d as of this
chmod 711 "$B/d" || fail "chmod in the other mount"
sleep 0.1 # past the window: what the mount holds must not be served
mode=$(stat -c %a "$A/d") || fail "stat after the other's chmod"
assert_eq "$mode" 711 "another mount's chmod, past the window"
echo w >"$A/d/five" || fail "create five"
rm "$A/d/five" || fail "unlink five"
curl -sf -X PUT -H 'Content-Type: application/json' -d '{"type":"dir"}' \
	"$MASTER_URL/api/v1/files/d/rest" >/dev/null || fail "mkdir over REST"
sleep 0.1
links=$(stat -c %h "$A/d") || fail "stat after the REST mkdir"
assert_eq "$links" 3 "a mkdir over REST, past the window"
same d "after the others' changes"
log "ok"
