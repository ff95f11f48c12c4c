# multihost.sh - the packages deployed on seven hosts, the way an
# operator would: sourced by test_deb.sh, which made the root $R and
# installed the packages there (check_multihost runs last).
#
# Each host is a network namespace (tests/integration/netns.sh: one
# bridge, 10.77.0.N) in which the installed root runs with the host's
# own /etc/gfs and /var/lib/gfs bind-mounted over the root's: m1 runs
# gfs-master.service, m2 gfs-backup.service, cs1..cs4
# gfs-chunkserver@7080.service, each from its unit's command line as gfs,
# on the default ports of its own address (names from the root's
# /etc/hosts, as docs/operations.md writes the config files), with the
# cluster's secret and keys as a deployment off loopback needs them;
# client1 mounts from /etc/fstab and uses gfs.  Then cs's link is cut
# (ip link set eth0 down): the master calls it dead and every chunk has
# three live copies again; files change meanwhile; the link comes back
# and the server's stale and surplus copies go, until its disk holds
# just what the master lists.  About 30 s.

HOSTS=(m1 m2 cs1 cs2 cs3 cs4 client1)
CSS=(cs1 cs2 cs3 cs4)
MH=$T/hosts   # MH/NAME/etc and MH/NAME/lib: a host's /etc/gfs, /var/lib/gfs

# host_run NAME CMD...: CMD as root in host NAME (its network, its
# /etc/gfs and /var/lib/gfs, the root's files).
host_run() {
	local h=$1
	shift
	ns_exec "$h" sh -c 'mount --bind "$1/etc" "$2/etc/gfs" &&
		mount --bind "$1/lib" "$2/var/lib/gfs" && shift 1 &&
		exec chroot "$@"' sh "$MH/$h" "$R" "$@"
}

# set_conf NAME FILE SETTING VALUE: what an operator does with an editor:
# the setting's line (commented out or not) becomes "SETTING = VALUE".
set_conf() {
	local f=$MH/$1/etc/$2
	grep -q "^#\{0,1\}$3 = " "$f" || fail "$2 has no setting $3"
	sed -i "s|^#\{0,1\}$3 = .*|$3 = $4|" "$f"
}

# host_service NAME UNIT INSTANCE: start what systemd would for the unit
# (its ExecStart as its User, its StateDirectory made) in host NAME.
# ns_start, not a function put in the background: that would leave in
# PIDS a subshell, whose end the service outlives.
host_service() {
	local h=$1 unit=$2 inst=$3 user cmd
	user=$(unit_value "$unit" "$inst" User)
	host_run "$h" install -d -o "$user" -g "$user" -m 0750 \
		"/var/lib/$(unit_value "$unit" "$inst" StateDirectory)" ||
		fail "state directory of $unit on $h"
	read -ra cmd <<<"$(unit_value "$unit" "$inst" ExecStart)"
	ns_start "$h" "$T/$h.log" sh -c 'mount --bind "$1/etc" "$2/etc/gfs" &&
		mount --bind "$1/lib" "$2/var/lib/gfs" && shift 2 &&
		exec chroot "$@"' sh "$MH/$h" "$R" --userspec="$user:$user" "$R" \
		"${cmd[@]}"
}

# The hosts, their names, their config files.
mh_hosts() {
	local h uid
	ns_setup
	for h in "${HOSTS[@]}"; do ns_add "$h"; done
	for h in "${HOSTS[@]}"; do echo "$(ns_ip "$h") $h"; done >>"$R/etc/hosts"
	uid=$(in_root id -u gfs)
	# the cluster's secret and an admin key (docs/operations.md): off
	# loopback, servers refuse to run without them
	(umask 077 && head -c 32 /dev/urandom | base64 >"$T/secret" &&
		head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/admin.key" &&
		echo "admin $(cat "$T/admin.key") rw" >"$T/keys") || fail "secret and keys"
	for h in "${HOSTS[@]}"; do
		mkdir -p "$MH/$h/lib"
		cp -a "$R/etc/gfs" "$MH/$h/etc"
		chown "$uid:$uid" "$MH/$h/lib" && chmod 750 "$MH/$h/lib"
		case $h in
		m*) install -m 600 -o "$uid" "$T/secret" "$T/keys" "$MH/$h/etc/" ;;
		cs*) install -m 600 -o "$uid" "$T/secret" "$MH/$h/etc/" ;;
		*) install -m 600 "$T/admin.key" "$MH/$h/etc/" ;;
		esac || fail "credentials of $h"
	done
	set_conf m1 master.conf listen m1:7070
	set_conf m2 backup.conf listen m2:7071
	set_conf m2 backup.conf backup-of http://m1:7070
	for h in m1:master.conf m2:backup.conf; do
		# small chunks and quick timings, to keep the test short
		set_conf "${h%%:*}" "${h#*:}" chunk-size 1M
		set_conf "${h%%:*}" "${h#*:}" dead-after 3s
		set_conf "${h%%:*}" "${h#*:}" gc-interval 1s
		set_conf "${h%%:*}" "${h#*:}" secret-file /etc/gfs/secret
		set_conf "${h%%:*}" "${h#*:}" keys /etc/gfs/keys
	done
	for h in "${CSS[@]}"; do
		set_conf "$h" chunkserver.conf listen "$h"
		set_conf "$h" chunkserver.conf master http://m1:7070,http://m2:7071
		set_conf "$h" chunkserver.conf heartbeat-interval 500ms
		set_conf "$h" chunkserver.conf secret-file /etc/gfs/secret
	done
	set_conf client1 gfs.conf master http://m1:7070,http://m2:7071
	set_conf client1 gfs.conf key-file /etc/gfs/admin.key
	MASTER_URL=http://$(ns_ip m1):7070
}

# mh_api PATH: GET PATH of the primary's API, from client1.
mh_api() {
	ns_exec client1 curl -q -sf --max-time 3 -H "Authorization: Bearer $(cat "$T/admin.key")" \
		"$MASTER_URL/api/v1$1"
}
mh_alive() { [ "$(mh_api /status | jq '[.chunkservers[] | select(.alive)] | length')" = "$1" ]; }

mh_services() {
	local h
	host_service m1 gfs-master.service ""
	host_service m2 gfs-backup.service ""
	for h in "${CSS[@]}"; do
		host_service "$h" gfs-chunkserver@.service 7080
	done
	wait_for 20 "four live chunkservers" mh_alive 4
	for h in m1:7070 m2:7071 cs1:7080 cs2:7080 cs3:7080 cs4:7080; do
		ns_exec "${h%%:*}" ss -Hltn "sport = :${h#*:}" >"$T/ss.txt"
		grep -q " $(ns_ip "${h%%:*}"):${h#*:} " "$T/ss.txt" ||
			fail "${h%%:*} does not listen on its address: $(cat "$T/ss.txt")"
	done
	mh_api /status | jq -e --arg u "http://$(ns_ip cs1):7080" \
		'.chunkservers | map(.url) | index("http://cs1:7080") != null' \
		>/dev/null || fail "cs1 does not register as http://cs1:7080"
}

# client CMD...: CMD in client1 as its mount sees it (the mount lives in
# gfs-fuse's mount namespace).
client() { nsenter -t "$MH_FUSE" -m -n chroot "$R" "$@"; }

mh_client() {
	local p i
	step "multi-host: client1 mounts from /etc/fstab and uses gfs"
	echo "gfs /mnt/gfs fuse.gfs master=http://m1:7070,http://m2:7071,key_file=/etc/gfs/admin.key,_netdev 0 0" \
		>"$R/etc/fstab"
	mkdir -p "$R/mnt/gfs"
	host_run client1 mount /mnt/gfs >>"$T/mount.log" 2>&1 ||
		fail "mount on client1: $(tail -n 5 "$T/mount.log")"
	for p in $(pgrep -x gfs-fuse); do
		[ "$(readlink "/proc/$p/root")" = "$R" ] && MH_FUSE=$p
	done
	[ -n "${MH_FUSE:-}" ] || fail "no gfs-fuse on client1"
	PIDS+=("$MH_FUSE")
	mkdir -p "$R/tmp/src"
	for i in 0 1 2 3 4; do random_file "$R/tmp/src/f$i" $((1500000 + i * 300000)); done
	client sh -c 'mkdir -p /mnt/gfs/data && cp /tmp/src/f0 /tmp/src/f1 \
		/tmp/src/f2 /tmp/src/f3 /mnt/gfs/data/' || fail "cp into the mount"
	client gfs --config /etc/gfs/gfs.conf upload /tmp/src/f4 /data/f4 \
		>/dev/null || fail "gfs upload on client1"
	client gfs --config /etc/gfs/gfs.conf status >"$T/status.txt" ||
		fail "gfs status on client1"
	grep -E "^  http://m1:7070 +primary " "$T/status.txt" >/dev/null &&
		grep -E "^  http://m2:7071 +backup " "$T/status.txt" >/dev/null ||
		fail "gfs status: $(cat "$T/status.txt")"
	[ "$(grep -c ' alive ' "$T/status.txt")" = 4 ] || fail "gfs status: $(cat "$T/status.txt")"
	mh_read_back "the writes"
}

# mh_read_back WHEN: every file reads back through the mount and gfs.
mh_read_back() {
	local f
	for f in "$R"/tmp/src/*; do
		f=${f##*/}
		client cmp -s "/tmp/src/$f" "/mnt/gfs/data/$f" ||
			fail "/data/$f through the mount after $1"
		client gfs --config /etc/gfs/gfs.conf --quiet download \
			"/data/$f" /tmp/back >/dev/null || fail "download /data/$f after $1"
		cmp -s "$R/tmp/src/$f" "$R/tmp/back" || fail "/data/$f with gfs after $1"
	done
}

mh_files() { mh_api "/files?prefix=/" | jq -r '.files[].path'; }
# every chunk: 3 distinct live replicas; none under-replicated
mh_replicated() {
	local live f
	live=$(mh_api /status | jq -c '[.chunkservers[] | select(.alive) | .url]') || return 1
	[ "$(mh_api /status | jq .under_replicated)" = 0 ] || return 1
	for f in $(mh_files); do
		mh_api "/files$f" | jq -e --argjson live "$live" '[.chunks[] |
			(.replicas | unique | length == 3) and
			all(.replicas[]; . as $r | $live | index($r))] | all' >/dev/null ||
			return 1
	done
}
# the chunks on host H's disk, and those the master lists H for
mh_on_disk() { chunks_on_disk "$MH/$1/lib/chunkserver-7080"; }
mh_listed() {
	local f
	for f in $(mh_files); do
		mh_api "/files$f" | jq -r --arg u "http://$1:7080" \
			'.chunks[] | select(.replicas | index($u)) | .handle'
	done | sort
}
mh_dead() {
	mh_api /status | jq -e --arg u "http://$1:7080" \
		'.chunkservers[] | select(.url == $u) | .alive == false' >/dev/null
}
mh_in_step() {
	local h
	mh_replicated || return 1
	for h in "${CSS[@]}"; do [ "$(mh_on_disk "$h")" = "$(mh_listed "$h")" ] || return 1; done
}

mh_cut() {
	local v old
	step "multi-host: a chunkserver's link cut and back"
	wait_for 20 "every chunk on 3 servers" mh_replicated
	v=$(mh_api /files/data/f1 | jq -r '.chunks[0].replicas[0]')
	v=${v#http://} v=${v%:7080}
	old=$(mh_api /files/data/f1 | jq -r '.chunks[].handle')
	log "cutting $v ($(mh_on_disk "$v" | wc -l) chunks)"
	ns_exec "$v" ip link set eth0 down || fail "ip link set eth0 down on $v"
	wait_for 15 "the master to call $v dead" mh_dead "$v"
	wait_for 40 "3 live copies of every chunk again" mh_replicated
	mh_read_back "the cut"
	# while it is away: a file replaced (its copies there go stale) and
	# one removed
	random_file "$R/tmp/src/f1" 2100000
	client cp /tmp/src/f1 /mnt/gfs/data/f1 || fail "replace f1 while $v is away"
	client rm /mnt/gfs/data/f3 && rm "$R/tmp/src/f3" || fail "rm f3"
	wait_for 20 "the new chunks on 3 servers" mh_replicated
	ns_exec "$v" ip link set eth0 up || fail "ip link set eth0 up on $v"
	wait_for 20 "$v alive again" mh_alive 4
	wait_for 40 "every disk to hold just what the master lists" mh_in_step
	for h in $old; do
		mh_on_disk "$v" | grep -qx "$h" && fail "stale chunk $h stayed on $v"
	done
	mh_read_back "the return"
	client umount /mnt/gfs || fail "umount on client1"
}

check_multihost() {
	step "multi-host: seven hosts in network namespaces, the packages' services"
	mh_hosts
	mh_services
	mh_client
	mh_cut
}
