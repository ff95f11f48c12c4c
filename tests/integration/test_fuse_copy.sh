#!/usr/bin/env bash
# cp in and out of the mount keeps 0 B, 1 B, 3.5 chunks and 1 GiB files
# byte-identical; ls -lR, find, du, df and mkdir -p/mv behave.
. "$(dirname "$0")/lib.sh"

start_cluster 4 --chunk-size 1MiB
M=$T/mnt
mount_fuse "$M"
cd "$T"
random_file zero 0
random_file one 1
random_file three_and_half $((7 << 19))
random_file big $((1 << 30))
for f in zero one three_and_half big; do
	cp "$f" "$M/$f" || fail "cp $f in"
done
mkdir out
for f in zero one three_and_half big; do
	cp "$M/$f" "out/$f" || fail "cp $f out"
	assert_same_file "out/$f" "$f" "$f copied out"
done
assert_eq "$(stat -c %s "$M/big")" $((1 << 30)) "size of big in ls"

mkdir -p "$M/a/b/c" || fail "mkdir -p"
cp one "$M/a/b/c/" || fail "cp into a new directory"
mv "$M/a/b/c/one" "$M/a/y" || fail "mv"
[ -f "$M/a/y" ] && [ ! -e "$M/a/b/c/one" ] || fail "mv did not move"
[ -d "$M/a/b/c" ] || fail "mkdir'd directory vanished when emptied"
ls -lR "$M" >ls.txt || fail "ls -lR"
grep -q "three_and_half" ls.txt || fail "ls -lR misses a file"
assert_eq "$(find "$M" -type f | sort | tr '\n' ' ')" \
	"$M/a/y $M/big $M/one $M/three_and_half $M/zero " "find"
du -s "$M" >/dev/null || fail "du"
df "$M" | grep -q gfs || fail "df does not show the mount"
[ "$(df --output=size "$M" | tail -1)" -gt 0 ] || fail "df shows no capacity"
rmdir "$M/a/b/c" "$M/a/b" || fail "rmdir"
rmdir "$M/a" 2>/dev/null && fail "rmdir of a non-empty directory"
log "ok"
