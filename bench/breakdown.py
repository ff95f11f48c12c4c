#!/usr/bin/env python3
"""breakdown.py - where the time of one small file goes, from debug logs.

Reads the "time ..." lines that gfs-fuse, gfs-master and gfs-chunkserver
print at --log-level debug (docs/PERFORMANCE.md lists them) and prints the
median of every step of a 4 KiB create+write+close and of an unlink, one
file at a time, as bench/breakdown.sh makes them.

usage: breakdown.py LOGDIR NFILES CREATE_SECONDS DELETE_SECONDS [FLOOR_JSON]
LOGDIR holds fuse.log, master.log and cs*.log; FLOOR_JSON is what
bench/floor.py measured, added as the table's last rows.
"""
import glob
import json
import os
import re
import statistics
import sys

HTTP = re.compile(r"time http (\S+) (\S+) (\d+) (\d+)us")
FUSE = re.compile(r"time fuse (\S+) (\S+) (\d+)us rc=(-?\d+)")
PUT = re.compile(r"time put \S+ forward=(\d+) body=(\d+)us end=(\d+)us "
                 r"commit=(\d+)us downstream=(\d+)us")
DURABLE = re.compile(r"time durable seq=\d+ log=(\d+)us isr=(\d+)us")
REQUEST = re.compile(r"(PUT|POST|DELETE) /api/v1/files/\S+")


def med(values):
    return int(statistics.median(values)) if values else 0


def client_kind(method, url, status):
    path = re.sub(r"^https?://[^/]+", "", url)
    if method == "GET" and "stat=1" in path:
        # 404: the kernel's lookup of a new name; else the getattr of
        # the directory, whose attributes the kernel drops after each
        # create and unlink in it (split's and rm's only other stat)
        return "lookup" if status == "404" else "parent"
    if method == "PUT" and path.startswith("/api/v1/chunks/"):
        return "chunk"
    if method == "POST" and "/commit" in path.split("?")[0]:
        return "commit"
    if method == "POST" and path.split("?")[0] == "/api/v1/chunks":
        return "preplace"
    if method == "PUT" and path.startswith("/api/v1/files/"):
        return "create"
    if method == "DELETE" and path.startswith("/api/v1/files/"):
        return "delete"
    return None


def read_fuse(path, steps):
    for line in open(path, errors="replace"):
        m = HTTP.search(line)
        if m:
            k = client_kind(m.group(1), m.group(2), m.group(3))
            if k:
                steps.setdefault("http " + k, []).append(int(m.group(4)))
            continue
        m = FUSE.search(line)
        if m:
            op = m.group(1)
            if op == "getattr":
                # by path: a lookup of a new name (ENOENT), else (split
                # and rm stat nothing else) the directory's
                op = "lookup" if m.group(4) == "-2" else "parent"
            steps.setdefault("fuse " + op, []).append(int(m.group(3)))


def read_master(path, steps):
    """A "time durable" line belongs to the next request line it
    precedes (the handler logs it before the request completes)."""
    pending = []
    for line in open(path, errors="replace"):
        m = DURABLE.search(line)
        if m:
            pending.append((int(m.group(1)), int(m.group(2))))
            continue
        m = REQUEST.search(line)
        if m and pending:
            method = m.group(1)
            kind = {"PUT": "create", "DELETE": "delete"}.get(method)
            if method == "POST":
                kind = "commit" if "/commit" in m.group(0) else None
            log_us, isr_us = pending.pop(0)
            if kind:
                steps.setdefault("log " + kind, []).append(log_us)
                steps.setdefault("isr " + kind, []).append(isr_us)


def read_chunkservers(paths, steps):
    for p in paths:
        for line in open(p, errors="replace"):
            m = PUT.search(line)
            if not m:
                continue
            hop = 3 - int(m.group(1))
            for name, g in (("body", 2), ("end", 3), ("commit", 4),
                            ("downstream", 5)):
                steps.setdefault("put%d %s" % (hop, name), []).append(
                    int(m.group(g)))


def floor_rows(path, http):
    """What bench/floor.py measured, and the floor of a durable delete it
    implies: rm's two FUSE requests (the directory's getattr, the unlink),
    one HTTP round trip to the master (its cheapest: the 404 lookup,
    answered in its event loop) and the two masters' fdatasyncs at once."""
    with open(path) as f:
        fl = json.load(f)
    return [
        ("this machine: 4 KiB write + fdatasync, alone / two at once",
         "%d / %d" % (fl["fsync1"], fl["fsync2"])),
        ("this machine: one FUSE request answered at once", fl["fuse"]),
        ("floor of a durable delete (2 FUSE + lookup's HTTP + 2 syncs)",
         2 * fl["fuse"] + http + fl["fsync2"]),
    ]


def main():
    logdir, nfiles = sys.argv[1], int(sys.argv[2])
    create_s, delete_s = float(sys.argv[3]), float(sys.argv[4])
    s = {}
    read_fuse(os.path.join(logdir, "fuse.log"), s)
    read_master(os.path.join(logdir, "master.log"), s)
    read_chunkservers(sorted(glob.glob(os.path.join(logdir, "cs*.log"))), s)

    def m(k):
        return med(s.get(k, []))

    def calls(k):
        return "%d calls" % len(s.get(k, []))

    rows = [
        ("FUSE getattr of the directory", m("fuse parent")),
        ("  calls per %d files (one per create, one per unlink)" % nfiles,
         calls("fuse parent")),
        ("  HTTP GET /files/D?stat=1 (not from the last change)",
         m("http parent")),
        ("    calls per %d files" % nfiles, calls("http parent")),
        ("FUSE lookup", m("fuse lookup")),
        ("  HTTP GET /files/P?stat=1 (404)", m("http lookup")),
        ("FUSE create", m("fuse create")),
        ("  HTTP POST /chunks (16 pre-placed chunks a call)",
         m("http preplace")),
        ("    calls per %d files" % nfiles, calls("http preplace")),
        ("  HTTP PUT /files/P (a create not deferred, + chunk 0)",
         m("http create")),
        ("    calls per %d files (mkdir included)" % nfiles,
         calls("http create")),
        ("    master: op log fdatasync (group commit)", m("log create")),
        ("    master: then the backup's log (in-sync set)", m("isr create")),
        ("FUSE write (4 KiB, held in the client)", m("fuse write")),
        ("FUSE flush (close): data, then (create+)commit",
         m("fuse flush")),
        ("  HTTP PUT /chunks/H, 3 replicas", m("http chunk")),
    ]
    chained = s.get("put1 body") or s.get("put2 body")
    for hop in (1, 2, 3):
        if not s.get("put%d body" % hop):
            continue
        # a small body goes to every replica at once: none forwards
        who = "replica %d" % hop if chained else "each replica (fan-out)"
        rows.append(("    %s: body in / to next / fsync / "
                     "next's reply" % who,
                     "%d / %d / %d / %d" % (
                         m("put%d body" % hop), m("put%d end" % hop),
                         m("put%d commit" % hop),
                         m("put%d downstream" % hop))))
    rows += [
        ("  HTTP POST /files/P/commit (with create when deferred)",
         m("http commit")),
        ("    master: op log fdatasync (group commit)", m("log commit")),
        ("    master: then the backup's log (in-sync set)", m("isr commit")),
        ("FUSE release", m("fuse release")),
    ]
    ops = sum(m(k) for k in ("fuse parent", "fuse lookup", "fuse create",
                             "fuse write", "fuse flush", "fuse release"))
    wall = int(create_s * 1e6 / nfiles)
    rows += [
        ("sum of the above FUSE steps", ops),
        ("wall time per file (split -b 4096)", wall),
        ("  outside our FUSE operations (kernel, split)", wall - ops),
        ("FUSE getattr of the directory (above)", m("fuse parent")),
        ("FUSE unlink", m("fuse unlink")),
        ("  HTTP DELETE /files/P", m("http delete")),
        ("    master: op log fdatasync (group commit)", m("log delete")),
        ("    master: then the backup's log (in-sync set)", m("isr delete")),
        ("wall time per delete (rm)", int(delete_s * 1e6 / nfiles)),
    ]
    if len(sys.argv) > 5:
        rows += floor_rows(sys.argv[5], m("http lookup"))
    print("latency of one 4 KiB create+write+close and one delete, "
          "medians of %d files, one at a time (microseconds)" % nfiles)
    print()
    print("| %-56s | %21s |" % ("step", "us"))
    print("|%s|%s|" % ("-" * 58, "-" * 23))
    for name, v in rows:
        print("| %-56s | %21s |" % (name, v))


if __name__ == "__main__":
    main()
