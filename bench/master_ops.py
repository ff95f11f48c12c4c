#!/usr/bin/env python3
"""master_ops.py - metadata throughput of a running gfs-master.

    bench/master_ops.py MASTER_URL [THREADS] [FILES_PER_THREAD]

Registers one simulated chunkserver, then THREADS keep-alive clients each
write FILES_PER_THREAD small files the way a client does: create, allocate
a chunk, commit (two logged, fsync'ed mutations and one allocation).
Prints files/s, mutations/s and the master's fsync count.
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

url = urllib.parse.urlparse(sys.argv[1])
run = int(time.time() * 1000)
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 16
per = int(sys.argv[3]) if len(sys.argv) > 3 else 200


def call(c, method, path, body=None):
    c.request(method, "/api/v1" + path, body=json.dumps(body) if body else None)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:200]}")
    return json.loads(data) if data else None


def metric(c, name):
    c.request("GET", "/api/v1/metrics")
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return 0


def worker(t):
    c = http.client.HTTPConnection(url.hostname, url.port)
    for i in range(per):
        p = f"/bench/{run}/t{t}/f{i}"
        call(c, "PUT", "/files" + p)
        a = call(c, "POST", "/files" + p + "/chunks", {"index": 0})
        call(c, "POST", "/files" + p + "/commit",
             {"size": 100, "chunks": [{"index": 0, "handle": a["handle"],
                                       "version": 1, "length": 100,
                                       "replicas": a["replicas"]}]})


c = http.client.HTTPConnection(url.hostname, url.port)
call(c, "POST", "/heartbeat", {"url": "http://127.0.0.1:9", "full": True,
                               "chunks": [], "free_bytes": 1 << 50})
f0 = metric(c, "gfs_master_oplog_fsyncs_total")
t0 = time.time()
ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
dt = time.time() - t0
n = threads * per
fs = metric(c, "gfs_master_oplog_fsyncs_total") - f0
print(f"{n} files by {threads} clients in {dt:.2f} s: {n / dt:.0f} files/s, "
      f"{2 * n / dt:.0f} logged mutations/s, {fs} fsyncs "
      f"({2 * n / max(fs, 1):.1f} mutations per fsync)")
