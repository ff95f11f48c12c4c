#!/usr/bin/env bash
# Append, overwrite in the middle and truncate (shrink and grow) through
# the mount give the same bytes as the same operations on a local file;
# rsync of a small tree goes in and comes back out identical.
. "$(dirname "$0")/lib.sh"

start_cluster 4 --chunk-size 1MiB
M=$T/mnt
mount_fuse "$M"
cd "$T"
L=local.bin
R=$M/remote.bin
random_file $L $((5 << 19))   # 2.5 chunks
cp $L "$R"
check() { cmp "$L" "$R" || fail "after $1: the mount differs from the local file"; }

random_file add 70000
cat add >>$L; cat add >>"$R"; check "append"
printf 'hello' >>$L; printf 'hello' >>"$R"; check "small append"
random_file patch 100000
dd if=patch of=$L bs=1 seek=1000000 conv=notrunc status=none
dd if=patch of="$R" bs=1 seek=1000000 conv=notrunc status=none
check "overwrite across a chunk boundary"
dd if=patch of=$L bs=4096 seek=3 count=2 conv=notrunc status=none
dd if=patch of="$R" bs=4096 seek=3 count=2 conv=notrunc status=none
check "overwrite at the start"
truncate -s 1500000 $L; truncate -s 1500000 "$R"; check "truncate shrink"
truncate -s 3000000 $L; truncate -s 3000000 "$R"; check "truncate grow"
dd if=patch of=$L bs=1000 seek=2000 count=5 conv=notrunc status=none
dd if=patch of="$R" bs=1000 seek=2000 count=5 conv=notrunc status=none
check "write into the grown hole"
: >$L; : >"$R"; check "O_TRUNC"
assert_eq "$(stat -c %s "$R")" 0 "size after O_TRUNC"

# one open file: write, read back before close, then close
exec 7<>"$M/rw.bin"
printf 'abcdef' >&7
assert_eq "$(cat "$M/rw.bin")" "abcdef" "reading own writes in the same mount"
exec 7>&-

# rsync a tree in and back out
mkdir -p tree/sub/deeper
for i in 1 2 3 4 5; do random_file "tree/f$i" $((i * 3000)); done
random_file tree/sub/g 200000
random_file tree/sub/deeper/h 1
: >tree/sub/empty
rsync -a tree/ "$M/tree/" || fail "rsync in"
rsync -a "$M/tree/" back/ || fail "rsync out"
diff -r tree back || fail "rsync round trip differs"
# a second rsync transfers nothing (sizes and mtimes were kept)
n=$(rsync -a --itemize-changes tree/ "$M/tree/" | grep -c '^>f' || true)
assert_eq "$n" 0 "files rsync re-sent"
log "ok"
