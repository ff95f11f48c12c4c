#!/usr/bin/env bash
# test_deb.sh - the Debian packages as an operator gets them.
#
#   DEB_DIR=build/deb bash tests/packaging/test_deb.sh    (make debtest)
#
# Takes the packages `make deb` built and checks them as they are: lintian
# finds no error and no warning; a fresh Debian 12 root (mmdebstrap, with
# systemd and man-db, nothing cached between runs) installs them with
# dpkg -i and apt-get -f; there every program tells its version, the gfs
# user and /var/lib/gfs exist, the conffiles list every setting of their
# program (and the program reads them), every option is in the man pages,
# and systemd-analyze verify accepts every unit.  Then the cluster runs
# from the units' own command lines, as gfs, from the installed config
# files, and is mounted from /etc/fstab with mount(8) the way the fuse3
# conventions go (mount.fuse.gfs, mount.fuse3, gfs-fuse), once as the
# issue's line, once with drop_privileges and the masters as the source,
# and once as the example mount unit's options; files go through the
# mounts and the CLI, and umount ends each gfs-fuse.  Last, the same
# root is deployed on seven hosts made with network namespaces, and a
# chunkserver's link is cut and brought back (multihost.sh).
#
# Root only (chroot, mount, unshare).  On a quiet 2-core machine about a
# minute and a half with make deb (20s): lintian 6s (beside the root),
# the root 35-45s (it fetches its packages: nothing is cached between
# runs), the checks 15s, the seven hosts 20s.  make test runs it beside
# the unit tests.
# With the machine loaded by other test runs it took up to 11 minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."
# In a mount namespace of its own, the root's mounts (/dev, /proc, the
# FUSE mounts) are seen by nobody else and go with the test whatever
# happens, and no namespace another program makes meanwhile (ip netns
# exec, unshare) copies them.
if [ "${GFS_DEBTEST_NS:-}" != 1 ]; then
	GFS_DEBTEST_NS=1 exec unshare --mount --propagation private \
		bash "$0" "$@"
fi
: "${DEB_DIR:?DEB_DIR must name the directory holding the packages}"
# lib.sh wants GFS_BIN; here the programs come from the packages.
export GFS_BIN=$DEB_DIR
# shellcheck source=../integration/lib.sh
source tests/integration/lib.sh
# The packaged units listen on loopback, where no secret is needed, as
# installed; the clients in the root send no key.
open_cluster
# shellcheck source=../integration/netns.sh
source tests/integration/netns.sh
# shellcheck source=multihost.sh
source tests/packaging/multihost.sh

PKGS=(gfs-master gfs-chunkserver gfs-client)
DEBS=()
for p in "${PKGS[@]}"; do
	DEBS+=("$(ls "$DEB_DIR/${p}_"*.deb 2>/dev/null | head -n 1)")
	[ -f "${DEBS[-1]}" ] || fail "no $p package in $DEB_DIR (make deb)"
done
VERSION=$(dpkg-deb -f "${DEBS[0]}" Version)
grep -q "#define GFS_VERSION \"$VERSION\"" common/constants.h ||
	fail "package version $VERSION is not GFS_VERSION of common/constants.h"
R=$T/root
# in_root_now: "PID:NAME" of each process running in the root.
in_root_now() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] &&
			echo "${p#/proc/}:$(cat "$p/comm" 2>/dev/null)"
	done
}
# Nothing started in the root outlives the test: a process still running
# there a second after every PID was stopped is a leak, which fails the
# test (and is killed before the root is removed).
root_leftovers() {
	local p left i
	for ((i = 0; i < 20; i++)); do
		left=$(in_root_now)
		[ -n "$left" ] || return 0
		sleep 0.05
	done
	log "FAIL: still running in the root after the test:" $left
	TEST_FAILED=1
	for p in $left; do kill -KILL "${p%%:*}" 2>/dev/null; done
}
CLEANUP_HOOKS+=(root_leftovers)
# The release the packages were built on (Debian 12: bookworm).
SUITE=$(. /etc/os-release && echo "$VERSION_CODENAME")

# in_root CMD...: run CMD in the installed root.
in_root() { chroot "$R" "$@"; }

# step WHAT: a check begins (the one before it passed).
STEPS=0
step() {
	STEPS=$((STEPS + 1))
	log "== $* (${SECONDS}s)"
}

# lintian runs while the root is made (it reads only the .deb files; the
# root waits mostly on the mirror): start_lintian, then check_lintian.
start_lintian() {
	step "lintian (beside the root)"
	{
		lintian --fail-on error,warning "${DEBS[@]}" 2>&1 |
			grep -v '^running with root' >"$T/lintian.log"
		echo "${PIPESTATUS[0]}" >"$T/lintian.rc"
	} &
	LINTIAN_PID=$!
}

check_lintian() {
	step "lintian's findings"
	wait "$LINTIAN_PID"
	cat "$T/lintian.log" >&2
	[ "$(cat "$T/lintian.rc" 2>/dev/null)" = 0 ] ||
		fail "lintian reports errors or warnings"
}

# A fresh root with the packages installed as an operator would.
make_root() {
	step "fresh Debian $SUITE root, dpkg -i, apt-get -f install"
	mmdebstrap --mode=root --variant=apt --dpkgopt=force-unsafe-io \
		--include=systemd,man-db \
		--customize-hook="copy-in ${DEBS[*]} /tmp" \
		--customize-hook='chroot "$1" sh -c "dpkg -i /tmp/gfs-*.deb ||
			DEBIAN_FRONTEND=noninteractive apt-get install -y -f"' \
		"$SUITE" "$R" </dev/null >"$T/mmdebstrap.log" 2>&1 ||
		fail "mmdebstrap: $(tail -n 20 "$T/mmdebstrap.log")"
	for p in "${PKGS[@]}"; do
		assert_eq "$(in_root dpkg-query -W -f='${Status}' "$p")" \
			"install ok installed" "$p in the root"
	done
	mount --bind /dev "$R/dev" && TMPFS+=("$R/dev") || fail "bind /dev"
	mount -t proc proc "$R/proc" && TMPFS+=("$R/proc") || fail "mount proc"
	mount -t sysfs sys "$R/sys" && TMPFS+=("$R/sys") || fail "mount sys"
}

check_versions() {
	local p out
	step "--version of every program"
	for p in /usr/sbin/gfs-master /usr/sbin/gfs-chunkserver /usr/bin/gfs \
		/usr/bin/gfs-fuse; do
		out=$(in_root "$p" --version) || fail "$p --version failed"
		[[ "$out" == *" $VERSION"* ]] || fail "$p --version: '$out'"
	done
}

check_user() {
	local pw uid gid home shell
	step "the gfs user and /var/lib/gfs"
	pw=$(in_root getent passwd gfs) || fail "no user gfs"
	IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
	[ "$uid" -lt 1000 ] || fail "gfs is not a system user: uid $uid"
	assert_eq "$home" /var/lib/gfs "home of gfs"
	assert_eq "$shell" /usr/sbin/nologin "shell of gfs"
	assert_eq "$(in_root getent group gfs | cut -d: -f3)" "$gid" "group gfs"
	assert_eq "$(in_root stat -c '%U:%G %a' /var/lib/gfs)" "gfs:gfs 750" \
		"/var/lib/gfs"
}

# option_names PROG: the long options of PROG --help, but help, version
# and config, one a line, sorted.
option_names() {
	in_root "$1" --help | sed -n 's/^  --\([a-z0-9-]*\).*/\1/p' |
		grep -vx 'help\|version\|config' | sort
}

# setting_names FILE: the settings a config file sets or shows commented.
setting_names() {
	sed -n 's/^#\{0,1\}\([a-z0-9-]*\) *=.*/\1/p' "$R$1" | sort
}

# man_text PAGE: a man page of the root, hyphens unescaped.
man_text() { zcat "$R/usr/share/man/$1.gz" | sed 's/\\-/-/g'; }

check_conffiles() {
	local spec file prog page conffiles n text
	step "conffiles list every setting; programs read them; man pages"
	conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' "${PKGS[@]}")
	for spec in master.conf:sbin/gfs-master:gfs-master.conf \
		backup.conf:sbin/gfs-master:gfs-master.conf \
		chunkserver.conf:sbin/gfs-chunkserver:gfs-chunkserver.conf \
		fuse.conf:bin/gfs-fuse:gfs-fuse.conf gfs.conf:bin/gfs:gfs.conf; do
		IFS=: read -r file prog page <<<"$spec"
		file=/etc/gfs/$file prog=/usr/$prog
		grep -q "^ $file " <<<"$conffiles" || fail "$file is no conffile"
		diff <(option_names "$prog") <(setting_names "$file") >&2 ||
			fail "$file and $prog --help name different settings"
		in_root "$prog" --config "$file" --help >/dev/null ||
			fail "$prog does not take $file"
		text=$(man_text "man5/$page.5")
		for n in $(option_names "$prog"); do
			grep -q "^\.BI $n " <<<"$text" ||
				fail "$page(5) does not list $n"
		done
	done
	for spec in man8/gfs-master.8:sbin/gfs-master \
		man8/gfs-chunkserver.8:sbin/gfs-chunkserver man1/gfs.1:bin/gfs \
		man1/gfs-fuse.1:bin/gfs-fuse; do
		IFS=: read -r page prog <<<"$spec"
		text=$(man_text "$page")
		for n in $(option_names "/usr/$prog") help version config; do
			grep -q -- "--$n\b" <<<"$text" ||
				fail "$page does not describe --$n"
		done
	done
	[ -f "$R/usr/share/man/man8/mount.fuse.gfs.8.gz" ] ||
		fail "no man page for mount.fuse.gfs"
}

check_units() {
	local u out
	step "systemd-analyze verify"
	cp "$R/usr/share/doc/gfs-client/examples/mnt-gfs.mount" \
		"$R/etc/systemd/system/" || fail "no example mount unit"
	mkdir -p "$R/mnt/gfs"
	for u in gfs-master.service gfs-backup.service \
		gfs-chunkserver@7080.service mnt-gfs.mount; do
		out=$(in_root systemd-analyze verify "$u" 2>&1) ||
			fail "systemd-analyze verify $u: $out"
		[ -z "$out" ] || fail "systemd-analyze verify $u: $out"
		[ "$u" = mnt-gfs.mount ] && continue
		out=$(cat "$R/lib/systemd/system/${u/@7080/@}")
		grep -qx "User=gfs" <<<"$out" || fail "$u does not run as gfs"
		grep -qx "ProtectSystem=strict" <<<"$out" ||
			fail "$u is not sandboxed"
	done
	rm "$R/etc/systemd/system/mnt-gfs.mount"
}

# unit_value UNIT INSTANCE KEY: KEY= of an installed unit, %i replaced.
unit_value() {
	sed -n "s/^$3=//p" "$R/lib/systemd/system/$1" | sed "s/%i/$2/g"
}

# start_unit UNIT INSTANCE LOG ARGS...: what systemd would start for the
# unit (its ExecStart as its User, its StateDirectory made), plus ARGS.
start_unit() {
	local unit=$1 inst=$2 logf=$3 user cmd
	shift 3
	user=$(unit_value "$unit" "$inst" User)
	in_root install -d -o "$user" -g "$user" -m 0750 \
		"/var/lib/$(unit_value "$unit" "$inst" StateDirectory)"
	read -ra cmd <<<"$(unit_value "$unit" "$inst" ExecStart)"
	chroot --userspec="$user:$user" "$R" "${cmd[@]}" "$@" \
		>>"$T/$logf.log" 2>&1 &
	PIDS+=("$!")
}

# reload_unit UNIT PID LOG: what systemctl reload runs (ExecReload, with
# $MAINPID), then the master's log says it read its keys again.
reload_unit() {
	local cmd
	cmd=$(unit_value "$1" "" ExecReload)
	[ -n "$cmd" ] || fail "$1 has no ExecReload"
	cmd=${cmd//'${MAINPID}'/$2}
	eval "in_root $cmd" || fail "ExecReload of $1: $cmd"
	wait_for 10 "$1 to take the reload" grep -q "SIGHUP: " "$T/$3.log"
}

start_services() {
	local mp bp i port
	step "the cluster from the units, as gfs, from /etc/gfs"
	mp=$(free_port) bp=$(free_port)
	MASTER_URL=http://127.0.0.1:$mp BACKUP_URL=http://127.0.0.1:$bp
	MASTERS=$MASTER_URL,$BACKUP_URL
	start_unit gfs-master.service "" master --listen "127.0.0.1:$mp"
	wait_for 10 "gfs-master" http_ok "$MASTER_URL/api/v1/healthz"
	reload_unit gfs-master.service "${PIDS[-1]}" master
	start_unit gfs-backup.service "" backup --listen "127.0.0.1:$bp" \
		--backup-of "$MASTER_URL"
	wait_for 10 "gfs-backup" http_ok "$BACKUP_URL/api/v1/healthz"
	for i in 0 1 2; do
		port=$(free_port)
		start_unit gfs-chunkserver@.service "$port" "cs$i" \
			--master "$MASTERS"
	done
	wait_for 20 "3 live chunkservers" alive_at_least "$MASTER_URL" 3
	assert_eq "$(in_root sh -c 'stat -c %U /var/lib/gfs/master/log.*' |
		sort -u)" gfs "owner of the master's log"
}

# root_fuse_pids: the gfs-fuse processes running in the root.
root_fuse_pids() {
	local p
	for p in $(pgrep -x gfs-fuse); do
		[ "$(readlink "/proc/$p/root")" = "$R" ] && echo "$p"
	done
}

# mount_root DIR [MOUNT_ARGS...]: mount(8) in the root, wait for it; sets
# FUSE_PID to the gfs-fuse that serves it.
mount_root() {
	local dir=$1 before p
	shift
	mkdir -p "$R$dir"
	MOUNTS+=("$R$dir")
	before=" $(root_fuse_pids | tr '\n' ' ')"
	in_root mount "$@" >>"$T/mount.log" 2>&1 ||
		fail "mount $*: $(tail -n 5 "$T/mount.log")"
	wait_for 10 "mount at $dir" mountpoint -q "$R$dir"
	FUSE_PID=
	for p in $(root_fuse_pids); do
		[[ "$before" == *" $p "* ]] || FUSE_PID=$p
	done
	[ -n "$FUSE_PID" ] || fail "no gfs-fuse for $dir"
	PIDS+=("$FUSE_PID")
}

# umount_root DIR PID: umount(8) in the root; gfs-fuse PID must end (if
# not, say where each of its threads waits).
umount_root() {
	local t
	in_root umount "$1" || fail "umount $1"
	for ((t = 0; t < 200; t++)); do
		kill -0 "$2" 2>/dev/null || return 0
		sleep 0.05
	done
	for t in /proc/"$2"/task/*; do
		log "gfs-fuse thread $(cat "$t/comm"): $(cat "$t/wchan")"
	done
	fail "gfs-fuse of $1 still runs 10s after umount"
}

check_fstab() {
	local pid pid2 status p
	step "mount from /etc/fstab"
	cat >"$R/etc/fstab" <<-EOF
		gfs /mnt/gfs fuse.gfs master=$MASTERS,_netdev 0 0
		$MASTERS /mnt/gfs2 fuse.gfs config=/etc/gfs/fuse.conf,drop_privileges,client_id=pkgtest,nofail 0 0
	EOF
	mount_root /mnt/gfs /mnt/gfs
	pid=$FUSE_PID
	grep -q "^gfs $R/mnt/gfs fuse.gfs " /proc/mounts ||
		fail "not in /proc/mounts as gfs, fuse.gfs: $(grep "$R" /proc/mounts)"
	random_file "$T/a" 3000000
	mkdir -p "$R/mnt/gfs/pkg" && cp "$T/a" "$R/mnt/gfs/pkg/a" ||
		fail "cp into the mount"
	in_root gfs --master "$MASTERS" download /pkg/a /tmp/a >/dev/null ||
		fail "gfs download of what the mount wrote"
	assert_same_file "$T/a" "$R/tmp/a" "through the mount, then gfs"

	step "mount with drop_privileges, the masters as the source"
	mount_root /mnt/gfs2 /mnt/gfs2
	pid2=$FUSE_PID
	grep -q "^$MASTERS $R/mnt/gfs2 fuse.gfs " /proc/mounts ||
		fail "not in /proc/mounts as in fstab: $(grep "$R" /proc/mounts)"
	status=$(cat "/proc/$pid2/status")
	grep -q "^CapEff:	0*$" <<<"$status" || fail "gfs-fuse kept capabilities"
	grep -q "^NoNewPrivs:	1$" <<<"$status" || fail "gfs-fuse may gain privileges"
	assert_same_file "$T/a" "$R/mnt/gfs2/pkg/a" "the second mount reads it"
	cp "$T/a" "$R/mnt/gfs2/pkg/b" || fail "cp into the unprivileged mount"
	assert_same_file "$T/a" "$R/mnt/gfs/pkg/b" "the first mount reads it"
	in_root mount -a || fail "mount -a"
	assert_eq "$(grep -c " $R/mnt/" /proc/mounts)" 2 "mounts after mount -a"
	umount_root /mnt/gfs2 "$pid2"
	umount_root /mnt/gfs "$pid"
}

# The example mount unit's What, Where, Type and Options, as systemd passes
# them to mount(8), with this cluster's masters.
check_mount_unit() {
	local unit=$R/usr/share/doc/gfs-client/examples/mnt-gfs.mount
	local what where type opts
	step "the example mount unit's options"
	what=$(sed -n 's/^What=//p' "$unit") where=$(sed -n 's/^Where=//p' "$unit")
	type=$(sed -n 's/^Type=//p' "$unit") opts=$(sed -n 's/^Options=//p' "$unit")
	opts=${opts/http:\/\/m1:7070,http:\/\/m2:7071/$MASTERS}
	[[ "$opts" == *"$MASTERS"* ]] || fail "no masters to set in $unit"
	echo "{\"cat\": 1}" >"$T/c"
	mount_root "$where" "$what" "$where" -t "$type" -o "$opts"
	cp "$T/c" "$R$where/pkg/c" && assert_same_file "$T/c" "$R$where/pkg/c"
	umount_root "$where" "$FUSE_PID"
	in_root gfs --master "$MASTERS" ls /pkg | grep " /pkg/c$" >/dev/null ||
		fail "the file written through the unit's mount is not listed"
}

start_lintian
make_root
check_lintian
check_versions
check_user
check_conffiles
check_units
start_services
check_fstab
check_mount_unit
check_multihost
log "done in ${SECONDS}s"
echo "debtest: $STEPS passed, 0 failed"
