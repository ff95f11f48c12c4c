#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages needed to build, test and run
# GFS.  Idempotent: installs only what is missing, and runs apt-get update
# only when something is.
set -euo pipefail

packages=(
	gcc make pkg-config                 # build
	libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libfuse3-dev
	libisal-dev uthash-dev              # libraries (ISA-L: CRC32C)
	libunistring-dev                    # UTF-8 checks of names
	libssl-dev                          # libcrypto: base64 for etcd
	openssl                             # tests: TLS certificates
	libcriterion-dev                    # unit tests
	fuse3 attr curl rsync psmisc procps iproute2 coreutils util-linux time
	valgrind jq                         # make valgrind; tests read JSON
	python3                             # tests: proxies and slow clients
	autoconf automake perl              # pjdfstest: its build, prove
	debhelper dpkg-dev fakeroot         # make deb
	lintian mmdebstrap                  # make debtest: check, fresh root
	strace                              # tests slow a client's reads down
	etcd-server etcd-client             # masters with --etcd; make run
	iptables                            # tests cut links in netns
	chromium python3-websocket          # the web page's test (DevTools)
	prometheus                          # the metrics test (and promtool)
	iptables                            # tests cut links in netns
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
		|| missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#packages[@]} packages present"
	exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
