#!/usr/bin/env bash
# gfs-master's API with curl only: namespace, writing, leases, redirects,
# status codes and fields as docs/PROTOCOL.md says.  Chunkservers are
# simulated with heartbeats.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1MiB
A=$MASTER_URL/api/v1

# hb URL [BODY_EXTRA]: a full heartbeat of an empty simulated server.
hb() {
	cluster_post "$A/heartbeat" \
		"{\"url\":\"$1\",\"full\":true,\"chunks\":[],\"free_bytes\":100000000000${2:-}}" -f
}
for p in 1 2 3 4; do hb "http://127.0.0.1:900$p" >/dev/null || fail "heartbeat $p"; done

# Namespace.
assert_eq "$(http_status PUT "$A/files/a/b/f.txt")" 201 "create"
assert_eq "$(jq -r .type "$T/last_body")" file
assert_eq "$(jq -r .chunk_size "$T/last_body")" 1048576
assert_eq "$(http_status PUT "$A/files/a/b/f.txt")" 409 "create twice"
assert_eq "$(json_error_code)" exists
assert_eq "$(http_status PUT "$A/files/a/b/f.txt/x")" 409 "below a file"
assert_eq "$(json_error_code)" not_directory
assert_eq "$(http_status PUT "$A/files/d" -d '{"type":"dir"}')" 201 "mkdir"
assert_eq "$(http_status GET "$A/files?dir=/a")" 200
assert_eq "$(jq -r '.entries[0].name + " " + .entries[0].type' "$T/last_body")" "b dir"
assert_eq "$(http_status GET "$A/files?dir=/a/b/f.txt")" 409 "dir= on a file"
assert_eq "$(http_status GET "$A/files?prefix=/a&dirs=1")" 200
assert_eq "$(jq -r '.files | length' "$T/last_body")" 1
assert_eq "$(http_status GET "$A/files?prefix=/&dirs=1")" 200
assert_eq "$(jq -r '[.files[].path] | join(",")' "$T/last_body")" "/a/b/f.txt,/d"
# Pages (docs/PROTOCOL.md): one entry at a time, each page naming the next
for f in p1 p2 p3; do http_status PUT "$A/files/pg/$f" >/dev/null; done
pages() { # pages QUERY KEY: every name over pages of one, and the count
	local c="" n=0 all=""
	while :; do
		assert_eq "$(http_status GET "$A/files?$1&limit=1${c:+&cursor=$c}")" 200 "page $n"
		all="$all $(jq -r ".$2[].$3" "$T/last_body")"
		n=$((n + 1))
		c=$(jq -r '.next // empty' "$T/last_body")
		[ -n "$c" ] || break
	done
	echo "$(echo $all | tr ' ' '\n' | sort | paste -sd,) $n"
}
read -r names n <<<"$(pages dir=/pg entries name)"
assert_eq "$names" p1,p2,p3 "a directory page by page"
[ "$n" -ge 3 ] || fail "$n pages of one for three entries"
read -r names n <<<"$(pages prefix=/pg/ files path)"
assert_eq "$names" /pg/p1,/pg/p2,/pg/p3 "a prefix listing page by page"
assert_eq "$(http_status GET "$A/files?dir=/pg&limit=0")" 400 "limit=0"
assert_eq "$(http_status GET "$A/files?dir=/pg&cursor=zz")" 400 "a cursor not made here"
assert_eq "$(http_status GET "$A/files?prefix=/&cursor=1..2")" 400 "a bad prefix cursor"
assert_eq "$(http_status GET "$A/files?dir=/pg")" 200 "no limit: whole"
assert_eq "$(jq -r '([.entries[].name] | join(",")) + " " + (has("next") | tostring)' \
	"$T/last_body")" "p1,p2,p3 false" "a whole listing, sorted, no next"
for f in p1 p2 p3; do http_status DELETE "$A/files/pg/$f" >/dev/null; done

# Writing: allocate two chunks, commit them.
assert_eq "$(http_status POST "$A/files/a/b/f.txt/chunks" -d '{"index":0}')" 200
h0=$(jq -r .handle "$T/last_body")
first0=$(jq -r '.replicas[0]' "$T/last_body")
assert_eq "$(jq -r '.replicas | length' "$T/last_body")" 3 "three replicas"
assert_eq "$(jq -r '.replicas | unique | length' "$T/last_body")" 3 "on distinct servers"
assert_eq "$(http_status POST "$A/files/a/b/f.txt/chunks" -d '{"index":1}')" 200
h1=$(jq -r .handle "$T/last_body")
first1=$(jq -r '.replicas[0]' "$T/last_body")
[ "$first0" != "$first1" ] || fail "consecutive chunks start on the same server"
assert_eq "$(http_status POST "$A/files/a/b/f.txt/chunks" -d '{"exclude":["http://127.0.0.1:9001","http://127.0.0.1:9002"]}')" 200
assert_eq "$(jq -r '.replicas | join(",")' "$T/last_body" | grep -c 9001)" 0 "exclude honoured"
c0="{\"index\":0,\"handle\":\"$h0\",\"version\":2,\"length\":1048576,\"replicas\":[\"http://127.0.0.1:9001\"]}"
c1="{\"index\":1,\"handle\":\"$h1\",\"version\":1,\"length\":100}"
assert_eq "$(http_status POST "$A/files/a/b/f.txt/commit" -d "{\"size\":1048676,\"chunks\":[$c0,$c1]}")" 200 commit
assert_eq "$(jq -r .size "$T/last_body")" 1048676
assert_eq "$(jq -r '.chunks[0].replicas[0]' "$T/last_body")" http://127.0.0.1:9001
# A handle of another file, or never allocated, is refused; nothing changes.
assert_eq "$(http_status PUT "$A/files/other")" 201
assert_eq "$(http_status POST "$A/files/other/commit" -d "{\"size\":10,\"chunks\":[{\"index\":0,\"handle\":\"$h0\",\"version\":2,\"length\":10}]}")" 400 "foreign handle"
assert_eq "$(http_status POST "$A/files/other/commit" -d '{"size":10,"chunks":[{"index":0,"handle":"00000000ffffffff","version":1,"length":10}]}')" 400 "unknown handle"
assert_eq "$(http_status POST "$A/files/a/b/f.txt/commit" -d "{\"size\":10,\"chunks\":[{\"index\":3,\"handle\":\"$h1\",\"version\":1,\"length\":10}]}")" 400 "chunk beyond size"
# Shrinking clips and drops.
assert_eq "$(http_status POST "$A/files/a/b/f.txt/commit" -d '{"size":1000}')" 200 shrink
assert_eq "$(jq -r '.chunks | length' "$T/last_body")" 1
assert_eq "$(jq -r '.chunks[0].length' "$T/last_body")" 1000

# Leases.  The holder is the key's name ("admin"), and "admin/ID" for
# X-GFS-Client: ID (docs/PROTOCOL.md, "Security").
assert_eq "$(http_status PUT "$A/leases/a/b/f.txt")" 200 "lease without a client id"
assert_eq "$(jq -r .holder "$T/last_body")" admin "the key is the holder"
assert_eq "$(http_status DELETE "$A/leases/a/b/f.txt" -H 'X-GFS-Client: alice')" 423 "release by another id"
assert_eq "$(http_status DELETE "$A/leases/a/b/f.txt")" 200 "release by the key"
assert_eq "$(http_status PUT "$A/leases/a/b/f.txt?ttl=30" -H 'X-GFS-Client: alice')" 200
assert_eq "$(jq -r .holder "$T/last_body")" admin/alice
assert_eq "$(http_status GET "$A/files/a/b/f.txt" -H 'X-GFS-Client: bob')" 423 "download by another"
assert_eq "$(jq -r .lease.holder "$T/last_body")" admin/alice
assert_eq "$(http_status GET "$A/files/a/b/f.txt?stat=1" -H 'X-GFS-Client: bob')" 200 "stat is not blocked"
assert_eq "$(http_status GET "$A/files/a/b/f.txt" -H 'X-GFS-Client: alice')" 200 "holder reads"
assert_eq "$(http_status DELETE "$A/files/a/b/f.txt")" 423 "delete by nobody"
assert_eq "$(http_status POST "$A/files/a/b/f.txt/chunks" -H 'X-GFS-Client: bob' -d '{}')" 423
assert_eq "$(http_status GET "$A/content/a/b/f.txt" -H 'X-GFS-Client: bob')" 423 "content"
assert_eq "$(http_status DELETE "$A/leases/a/b/f.txt" -H 'X-GFS-Client: bob')" 423 "release by another"
assert_eq "$(http_status POST "$A/files/a?op=rename&to=/z" -H 'X-GFS-Client: alice')" 200 "rename dir"
assert_eq "$(http_status GET "$A/leases/z/b/f.txt")" 200 "the lease moved"
assert_eq "$(http_status DELETE "$A/leases/z/b/f.txt" -H 'X-GFS-Client: alice')" 200
assert_eq "$(http_status GET "$A/leases/z/b/f.txt")" 404

# Redirect to a chunkserver gateway, query kept.
code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$A/content/z/b/f.txt?x=1")
case "$code" in
"307 http://127.0.0.1:900"[1-4]"/api/v1/content/z/b/f.txt?x=1") ;;
*) fail "redirect: $code" ;;
esac

# Rename rules, setattr, delete rules.
assert_eq "$(http_status POST "$A/files/z?op=rename&to=/z/q")" 400 "below itself"
assert_eq "$(http_status POST "$A/files/other?op=rename&to=/d")" 409 "file onto dir"
assert_eq "$(http_status POST "$A/files/other?op=setattr" -d '{"mode":384,"mtime_ns":1000}')" 200
assert_eq "$(jq -r '.mode,.mtime_ns' "$T/last_body" | paste -sd,)" "384,1000"
assert_eq "$(http_status DELETE "$A/files/z")" 409 "non-empty dir"
assert_eq "$(json_error_code)" not_empty
assert_eq "$(http_status DELETE "$A/files/d?type=file")" 409
assert_eq "$(json_error_code)" is_directory
assert_eq "$(http_status DELETE "$A/files/d")" 200 "rmdir"
assert_eq "$(http_status DELETE "$A/files/z/b/f.txt")" 200 "unlink"
assert_eq "$(http_status GET "$A/files/z")" 404 "implicit dirs vanish"

# Health.
assert_eq "$(http_status GET "$A/status")" 200
assert_eq "$(jq -r '.role,.epoch,.files,(.chunkservers|length)' "$T/last_body" | paste -sd,)" "primary,1,1,4"
assert_eq "$(http_status GET "$A/healthz")" 200
curl -sf "$A/metrics" | grep '^gfs_master_oplog_fsyncs_total [1-9]' >/dev/null || fail "metrics"
curl -sf "$A/metrics" | grep '^gfs_master_http_requests_total' >/dev/null || fail "httpd metrics"
curl -sf -D - -o /dev/null "$A/status" | grep -i '^X-GFS-Epoch: 1' >/dev/null || fail "epoch header"
log "ok"
