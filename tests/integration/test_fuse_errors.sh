#!/usr/bin/env bash
# Bad input through the mount is a clean errno and the mount stays up:
# long names, names that are not UTF-8 (EILSEQ), bad xattr values, setfattr on a missing file, writes after
# every chunkserver is gone; nothing committed is lost.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB
M=$T/mnt
mount_fuse "$M"
cd "$T"
long=$(printf 'x%.0s' $(seq 1 256))
out=$(touch "$M/$long" 2>&1) && fail "a 256-byte name was accepted"
echo "$out" | grep -q "File name too long" || fail "long name: $out"
# names are UTF-8: anything else is EILSEQ, and nothing is created
out=$(touch "$M/"$'bad\xff' 2>&1) && fail "a name that is not UTF-8 was accepted"
echo "$out" | grep -q "multibyte" || fail "bad name: $out"
out=$(mkdir "$M/"$'d\xc3' 2>&1) && fail "a directory name that is not UTF-8"
[ -z "$(ls "$M")" ] || fail "something was created: $(ls "$M")"
touch "$M/caf"$'\xc3\xa9' || fail "a UTF-8 name was refused"
rm "$M/caf"$'\xc3\xa9'
random_file keep 100000
cp keep "$M/keep" || fail "cp"
out=$(setfattr -n user.gfs.lease -v bogus "$M/keep" 2>&1) && fail "bogus lease value accepted"
echo "$out" | grep -q "Invalid argument" || fail "bad xattr value: $out"
out=$(setfattr -n user.gfs.lease -v 1 "$M/missing" 2>&1) && fail "lease on a missing file"
echo "$out" | grep -q "No such file" || fail "missing file: $out"
out=$(setfattr -n trusted.other -v 1 "$M/keep" 2>&1) && fail "a trusted.* xattr accepted"
echo "$out" | grep -q "Operation not supported" || fail "trusted.*: $out"
mkdir "$M/d" && { mkdir "$M/d" 2>/dev/null && fail "mkdir of an existing directory"; }
out=$(rmdir "$M/keep" 2>&1) && fail "rmdir of a file"
echo "$out" | grep -q "Not a directory" || fail "rmdir of a file: $out"

# lose every chunkserver: writes fail with an errno, nothing hangs
for i in 0 1 2; do kill9 "${CS_PIDS[$i]}"; done
random_file more 200000
out=$(timeout 60 cp more "$M/more" 2>&1)
rc=$?
[ $rc -ne 0 ] || fail "cp succeeded with no chunkserver"
[ $rc -ne 124 ] || fail "cp hung with no chunkserver"
mountpoint -q "$M" || fail "the mount died"
ls "$M" >/dev/null || fail "ls after the failed write"
# bring them back: the committed file is intact
for i in 0 1 2; do start_chunkserver "$i"; done
wait_for 30 "chunkservers back" alive_at_least "$MASTER_URL" 3
cmp keep "$M/keep" || fail "committed file changed"
log "ok"
