#!/usr/bin/env python3
"""old_master.py - an HTTP proxy in front of a master that answers some
of the newer routes as an older master would, for tests.

    old_master.py LISTEN_PORT MASTER_PORT MODE_FILE LOG_FILE

Forwards every request to 127.0.0.1:MASTER_PORT and its reply back, one
request at a time per connection (keep-alive kept).  MODE_FILE, read at
each request (missing or empty: "new"), holds one word:

  new         forward everything;
  no-chunks   POST .../chunks (pre-placed chunks, ext) answers 404 with a
              JSON error, as a master that predates it does (no route);
  strip       strips "create" from the body of POST .../commit
              before forwarding it: the master then answers as one that
              ignores the field (404 for a file it does not hold);
  no-entry    POST .../commit with "create" answers 200 with "{}" (a
              reply that is not a commit's entry) without forwarding;
  no-stream   GET .../oplog with "stream=1" (a follower asking for the
              op-log stream, ext) answers 200 with no records, as an
              older master answers what is to it a poll (the follower
              takes nothing from an answer that is no upgrade).

"Upgrade" is never forwarded (the proxy cannot carry a stream).

Each request is logged to LOG_FILE as one line, "METHOD PATH", with
" create" when its body held "create", and " (answered here)" when the
proxy answered it.

For: the client's fallbacks for older masters (deferred creates,
docs/CLIENT.md).  Not for: large bodies (read whole), chunkservers.
"""
import http.client
import http.server
import json
import sys
import threading

LISTEN, UPSTREAM = int(sys.argv[1]), int(sys.argv[2])
MODE_FILE, LOG_FILE = sys.argv[3], sys.argv[4]
MAX_BODY = 1 << 20
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length",
       "expect", "upgrade"}
LOG_LOCK = threading.Lock()


def mode():
    try:
        with open(MODE_FILE) as f:
            return f.read().strip() or "new"
    except OSError:
        return "new"


def log(line):
    with LOG_LOCK, open(LOG_FILE, "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def forward(self):
        m = mode()
        path = self.path.split("?", 1)[0]
        body = self.body()
        obj = None
        if self.command == "POST" and path.endswith("/commit") and body:
            obj = json.loads(body)
        create = isinstance(obj, dict) and "create" in obj
        line = self.command + " " + path + (" create" if create else "")
        if self.command == "POST" and path.endswith("/api/v1/chunks") \
                and m == "no-chunks":
            log(line + " (answered here)")
            return self.answer(404, {"error": "no such route",
                                     "code": "not_found"})
        if create and m == "no-entry":
            log(line + " (answered here)")
            return self.answer(200, {})
        if path.endswith("/api/v1/oplog") and m == "no-stream" and \
                "stream=1" in self.path:
            log(line + " stream (answered here)")
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if create and m == "strip":
            del obj["create"]
            body = json.dumps(obj).encode()
        log(line)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP}
        headers["Content-Length"] = str(len(body))
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=30)
        try:
            up.request(self.command, self.path, body, headers)
            r = up.getresponse()
            data = r.read()
        finally:
            up.close()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = forward


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
