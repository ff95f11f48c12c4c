#!/usr/bin/env python3
"""slow_clients.py - hold many slow HTTP connections to one server.

usage: slow_clients.py HOST PORT N SOURCES INTERVAL LIMIT STATUS

Opens N connections to HOST:PORT, spread over the loopback source
addresses 127.0.0.2 .. 127.0.0.(SOURCES+1), each sending a request line and
one header line, then one more header line every INTERVAL seconds: a
header that never ends (slowloris).  Stops after LIMIT seconds or when the
server closed them all.  STATUS is rewritten after every step:

    opened K        connections established and their first line sent
    refused K       connections the server closed within 1 s of opening
    closed K        connections the server closed since (cut)
    first_cut S     seconds from a cut connection's request line to its
    last_cut S      cut: the earliest and the latest
    done 0|1

Every loop is bounded in count and time; nothing is sent anywhere but the
given loopback server.
"""
import os
import resource
import selectors
import socket
import sys
import time


def write_status(path, st):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for k, v in st.items():
            f.write("%s %s\n" % (k, v))
    os.replace(tmp, path)


def open_all(host, port, n, sources, sel, conns, st):
    request = b"GET /api/v1/healthz HTTP/1.1\r\nHost: slow\r\n"
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.%d" % (2 + i % sources), 0))
        s.settimeout(5)
        try:
            s.connect((host, port))
            s.sendall(request)
        except OSError:
            st["refused"] += 1  # closed by the server at once
            s.close()
            continue
        s.setblocking(False)
        conns[s] = time.monotonic()
        sel.register(s, selectors.EVENT_READ)


def main():
    host, port, n, sources, interval, limit, status = sys.argv[1:8]
    port, n, sources = int(port), int(n), int(sources)
    interval, limit = float(interval), float(limit)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> time its request line went out
    st = {"opened": 0, "refused": 0, "closed": 0, "first_cut": -1,
          "last_cut": -1, "done": 0}
    start = time.monotonic()
    open_all(host, port, n, sources, sel, conns, st)
    st["opened"] = len(conns)
    write_status(status, st)
    next_line = time.monotonic() + interval
    while conns and time.monotonic() - start < limit:
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (ConnectionError, BlockingIOError):
                data = b""
            if data:
                continue  # a reply (never expected): keep holding
            age = time.monotonic() - conns.pop(s)
            sel.unregister(s)
            s.close()
            if age < 1.0:
                st["refused"] += 1
                continue
            st["closed"] += 1
            if st["first_cut"] < 0 or age < st["first_cut"]:
                st["first_cut"] = round(age, 2)
            st["last_cut"] = max(st["last_cut"], round(age, 2))
        if time.monotonic() >= next_line:
            for s in list(conns):
                try:
                    s.send(b"X-Slow: 1\r\n")
                except OSError:
                    pass  # closed: the selector reports it
            next_line += interval
        write_status(status, st)
    st["done"] = 1
    write_status(status, st)
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
