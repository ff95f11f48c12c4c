#!/usr/bin/env bash
# Round trips that compare everything: a tree with regular files (empty,
# small, several chunks, sparse), odd modes (setuid, setgid, sticky,
# 0000, 0444), several owners, symlinks (relative, absolute, dangling,
# to a directory), hard links, a FIFO, and user extended attributes, is
# copied into the mount and back out with `cp -a`, `rsync -aHAX` and
# `tar --xattrs`; the copy in the mount and the copy back must equal the
# source: diff -r, and per path the type, mode, owner, group, size,
# mtime, link count, link target, hard-link group and xattrs.  Each
# method first copies into a local directory the same way, so a method
# that cannot keep something fails the test as a broken test, not as a
# broken mount.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB
M=$T/mnt
mount_fuse "$M"
S=$T/src
U1=61001 G1=61002 U2=61003 G2=61004

# ---- the source tree (every mtime whole seconds: tar keeps them all)
make_tree() {
	mkdir -p "$S/dir/sub" "$S/empty" "$S/sticky" "$S/setgid" "$S/locked"
	: >"$S/empty-file"
	echo hello >"$S/small"
	head -c $((3 << 20 | 12345)) /dev/urandom >"$S/dir/big" # 4 chunks
	truncate -s $((5 << 20)) "$S/dir/sparse"
	printf tail | dd of="$S/dir/sparse" bs=1 seek=$((4 << 20)) conv=notrunc status=none
	echo mode >"$S/setuid" && chmod 4755 "$S/setuid"
	echo ro >"$S/readonly" && chmod 0444 "$S/readonly"
	echo none >"$S/nothing" && chmod 0000 "$S/nothing"
	echo x >"$S/dir/sub/exec" && chmod 0751 "$S/dir/sub/exec"
	chmod 1777 "$S/sticky"
	chmod 2750 "$S/setgid"
	echo locked >"$S/locked/in" && chmod 0500 "$S/locked"
	echo theirs >"$S/theirs" && chown $U1:$G1 "$S/theirs"
	echo others >"$S/dir/others" && chown $U2:$G2 "$S/dir/others"
	chown $U2:$G1 "$S/dir/sub"
	ln -s small "$S/rel-link"
	ln -s ../small "$S/dir/up-link"
	ln -s /etc/hostname "$S/abs-link"
	ln -s does-not-exist "$S/dangling"
	ln -s dir "$S/dir-link"
	ln -s small "$S/owned-link" && chown -h $U1:$G2 "$S/owned-link"
	ln "$S/small" "$S/hard1"
	ln "$S/small" "$S/dir/hard2"
	ln "$S/dir/big" "$S/dir/sub/big-too"
	mkfifo -m 0620 "$S/fifo"
	setfattr -n user.color -v blue "$S/small"
	setfattr -n user.bin -v 0x00ff00 "$S/dir/big"
	setfattr -n user.empty "$S/dir/big"
	setfattr -n user.dir -v d "$S/dir/sub"
	local t=1000000000 p
	while read -r p; do
		touch -h -d @$((t += 3607)) "$p"
	done < <(find "$S" -depth -mindepth 1 | sort -r; echo "$S")
}

# manifest DIR: one line per path, everything that must survive
manifest() {
	python3 - "$1" <<'PY'
import os, stat, sys
root = sys.argv[1]
paths, inode_group = [], {}
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        paths.append(os.path.join(d, n))
for p in sorted(paths):
    st = os.lstat(p)
    rel = os.path.relpath(p, root)
    line = [rel, stat.filemode(st.st_mode), "%d:%d" % (st.st_uid, st.st_gid),
            "mtime=%d" % st.st_mtime_ns]
    if not stat.S_ISDIR(st.st_mode):
        line.append("nlink=%d" % st.st_nlink)
        line.append("group=%s" % inode_group.setdefault((st.st_dev, st.st_ino), rel))
    if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
        line.append("size=%d" % st.st_size)
    if stat.S_ISLNK(st.st_mode):
        line.append("-> " + os.readlink(p))
    else:
        for n in sorted(os.listxattr(p, follow_symlinks=False)):
            if n.startswith("user."):
                line.append("%s=%s" % (n, os.getxattr(p, n, follow_symlinks=False).hex()))
    print(" ".join(line))
PY
}

# same A B WHAT: the trees at A and B hold the same
same() {
	local out
	out=$(diff -r --no-dereference "$1" "$2" 2>&1 |
		grep -v 'is a fifo while file .* is a fifo$')
	[ -z "$out" ] || fail "$3: diff -r: $out"
	manifest "$1" >"$T/m.a" || fail "manifest of $1"
	manifest "$2" >"$T/m.b" || fail "manifest of $2"
	out=$(diff "$T/m.a" "$T/m.b") || fail "$3: $out"
}

copy_cp() { cp -a "$1/." "$2"; }
copy_rsync() { rsync -aHAX "$1/" "$2/"; }
copy_tar() { tar --xattrs --xattrs-include='user.*' -cf - -C "$1" . |
	tar --xattrs --xattrs-include='user.*' --same-owner -xpf - -C "$2"; }

make_tree
manifest "$S" >"$T/m.src"
grep -q '^hard1 .* nlink=3 group=dir/hard2' "$T/m.src" || fail "the test tree has no hard links: $(cat "$T/m.src")"
for how in cp rsync tar; do
	mkdir "$T/local-$how" "$M/$how" "$T/back-$how" || fail "mkdir for $how"
	"copy_$how" "$S" "$T/local-$how" || fail "$how into a local directory"
	same "$S" "$T/local-$how" "$how into a local directory (the test itself)"
	"copy_$how" "$S" "$M/$how" || fail "$how into the mount"
	same "$S" "$M/$how" "$how into the mount"
	"copy_$how" "$M/$how" "$T/back-$how" || fail "$how out of the mount"
	same "$S" "$T/back-$how" "$how out of the mount"
	log "$how: round trip equal"
done
log "OK"
