#!/usr/bin/env python3
"""cut_http.py - send a request cut short, ending in the hardest way to see.

    cut_http.py PORT < BYTES

Sends BYTES (stdin, read whole: keep it to a few MiB) to 127.0.0.1:PORT
and closes, with the end (the FIN) in the same TCP segment as the last
bytes (TCP_CORK holds them until the shutdown).  A server then reads the
last bytes and finds the end already there: one that takes a short read
for "nothing more for now" misses the end.  Prints nothing; exits 1 when
it cannot connect or send.
"""
import socket
import sys


def main():
    port = int(sys.argv[1])
    data = sys.stdin.buffer.read()
    try:
        s = socket.create_connection(("127.0.0.1", port), 10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)  # the FIN rides on the last segment
        s.close()
    except OSError as e:
        print("cut_http: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
