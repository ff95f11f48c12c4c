# split_lib.sh - what the network-partition tests share (source after
# lib.sh and netns.sh): a cluster of masters, chunkservers and clients in
# namespaces; clients that create and upload every 200 ms and log every
# acknowledgement; the checks that none was lost or changed and that no
# two epochs acknowledged in overlapping time.
#
#   split_masters              namespaces m1 and m2, their URLs in URL[]
#                              (declare -A URL first), SPLIT_MASTERS
#   split_chunkservers N       chunkservers c0..c(N-1), one namespace each,
#                              heartbeats every SPLIT_HEARTBEAT (500ms)
#   split_clients SIDE...      a client loop per side, in namespace cl-SIDE
#   split_stop_clients         stop them (they finish their round)
#   split_acks SIDE [EPOCH]    creates SIDE had acknowledged (at EPOCH)
#   split_verify NS URL        every acknowledged create and upload is
#                              there, byte for byte, on the leader at URL
#                              (asked from NS: followers may lag)
#   split_no_overlap           each epoch's acknowledgements lie in a time
#                              interval of one master, and the intervals
#                              of different epochs do not overlap
#
# SPLIT_MASTERS (comma-separated master URLs) must be set first
# (split_masters does).

SPLIT_CLIENTS=()

# ns_curl NS ARGS...: curl from inside NS with a short deadline.
ns_curl() {
	local ns=$1
	shift
	ns_exec "$ns" curl -sf --max-time 2 "$@"
}

split_masters() {
	local m
	for m in m1 m2; do
		ns_add "$m"
		URL[$m]=http://$(ns_ip "$m"):7070
	done
	SPLIT_MASTERS=${URL[m1]},${URL[m2]}
}

split_chunkservers() {
	local i ip
	for ((i = 0; i < $1; i++)); do
		ns_add "c$i"
		ip=$(ns_ip "c$i")
		mkdir -p "$T/cs$i"
		# shellcheck disable=SC2046
		ns_start "c$i" "$T/cs$i.log" "$GFS_BIN/gfs-chunkserver" \
			--listen "$ip" --data "$T/cs$i" --master "$SPLIT_MASTERS" \
			--heartbeat-interval "${SPLIT_HEARTBEAT:-500ms}" \
			$(cs_auth) 7080
	done
}

# The client loop, run inside its namespace: create /SIDE/cN with curl
# (the reply's X-GFS-Epoch is logged with the time it arrived), upload
# /SIDE/uN with gfs, every 200 ms, until $T/stop exists.
split_write_client() {
	cat >"$T/client.sh" <<'EOF'
side=$1 masters=$2 T=$3 BIN=$4
IFS=, read -ra ms <<<"$masters"
cur=0 n=0
mkdir -p "$T/src"
while [ ! -e "$T/stop" ] && [ $n -lt 3000 ]; do
	n=$((n + 1))
	for ((try = 0; try < ${#ms[@]}; try++)); do
		m=${ms[$(((cur + try) % ${#ms[@]}))]}
		resp=$(curl -s -o /dev/null -D - -w 'CODE %{http_code}' \
			--connect-timeout 1 --max-time 3 -X PUT "$m/api/v1/files/$side/c$n")
		code=${resp##*CODE }
		if [ "$code" = 201 ]; then
			epoch=$(tr -d '\r' <<<"$resp" | awk 'tolower($1) == "x-gfs-epoch:" {print $2}')
			echo "$(date +%s%N) $epoch $m /$side/c$n" >>"$T/acks.$side"
			cur=$(((cur + try) % ${#ms[@]}))
			break
		fi
		# 409: an earlier try went through without an answer
		[ "$code" = 409 ] && break
	done
	f=$T/src/$side-u$n
	head -c $(((n * 7919) % 150000 + 1)) /dev/urandom >"$f"
	# the master that answered last first, as a long-lived client would
	order=${ms[$cur]}
	for m in "${ms[@]}"; do [ "$m" = "${ms[$cur]}" ] || order+=",$m"; done
	if timeout 4 "$BIN/gfs" --master "$order" upload "$f" "/$side/u$n" \
		>/dev/null 2>>"$T/client-$side.err"; then
		echo "$(date +%s%N) /$side/u$n" >>"$T/uploads.$side"
	fi
	sleep 0.2
done
EOF
}

split_clients() {
	local side
	split_write_client
	for side in "$@"; do
		ns_add "cl-$side"
		ns_start "cl-$side" "$T/client-$side.log" bash "$T/client.sh" \
			"$side" "$SPLIT_MASTERS" "$T" "$GFS_BIN"
		SPLIT_CLIENTS+=("$NS_PID")
	done
}

split_stop_clients() {
	local p
	touch "$T/stop"
	for p in "${SPLIT_CLIENTS[@]}"; do wait "$p" 2>/dev/null; done
}

# split_acks SIDE [EPOCH]: how many creates SIDE had acknowledged.
split_acks() {
	[ -f "$T/acks.$1" ] || { echo 0; return; }
	if [ $# -gt 1 ]; then
		awk -v e="$2" '$2 == e' "$T/acks.$1" | wc -l
	else
		wc -l <"$T/acks.$1"
	fi
}

# split_acks_since SIDE NS_TIME: acknowledgements after a moment.
split_acks_since() {
	[ -f "$T/acks.$1" ] || { echo 0; return; }
	awk -v t="$2" '$1 > t' "$T/acks.$1" | wc -l
}

split_uploads() { [ -f "$T/uploads.$1" ] && wc -l <"$T/uploads.$1" || echo 0; }

# Checked from inside a namespace that reaches the leader, by one gfs
# process (commands on stdin: one connection, not one process per file):
# fails listing every acknowledged create or upload missing or changed.
split_verify() {
	local p side
	cat "$T"/acks.* 2>/dev/null | awk '{print $4}' >"$T/want-creates"
	cat "$T"/uploads.* 2>/dev/null | awk '{print $2}' >"$T/want-uploads"
	log "checking $(wc -l <"$T/want-creates") acknowledged creates and $(wc -l <"$T/want-uploads") uploads"
	rm -rf "$T/back" && mkdir -p "$T/back"
	{
		sed 's/^/stat /' "$T/want-creates"
		while read -r p; do echo "download $p $T/back/${p//\//_}"; done <"$T/want-uploads"
	} >"$T/verify.cmds"
	ns_exec "$1" "$GFS_BIN/gfs" --json --master "$2" <"$T/verify.cmds" >"$T/verify.out" 2>&1
	: >"$T/lost"
	while read -r p; do
		grep -qF "\"path\": \"$p\"" "$T/verify.out" ||
			echo "MISSING create $p" >>"$T/lost"
	done <"$T/want-creates"
	while read -r p; do
		side=${p#/}
		side=${side%%/*}
		if [ ! -f "$T/back/${p//\//_}" ]; then
			echo "MISSING upload $p" >>"$T/lost"
		elif ! cmp -s "$T/back/${p//\//_}" "$T/src/$side-${p##*/}"; then
			echo "CHANGED upload $p" >>"$T/lost"
		fi
	done <"$T/want-uploads"
	if [ -s "$T/lost" ]; then
		head -n 20 "$T/lost" >&2
		grep -i "gfs:" "$T/verify.out" | head -n 5 >&2
		fail "$(wc -l <"$T/lost") acknowledged writes lost or changed"
	fi
}

split_no_overlap() {
	cat "$T"/acks.* | sort -n | awk '
	{
		t = $1; e = $2
		if (!(e in first)) { first[e] = t; order[++k] = e; who[e] = $3 }
		if (who[e] != $3) { print "epoch " e " acknowledged by " who[e] " and " $3; bad = 1 }
		last[e] = t
	}
	END {
		for (i = 1; i <= k; i++) {
			printf "epoch %s: %s acknowledged from %d to %d ms\n", order[i], who[order[i]], first[order[i]] / 1e6 % 1e6, last[order[i]] / 1e6 % 1e6 > "/dev/stderr"
			for (j = i + 1; j <= k; j++) {
				a = order[i]; b = order[j]
				if (last[a] >= first[b]) { print "epochs " a " and " b " overlap"; bad = 1 }
				if (a + 0 >= b + 0) { print "epoch " b " acknowledged before epoch " a; bad = 1 }
			}
		}
		exit bad
	}' >"$T/overlap" || fail "acknowledgements overlap: $(cat "$T/overlap")"
}
