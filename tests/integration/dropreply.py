#!/usr/bin/env python3
"""dropreply.py - a TCP proxy that loses one HTTP reply, for tests.

    dropreply.py [--hold MS] LISTEN_PORT TARGET_PORT MATCH MARKER [KILL_PID]

Forwards every connection on 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT.
The first request whose bytes contain MATCH reaches the target, but its
reply does not reach the client: when the reply starts, the proxy kills
KILL_PID (the target server) with SIGKILL, writes MARKER (a file) and cuts
the client's connection, as if the server crashed after doing the work
and before answering.  With --hold MS, the proxy first holds the reply
back for MS ms (the client times out meanwhile, as when the server
stalls after doing the work).  Everything else passes unchanged.
"""
import os
import signal
import socket
import sys
import threading
import time

args = sys.argv[1:]
hold_ms = 0
if args[:1] == ["--hold"]:
    hold_ms, args = int(args[1]), args[2:]
listen_port, target_port = int(args[0]), int(args[1])
match, marker = args[2].encode(), args[3]
kill_pid = int(args[4]) if len(args) > 4 else 0
state = {"armed": True}
lock = threading.Lock()


def hang_up(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def pump_up(client, upstream, conn):
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            with lock:
                if state["armed"] and match in data:
                    state["armed"] = False
                    conn["drop"] = True
            upstream.sendall(data)
    except OSError:
        pass
    finally:
        hang_up(client, upstream)


def pump_down(client, upstream, conn):
    try:
        while True:
            data = upstream.recv(65536)
            if not data:
                break
            if conn["drop"]:
                time.sleep(hold_ms / 1000)
                if kill_pid:
                    os.kill(kill_pid, signal.SIGKILL)
                with open(marker, "w") as f:
                    f.write("dropped\n")
                break
            client.sendall(data)
    except OSError:
        pass
    finally:
        hang_up(client, upstream)


def serve(client):
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port), 2)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    conn = {"drop": False}
    threading.Thread(target=pump_up, args=(client, upstream, conn),
                     daemon=True).start()
    threading.Thread(target=pump_down, args=(client, upstream, conn),
                     daemon=True).start()


def main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(64)
    while True:
        client, _ = srv.accept()
        serve(client)


main()
