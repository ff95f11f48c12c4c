#!/usr/bin/env bash
# A walk of a directory's names after the kernel's attributes from its
# listing are gone (`rm *`, `rm -r`, `stat` of each name one after
# another) is answered from one listing of the directory
# (common/statahead.c), not with a master round trip per name; and what
# it answers is what the master says:
#   - a walk of 300 names costs the master a few stats and a listing,
#     and every name's attributes (files, a directory, a file with two
#     names) are the master's, as a mount with --attr-timeout 0 sees them;
#   - creates in a listed directory fetch no listing;
#   - this mount's own changes show at once: names it removed are gone
#     while the rest are still answered from the listing, and a chmod, a
#     write, a truncate, a rename, a link and a utimens are seen;
#   - another client's change shows once the listing's window (1/4 of
#     --attr-timeout) has passed: it never stretches --attr-timeout.
# The kernel's copies are dropped with drop_caches, so that each stat
# reaches the mount.
. "$(dirname "$0")/lib.sh"

start_master
start_backup
start_chunkservers 3
A=$T/a
B=$T/b
C=$T/c
# A's listing stays 5 s (1/4 of 20 s): every check below fits in it
mount_fuse "$A" --attr-timeout 20s --log-level debug
mount_fuse "$B" --attr-timeout 0
mount_fuse "$C" --log-level debug

N=300
mkdir "$B/d" || fail "mkdir"
head -c $((N * 512)) /dev/urandom >"$T/src"
(cd "$B/d" && split -b 512 -a 3 -d "$T/src" f) || fail "split"
mkdir "$B/d/sub" || fail "mkdir sub"
ln "$B/d/f000" "$B/d/two" || fail "link"
chmod 640 "$B/d/f001" || fail "chmod"
ls "$B/d" >"$T/names" || fail "ls"

# stats NAME...: each name of /d as mount $MNT's stat says it (one
# process, so that each stat is the kernel's lookup and nothing else)
stats() {
	python3 - "$MNT/d" "$@" <<'EOF'
import os, sys
d = sys.argv[1]
for n in sys.argv[2:]:
    try:
        s = os.lstat(os.path.join(d, n))
        print(n, oct(s.st_mode), s.st_size, s.st_ino, s.st_nlink,
              s.st_mtime_ns, s.st_ctime_ns)
    except FileNotFoundError:
        print(n, "ENOENT")
EOF
}
in_a() { MNT=$A stats "$@"; }
in_b() { MNT=$B stats "$@"; }
kernel_forgets() { echo 2 >/proc/sys/vm/drop_caches; }
# master GETs: stats of names in /d, and listing pages of /d
stat_gets() { grep -c "time http GET [^ ]*/files/d/[^ ?]*?stat=1 " "$1"; }
list_gets() { grep -c 'time http GET [^ ]*/files?dir=%2Fd&' "$1"; }
# same NAME...: A shows NAME... as the master has them
same() {
	local a b
	kernel_forgets
	a=$(in_a "$@") || fail "stat in $A"
	b=$(in_b "$@") || fail "stat in $B"
	assert_eq "$a" "$b" "$(echo "$@" | cut -c1-60): this mount vs the master"
}

# -- a walk: a few stats and a listing, the master's attributes
ls "$A/d" >/dev/null || fail "ls in $A"
kernel_forgets
s0=$(stat_gets "$T/fuse-a.log")
l0=$(list_gets "$T/fuse-a.log")
in_a $(cat "$T/names") >"$T/walk" || fail "walk"
stats_asked=$(($(stat_gets "$T/fuse-a.log") - s0))
pages=$(($(list_gets "$T/fuse-a.log") - l0))
[ "$pages" -ge 1 ] || fail "the walk fetched no listing"
[ "$stats_asked" -le 10 ] ||
	fail "a walk of $((N + 2)) names asked the master $stats_asked times"
in_b $(cat "$T/names") >"$T/walk.b" || fail "walk in $B"
assert_same_file "$T/walk" "$T/walk.b" "the walk vs the master"
log "a walk of $((N + 2)) names: $stats_asked stats, $pages listing pages"

# -- removed here: gone at once, the rest still answered from the listing
rm "$A"/d/f01? || fail "rm"
l0=$(list_gets "$T/fuse-a.log")
same f010 f015 f019
s0=$(stat_gets "$T/fuse-a.log")
same f020 f021 f022 f023 f024 f025 f026 f027 f028 f029
asked=$(($(stat_gets "$T/fuse-a.log") - s0))
pages=$(($(list_gets "$T/fuse-a.log") - l0))
[ "$asked" -le 1 ] && [ "$pages" = 0 ] ||
	fail "after an rm, names left cost $asked stats and $pages listings"

# -- creates in a listed directory are no walk: no listing is fetched
# (their lookups find no name, and each commit drops what is held)
ls "$A/d" >/dev/null || fail "ls in $A"
l0=$(list_gets "$T/fuse-a.log")
head -c $((40 * 512)) "$T/src" | (cd "$A/d" && split -b 512 -a 2 -d - n) ||
	fail "split in $A"
pages=$(($(list_gets "$T/fuse-a.log") - l0))
[ "$pages" = 0 ] || fail "40 creates in a listed directory fetched $pages listings"
same n00 n39

# -- each other change of this mount shows at once
chmod 604 "$A/d/f030" || fail "chmod"
same f030
echo more >>"$A/d/f031" || fail "append"
same f031
truncate -s 7 "$A/d/f032" || fail "truncate"
same f032
mv "$A/d/f033" "$A/d/g033" || fail "rename"
same f033 g033
ln "$A/d/f034" "$A/d/h034" || fail "link"
same f034 h034
touch -m -d '2001-02-03 04:05:06' "$A/d/f035" || fail "utimens"
same f035
: >"$A/d/f036" || fail "truncate by open"
same f036
rm "$A/d/f037" && echo new >"$A/d/f037" || fail "create over a removed name"
same f037
same $(cat "$T/names")

# -- another mount's change: seen once C's window (250 ms) has passed
ls "$C/d" >/dev/null || fail "ls in $C"
kernel_forgets
l0=$(list_gets "$T/fuse-c.log")
MNT=$C stats $(head -n 40 "$T/names") >/dev/null || fail "walk in $C"
[ "$(($(list_gets "$T/fuse-c.log") - l0))" -ge 1 ] ||
	fail "the walk in $C fetched no listing"
chmod 606 "$B/d/f050" || fail "chmod in $B"
sleep 0.3 # past the window: what C holds must not be served
kernel_forgets
mode=$(stat -c %a "$C/d/f050") || fail "stat in $C"
assert_eq "$mode" 606 "another mount's chmod, past the window"
log "ok"
