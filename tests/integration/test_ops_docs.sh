#!/usr/bin/env bash
# docs/operations.md and README.md are run as written: every ```sh block,
# in order, the runbook on one machine made to look like its example
# cluster, so that neither can rot (README.md, "Docs that are tested").
#
# The test re-runs itself in a private mount and network namespace: there
# the hosts m1, m2, cs1...cs5 are loopback addresses named in /etc/hosts,
# and /etc, /var, /mnt and /usr/sbin are overlays whose changes vanish
# with the namespace, so the page's paths (/etc/gfs/master.conf,
# /var/lib/gfs/master, /mnt/gfs, /sbin/mount.fuse.gfs) and fixed ports
# (7070, 7071, 7080) touch nothing outside.  tests/integration/doctest.py
# turns each page into a script; the doc_* functions below are what its
# skipped blocks run instead (no systemd here: the units' command lines).
# Before, tests/integration/docrefs.py checks that every command, option,
# setting and route that README.md and docs/*.md name exists.
if [ -z "${GFS_DOC_NS:-}" ]; then
	exec unshare --mount --net --propagation private \
		env GFS_DOC_NS=1 bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT" || fail "no $ROOT"
# What every doc names exists: commands, options, settings, routes.
python3 "$HERE/docrefs.py" "$GFS_BIN" $(grep -l 'GFS_API "/' master/*.c chunkserver/*.c) \
	-- README.md docs/*.md || fail "the docs name what does not exist"

DOCS=(${DOCS:-docs/operations.md README.md})
for d in "${DOCS[@]}"; do
	python3 "$HERE/doctest.py" "$d" >>"$T/doc.sh" || fail "$d breaks the doc-test rules"
done

ip link set lo up || fail "no loopback in the namespace"
# overlay DIR: DIR's changes go to $T from now on.
overlay() {
	local n=${1//\//_}
	mkdir -p "$T/ov$n/up" "$T/ov$n/work"
	mount -t overlay "ov$n" -o "lowerdir=$1,upperdir=$T/ov$n/up,workdir=$T/ov$n/work" "$1" ||
		fail "cannot overlay $1"
	TMPFS+=("$1")
}
overlay /etc
overlay /var
overlay /mnt
declare -A ADDR=([m1]=127.0.1.1 [m2]=127.0.1.2 [cs1]=127.0.1.11 [cs2]=127.0.1.12
	[cs3]=127.0.1.13 [cs4]=127.0.1.14 [cs5]=127.0.1.15)
declare -A PORT=([m1]=7070 [m2]=7071)
for h in "${!ADDR[@]}"; do echo "${ADDR[$h]} $h"; done >>/etc/hosts
export PATH="$GFS_BIN:$PATH"
unset -f gfs # lib.sh's, which names the masters: the page's gfs finds them itself
export CURL_HOME=$AUTH_DIR/nocurl # the page's curl sends the page's keys alone
MOUNTS+=(/mnt/gfs)

doc_at() { DOC_AT=$1; log "doc: $1"; }
doc_skip() { log "doc: $1 not run: $2"; }
# doc_file PATH: the text on stdin becomes PATH.
doc_file() { mkdir -p "$(dirname "$1")" && cat >"$1"; }
# doc_install: what installing the packages gives that build/bin lacks,
# the mount(8) helper in /sbin, calling the programs of build/bin.
doc_install() {
	mkdir -p "$T/sbin"
	sed "s|@BINDIR@|$GFS_BIN|" "$ROOT/packaging/mount.fuse.gfs" >"$T/sbin/mount.fuse.gfs"
	chmod 755 "$T/sbin/mount.fuse.gfs"
	mount -t overlay ov_sbin -o "lowerdir=$T/sbin:/usr/sbin" /usr/sbin ||
		fail "cannot add the mount helper to /usr/sbin"
	TMPFS+=(/usr/sbin)
}
declare -A HOST_PID=()
# doc_serve NAME URL COMMAND...: start a server, wait until URL answers.
doc_serve() {
	local h=$1 url=$2
	shift 2
	"$@" >>"$T/$h.log" 2>&1 &
	HOST_PID[$h]=$!
	PIDS+=("$!")
	wait_for 15 "$h at $url" http_ok "$url/api/v1/healthz"
}
# doc_start HOST COMMAND...: a service of HOST, as its unit would run it.
doc_start() { doc_serve "$1" "http://$1:${PORT[$1]:-7080}" "${@:2}"; }
# local_alive N: make run's primary calls N chunkservers alive.
local_alive() {
	[ "$(curl -q -sf --max-time 2 -H "Authorization: Bearer $(cat var/admin.key)" \
		http://127.0.0.1:7070/api/v1/status | grep -o '"alive":true' | wc -l)" -ge "$1" ]
}
# doc_run_local: the servers of make run (scripts/run-local.sh) with its
# ports on 127.0.0.1, and in the working directory the README's files.
doc_run_local() {
	local p
	mkdir -p "$T/local/var" && cd "$T/local" || return 1
	# make run's credentials (scripts/run-local.sh)
	(umask 077 && head -c 32 /dev/urandom | base64 >var/secret &&
		head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >var/admin.key &&
		echo "admin $(cat var/admin.key) rw" >var/keys) || return 1
	local sec=(--secret-file "$PWD/var/secret")
	doc_serve local-m http://127.0.0.1:7070 gfs-master --data master "${sec[@]}" \
		--keys "$PWD/var/keys"
	doc_serve local-b http://127.0.0.1:7071 gfs-master --listen 127.0.0.1:7071 \
		--data backup --backup-of http://127.0.0.1:7070 "${sec[@]}" --keys "$PWD/var/keys"
	for p in 7080 7081 7082 7083; do
		doc_serve "local-$p" "http://127.0.0.1:$p" gfs-chunkserver --data "cs$p" \
			--master http://127.0.0.1:7070,http://127.0.0.1:7071 "${sec[@]}" "$p"
	done
	wait_for 30 "4 live chunkservers" local_alive 4
	random_file big.iso $((3 << 20))
	echo "notes" >notes.txt
}
# doc_stop HOST: systemctl stop (SIGTERM, then wait for the exit).
doc_stop() {
	local p=${HOST_PID[$1]}
	kill -TERM "$p" && wait "$p"
	unset 'HOST_PID[$1]'
}
# doc_wait_alive N: m1 calls N chunkservers alive.
doc_wait_alive() { wait_for 30 "$1 live chunkservers" alive_at_least http://m1:7070 "$1"; }

# The page's own waits (until ...; do sleep 1; done) have no deadline:
# this one bounds them all.
( sleep "${DOC_DEADLINE:-150}"; log "FAIL: ${DOC_AT:-?} still running after ${DOC_DEADLINE:-150}s"
  kill -TERM $$ ) &
PIDS+=("$!")
DOC_AT=start
trap 'fail "$DOC_AT: failed: $BASH_COMMAND"' ERR
set -eE
# shellcheck disable=SC1091
source "$T/doc.sh"
set +eE
trap - ERR
log "ran every command of ${DOCS[*]}"
