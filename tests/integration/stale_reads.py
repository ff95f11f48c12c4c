#!/usr/bin/env python3
"""stale_reads.py - a writer on the leader, a reader on a follower, for tests.

    stale_reads.py WRITE_URL READ_URL DIR

WRITE_URL and READ_URL are masters' API roots (http://HOST:PORT/api/v1).
One thread creates files /sr-1, /sr-2, ... through WRITE_URL,
one after the other (PUT /files/NAME); a create is acknowledged when the
answer is 200 or 201, and from then on the reader knows of it.  The other
thread, all along, takes the newest acknowledged create and asks
READ_URL for it (GET /files/NAME?stat=1): the create was acknowledged
before the read was sent, so a 404 is a stale read (docs/MASTER.md,
"The read window").  An answer 421 or 503 is a refusal (fine); 200 a
fresh read.

The phase is the text of DIR/phase when the read was sent (empty when
missing); the counts per phase go to DIR/counts.json (rewritten every
0.2 s and at the end), each stale read as one line to DIR/stale with its
phase and the times (CLOCK_MONOTONIC, s) of the acknowledgement, the
read's sending and its answer.  Stops when DIR/stop exists.  The key in
GFS_KEY_FILE, if set, goes with every request.
"""
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

write_url, read_url, out = sys.argv[1], sys.argv[2], sys.argv[3]
headers = {}
if os.environ.get("GFS_KEY_FILE"):
    with open(os.environ["GFS_KEY_FILE"]) as f:
        headers["Authorization"] = "Bearer " + f.read().strip()

lock = threading.Lock()
acked = {"n": 0, "at": 0.0}  # the newest acknowledged create
counts = {}  # phase -> {"fresh", "stale", "refused", "acked", "other"}


def phase():
    try:
        with open(os.path.join(out, "phase")) as f:
            return f.read().strip()
    except OSError:
        return ""


def count(ph, what):
    with lock:
        c = counts.setdefault(ph, {"fresh": 0, "stale": 0, "refused": 0,
                                   "acked": 0, "other": 0})
        c[what] += 1


def stopped():
    return os.path.exists(os.path.join(out, "stop"))


class Conn:
    """One keep-alive connection to url, opened again after an error."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.root = u.hostname, u.port, u.path
        self.c = None

    def call(self, method, path):
        try:
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port,
                                                    timeout=10)
            self.c.request(method, self.root + path, headers=headers)
            r = self.c.getresponse()
            r.read()
            return r.status
        except (OSError, http.client.HTTPException):
            if self.c is not None:
                self.c.close()
            self.c = None
            return 0


def writer():
    c = Conn(write_url)
    n = 0
    while not stopped():
        n += 1
        ph = phase()
        if c.call("PUT", "/files/sr-%d" % n) in (200, 201):
            with lock:
                acked["n"], acked["at"] = n, time.monotonic()
            count(ph, "acked")
        time.sleep(0.01)


def reader():
    c = Conn(read_url)
    while not stopped():
        with lock:
            n, at = acked["n"], acked["at"]
        if not n:
            time.sleep(0.01)
            continue
        ph, sent = phase(), time.monotonic()
        st = c.call("GET", "/files/sr-%d?stat=1" % n)
        if st == 404:
            count(ph, "stale")
            with open(os.path.join(out, "stale"), "a") as f:
                f.write("phase %s: /sr-%d acknowledged at %.3f s, read "
                        "sent at %.3f s, answered 404 at %.3f s\n"
                        % (ph, n, at, sent, time.monotonic()))
        elif st == 200:
            count(ph, "fresh")
        elif st in (421, 503):
            count(ph, "refused")
        else:
            count(ph, "other")
        time.sleep(0.005)


def save():
    with lock:
        text = json.dumps(counts)
    tmp = os.path.join(out, "counts.json.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(out, "counts.json"))


def main():
    threads = [threading.Thread(target=t, daemon=True)
               for t in (writer, reader)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        save()
        time.sleep(0.2)
    save()


if __name__ == "__main__":
    sys.exit(main())
