#!/usr/bin/env python3
"""delay_proxy.py - a TCP proxy that delays what one side sends, for tests.

    delay_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT CTL_FILE MARK

Forwards every connection on LISTEN_PORT (all addresses) to
TARGET_HOST:TARGET_PORT.  Bytes from the client reach the target
DELAY ms after they reached the proxy, DELAY being the number in
CTL_FILE when they arrived (0 when the file is missing or empty); they
never overtake bytes sent before them, as on a real link.  Replies pass
at once.  A client that hangs up meanwhile does not take back what it
sent: its bytes, then its end, still reach the target, as packets in
flight would (a timed-out request still arrives).  Outgoing connections
carry the firewall mark MARK (SO_MARK), so that the iptables rule that
sends a program's connections here (REDIRECT) can spare the proxy's own.

For: delaying a follower's polls by seconds where netem (sch_netem) is
not in the kernel.  Not for: data volumes (one thread per direction).
"""
import socket
import sys
import threading
import time

listen_port, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctl, mark = sys.argv[4], int(sys.argv[5])


def delay_s():
    try:
        with open(ctl) as f:
            return max(0, int(f.read().strip() or 0)) / 1000.0
    except (OSError, ValueError):
        return 0.0


def hang_up(s, how=socket.SHUT_RDWR):
    try:
        s.shutdown(how)
    except OSError:
        pass


def pump_up(client, upstream):
    """Client to target, each read held until its time (in order)."""
    due = 0.0
    lock = threading.Condition()
    queue = []

    def sender():
        while True:
            with lock:
                while not queue:
                    lock.wait()
                at, data = queue.pop(0)
            time.sleep(max(0.0, at - time.monotonic()))
            if data is None:
                hang_up(upstream, socket.SHUT_WR)
                return
            try:
                upstream.sendall(data)
            except OSError:
                return

    threading.Thread(target=sender, daemon=True).start()
    while True:
        try:
            data = client.recv(65536)
        except OSError:
            data = b""
        due = max(due, time.monotonic() + delay_s())
        with lock:
            queue.append((due, data or None))
            lock.notify()
        if not data:
            return


def pump_down(client, upstream):
    try:
        while True:
            data = upstream.recv(65536)
            if not data:
                break
            client.sendall(data)
    except OSError:
        pass
    hang_up(client)
    client.close()


def serve(client):
    upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    upstream.setsockopt(socket.SOL_SOCKET, 36, mark)  # SO_MARK
    try:
        upstream.connect((host, port))
    except OSError:
        client.close()
        return
    threading.Thread(target=pump_down, args=(client, upstream),
                     daemon=True).start()
    pump_up(client, upstream)


def main():
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", listen_port))
    ls.listen(64)
    print("listening", flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
