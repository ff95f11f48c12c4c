#!/usr/bin/env bash
# The master's web page in headless Chromium (Debian's chromium, driven
# through the DevTools protocol by cdp.py): it shows what /api/v1/status
# says (masters with role, epoch and lag; each chunkserver alive or dead
# with used and free space and chunks; files, chunks, under-replicated),
# a file's chunks and replicas in its namespace browser, and a killed
# chunkserver as dead, refreshing by itself.  Screenshots are kept in
# $GFS_ARTEFACTS (default build/artefacts/, beside GFS_BIN):
# webui.png (healthy), webui-dead.png (a chunkserver dead).
source "$(dirname "$0")/lib.sh"
CDP="/usr/bin/python3 $(cd "$(dirname "$0")" && pwd)/cdp.py"
ART=${GFS_ARTEFACTS:-$(cd "$GFS_BIN/.." && pwd)/artefacts}
mkdir -p "$ART" || fail "cannot make $ART"

command -v chromium >/dev/null || fail "chromium is missing (make deps)"
/usr/bin/python3 -c 'import websocket' 2>/dev/null ||
	fail "python3-websocket is missing (make deps)"

start_master --chunk-size 1M --dead-after 2s
start_backup --chunk-size 1M
start_chunkservers 4 --heartbeat-interval 500ms
random_file "$T/f" $((2 << 20))
gfs upload "$T/f" /web/a/two-chunks >/dev/null || fail "upload"
echo small >"$T/s"
gfs upload "$T/s" /web/small >/dev/null || fail "upload small"

# A fresh profile, a free debugging port (Chromium names it in
# DevToolsActivePort), the page refreshing every 300 ms.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update \
	--disable-sync --user-data-dir="$T/chrome" --remote-debugging-port=0 \
	--window-size=1200,1000 "$MASTER_URL/?refresh=300#/web/a/two-chunks" \
	>>"$T/chromium.log" 2>&1 &
PIDS+=("$!")
wait_for 30 "chromium's debugging port" test -s "$T/chrome/DevToolsActivePort"

page() { $CDP "$T/chrome" eval "$1"; }
# The namespace needs a key: typed into the page as a person would.
KEY=$(cat "$GFS_KEY_FILE")
wait_for 20 "the page to load" \
	bash -c "[ \"\$($CDP '$T/chrome' eval 'Number(document.body.dataset.polls)')\" -ge 1 ]"
page "document.querySelector('#key').value = '$KEY';
      document.querySelector('#keyform').requestSubmit(); 1" >/dev/null ||
	fail "cannot type the key into the page"
wait_for 20 "the page to poll twice" \
	bash -c "[ \"\$($CDP '$T/chrome' eval 'Number(document.body.dataset.polls)')\" -ge 2 ]"

# What the page shows, as JSON, read from its DOM.
DOM='(() => {
  const q = (r, s) => r.querySelector(s);
  const rows = (s) => [...document.querySelectorAll(s)];
  return {
    files: Number(q(document, "#files").textContent),
    chunks: Number(q(document, "#chunks").textContent),
    under: Number(q(document, "#under").textContent),
    ops: q(document, "#ops").textContent,
    masters: rows("#masters tr[data-master-url]").map((r) => ({
      url: r.dataset.masterUrl, role: q(r, ".role").textContent,
      epoch: Number(q(r, ".epoch").textContent),
      lag: q(r, ".lag").textContent })),
    cs: rows("#chunkservers tr[data-cs-url]").map((r) => ({
      url: r.dataset.csUrl, state: q(r, ".state").textContent,
      used: Number(q(r, ".used").dataset.bytes),
      free: Number(q(r, ".free").dataset.bytes),
      chunks: Number(q(r, ".chunks").textContent) })),
    listing: rows("#files-list tr[data-path]").map((r) => r.dataset.path),
    file: rows("#file-chunks tr[data-handle]").map((r) => ({
      handle: r.dataset.handle,
      replicas: [...r.querySelectorAll("[data-replica]")]
        .map((x) => x.dataset.replica) }))
  };
})()'

# The same, as the API says.
expected() {
	local p b
	p=$(curl -sf --max-time 2 "$MASTER_URL/api/v1/status") || return 1
	b=$(curl -sf --max-time 2 "$BACKUP_URL/api/v1/status") || return 1
	jq -n --argjson p "$p" --argjson b "$b" \
		--argjson f "$(curl -sf -H "Authorization: Bearer $KEY" "$MASTER_URL/api/v1/files/web/a/two-chunks")" \
		--argjson l "$(curl -sf -H "Authorization: Bearer $KEY" "$MASTER_URL/api/v1/files?dir=/web/a")" '{
	  files: $p.files, chunks: $p.chunks, under: $p.under_replicated,
	  masters: [{url: $p.url, role: $p.role, epoch: $p.epoch, lag: "0"},
		    {url: $b.url, role: $b.role, epoch: $b.epoch,
		     lag: ([$p.seq - $b.seq, 0] | max | tostring)}],
	  cs: [$p.chunkservers[] | {url, state: (if .alive then "alive" else "dead" end),
				   used: .used_bytes, free: .free_bytes, chunks}],
	  listing: [$l.entries[] | "/web/a/" + .name],
	  file: [$f.chunks[] | {handle, replicas}]
	}'
}

# until_ok SECONDS COMMAND...: wait_for that returns 1 instead of failing.
until_ok() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

# matches: the DOM says what the API says (the page lags by at most one
# refresh, so this is retried until both agree).  Free space is the
# file system's, which other programs change at any time: it must agree
# within 1%, the rest exactly.
matches() {
	page "$DOM" | jq -S 'del(.ops)' >"$T/dom.json" || return 1
	expected | jq -S . >"$T/api.json" || return 1
	cmp -s <(jq -S 'del(.cs[].free)' "$T/dom.json") \
		<(jq -S 'del(.cs[].free)' "$T/api.json") &&
		jq -e -n --slurpfile d "$T/dom.json" --slurpfile a "$T/api.json" \
			'[$d[0].cs, $a[0].cs] | transpose |
			 all(((.[0].free - .[1].free) | fabs) <= 0.01 * .[1].free)' >/dev/null
}
if ! until_ok 20 matches; then
	diff "$T/dom.json" "$T/api.json" >&2
	fail "the page does not show what /api/v1/status says"
fi
jq -e '.cs | length == 4 and all(.state == "alive") and all(.free > 0)' \
	"$T/dom.json" >/dev/null || fail "four live chunkservers expected: $(cat "$T/dom.json")"
jq -e '.file | length == 2 and all(.replicas | length == 3)' "$T/dom.json" \
	>/dev/null || fail "two chunks of three replicas expected"
jq -e '.masters | map(.role) == ["primary", "backup"]' "$T/dom.json" \
	>/dev/null || fail "both masters expected"
page "$DOM" | jq -e '.ops | test("^[0-9]+\\.[0-9]$")' >/dev/null ||
	fail "no operations per second"
$CDP "$T/chrome" shot "$ART/webui.png" || fail "screenshot"

# Kill a chunkserver: the page shows it dead, by itself.
dead=${CS_URLS[1]}
kill9 "${CS_PIDS[1]}"
shows_dead() {
	page "$DOM" | jq -e --arg u "$dead" \
		'.cs[] | select(.url == $u) | .state == "dead"' >/dev/null
}
wait_for 15 "the page to show $dead dead" shows_dead
until_ok 20 matches || { diff "$T/dom.json" "$T/api.json" >&2; fail "page and API differ after the kill"; }
$CDP "$T/chrome" shot "$ART/webui-dead.png" || fail "screenshot"
for f in webui.png webui-dead.png; do
	[ "$(head -c 8 "$ART/$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
		fail "$f is not a PNG"
	[ "$(stat -c %s "$ART/$f")" -gt 20000 ] || fail "$f is too small to show the page"
done
log "web page: screenshots in $ART/webui.png and $ART/webui-dead.png"
