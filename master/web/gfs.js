// gfs.js - the master's web page: polls the master that served it (and
// the other masters it names) and shows the cluster.  Plain JS, no
// build step, nothing fetched from anywhere but the masters.
//
// State in the URL: ?refresh=MS (poll period, default 2000) and the hash
// #PATH, the directory listed (ends with '/') or the file shown.  The
// namespace needs a client key (docs/PROTOCOL.md, "Security"): typed into
// the page, kept in this tab's sessionStorage (never in the URL, never
// sent anywhere but to the master that served the page).
'use strict';

const API = '/api/v1';
const params = new URLSearchParams(location.search);
const REFRESH = Math.min(60000, Math.max(200,
	parseInt(params.get('refresh') || '2000', 10) || 2000));

const $ = (sel) => document.querySelector(sel);
let lastOps = null; // {n, t}: the previous ops_total and when

function el(tag, attrs, ...kids) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (k === 'class') e.className = v;
		else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
		else e.setAttribute(k, v);
	}
	for (const k of kids) e.append(k);
	return e;
}

function bytes(n) {
	const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
	let i = 0;
	n = Number(n) || 0;
	while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
	return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
}

function num(n, attrs) {
	return el('td', Object.assign({ class: 'num' }, attrs || {}),
		String(n));
}

function ago(ms) {
	if (!ms) return 'never';
	const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
	return s + ' s ago';
}

function clientKey() { return sessionStorage.getItem('gfs-key') || ''; }

// GET a JSON document with a deadline; null when it failed.  The key goes
// with requests to this master alone (a path, not another origin's URL).
async function getJSON(url, ms) {
	const ctl = new AbortController();
	const timer = setTimeout(() => ctl.abort(), ms || 3000);
	const headers = url.startsWith('/') && clientKey()
		? { Authorization: 'Bearer ' + clientKey() } : {};
	try {
		const r = await fetch(url, { signal: ctl.signal, cache: 'no-store',
			headers });
		if (!r.ok) return { error: r.status + ' ' +
			((await r.json().catch(() => ({}))).error || r.statusText) };
		return await r.json();
	} catch (e) {
		return null;
	} finally {
		clearTimeout(timer);
	}
}

// Every master this one knows of, itself first.
function masterURLs(st) {
	const urls = [st.url || location.origin];
	const add = (u) => { if (u && !urls.includes(u)) urls.push(u); };
	add(st.primary);
	if (st.leader) add(st.leader.url);
	(st.isr || []).forEach(add);
	(st.followers || []).forEach((f) => add(f.url));
	if (st.backup) add(st.backup.url);
	return urls;
}

async function renderMasters(st) {
	const urls = masterURLs(st);
	const all = await Promise.all(urls.map((u, i) => i === 0
		? st : getJSON(u + API + '/status', 1500)));
	// the leader: a primary with the highest epoch
	let leader = null;
	all.forEach((s) => {
		if (s && !s.error && s.role === 'primary' &&
		    (!leader || s.epoch > leader.epoch)) leader = s;
	});
	const tbody = $('#masters tbody');
	tbody.replaceChildren(...urls.map((u, i) => {
		const s = all[i] && !all[i].error ? all[i] : null;
		let lag = '';
		if (s && leader) {
			const f = (leader.followers || []).find((x) => x.url === u);
			lag = s === leader ? 0 : f && f.lag !== undefined ? f.lag
				: Math.max(0, (leader.seq || 0) - (s.seq || 0));
		}
		return el('tr', { 'data-master-url': u, class: s ? '' : 'dead' },
			el('td', { class: 'url' }, u),
			el('td', { class: 'role' }, s ? s.role : '?'),
			num(s ? s.epoch : '', { class: 'num epoch' }),
			num(s && s.seq !== undefined ? s.seq : '', { class: 'num seq' }),
			num(lag, { class: 'num lag' }),
			el('td', { class: 'state ' + (s ? 'ok' : 'bad') },
				s ? 'up' : 'unreachable'));
	}));
}

function renderServers(st) {
	const tbody = $('#chunkservers tbody');
	const cs = st.chunkservers || [];
	tbody.replaceChildren(...cs.map((s) => el('tr',
		{ 'data-cs-url': s.url, class: s.alive ? '' : 'dead' },
		el('td', { class: 'url' }, s.url),
		el('td', { class: 'state ' + (s.alive ? 'ok' : 'bad') },
			s.alive ? 'alive' : 'dead'),
		num(bytes(s.used_bytes), { class: 'num used',
			'data-bytes': s.used_bytes }),
		num(bytes(s.free_bytes), { class: 'num free',
			'data-bytes': s.free_bytes }),
		num(s.chunks, { class: 'num chunks' }),
		el('td', { class: 'heartbeat' }, ago(s.last_heartbeat_ms)))));
	$('#alive').textContent = cs.filter((s) => s.alive).length + ' / ' +
		cs.length;
}

function renderSummary(st) {
	$('#files').textContent = st.files;
	$('#chunks').textContent = st.chunks;
	$('#under').textContent = st.under_replicated;
	$('#under').className = st.under_replicated ? 'bad' : '';
	const now = performance.now();
	if (st.ops_total !== undefined) {
		if (lastOps && now > lastOps.t)
			$('#ops').textContent = ((st.ops_total - lastOps.n) * 1000 /
				(now - lastOps.t)).toFixed(1);
		lastOps = { n: st.ops_total, t: now };
	}
	$('#self').textContent = (st.url || location.origin) + ' (' +
		st.role + ', epoch ' + st.epoch + ')';
}

// ---- the namespace ----

function where() {
	const h = decodeURIComponent(location.hash.slice(1)) || '/';
	return h.startsWith('/') ? h : '/' + h;
}

function dirOf(path) {
	return path.endsWith('/') ? path : path.slice(0, path.lastIndexOf('/') + 1);
}

function enc(path) {
	return path.split('/').map(encodeURIComponent).join('/');
}

function go(path) { location.hash = enc(path); }

async function renderDir(dir) {
	const d = dir === '/' ? '/' : dir.replace(/\/$/, '');
	const j = await getJSON(API + '/files?dir=' + encodeURIComponent(d));
	$('#cwd').textContent = dir;
	const rows = [];
	if (dir !== '/') {
		const up = dir.slice(0, dir.slice(0, -1).lastIndexOf('/') + 1);
		rows.push(el('tr', {}, el('td', {},
			el('a', { onclick: () => go(up) }, '..')), el('td'), el('td')));
	}
	const entries = j && j.entries ? j.entries : [];
	for (const e of entries) {
		const p = dir + e.name + (e.type === 'dir' ? '/' : '');
		rows.push(el('tr', { 'data-path': p, 'data-type': e.type },
			el('td', {}, el('a', { onclick: () => go(p) },
				e.name + (e.type === 'dir' ? '/' : ''))),
			num(e.type === 'dir' ? '' : bytes(e.size),
				{ class: 'num size', 'data-bytes': e.size }),
			el('td', {}, new Date(e.mtime * 1000).toLocaleString())));
	}
	if (j && j.error)
		rows.push(el('tr', {}, el('td', { class: 'bad' }, j.error)));
	$('#files-list tbody').replaceChildren(...rows);
}

async function renderFile(path, alive) {
	const box = $('#file');
	if (path.endsWith('/')) { box.hidden = true; return; }
	const j = await getJSON(API + '/files' + enc(path));
	box.hidden = false;
	$('#file-path').textContent = path;
	if (!j || j.error) {
		$('#file-info').textContent = j ? j.error : 'master unreachable';
		$('#file-chunks tbody').replaceChildren();
		return;
	}
	$('#file-info').textContent = bytes(j.size) + ', ' +
		(j.chunks || []).length + ' chunks of ' + bytes(j.chunk_size) +
		', mode ' + (j.mode || 0).toString(8) + ', modified ' +
		new Date(j.mtime * 1000).toLocaleString();
	$('#file-chunks tbody').replaceChildren(...(j.chunks || []).map((c) =>
		el('tr', { 'data-handle': c.handle },
			num(c.index), el('td', { class: 'mono' }, c.handle),
			num(c.version), num(c.length),
			el('td', { class: 'replicas' }, ...c.replicas.map((u) =>
				el('span', { class: 'mono ' + (alive.has(u) ? 'ok' : 'bad'),
					'data-replica': u }, u + ' '))))));
}

// ---- the loop ----

async function poll() {
	const st = await getJSON(API + '/status');
	if (!st || st.error) {
		$('#problem').hidden = false;
		$('#problem').textContent = 'master unreachable: ' +
			(st ? st.error : 'no answer');
	} else {
		$('#problem').hidden = true;
		renderSummary(st);
		renderServers(st);
		const alive = new Set((st.chunkservers || [])
			.filter((s) => s.alive).map((s) => s.url));
		await Promise.all([renderMasters(st), renderDir(dirOf(where())),
			renderFile(where(), alive)]);
		$('#updated').textContent = 'updated ' +
			new Date().toLocaleTimeString();
		document.body.dataset.polls = Number(document.body.dataset.polls) + 1;
	}
	setTimeout(poll, REFRESH);
}

$('#keyform').addEventListener('submit', (ev) => {
	ev.preventDefault();
	sessionStorage.setItem('gfs-key', $('#key').value.trim());
	$('#key').value = '';
	window.dispatchEvent(new HashChangeEvent('hashchange'));
});

window.addEventListener('hashchange', () => {
	const alive = new Set([...document.querySelectorAll(
		'#chunkservers tr[data-cs-url]:not(.dead)')].map((r) => r.dataset.csUrl));
	renderDir(dirOf(where()));
	renderFile(where(), alive);
});
poll();
