#!/usr/bin/env python3
"""delay_proxy.py - a TCP proxy that delays what one side sends, for tests.

    delay_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT CTL_FILE MARK [WAY]

Forwards every connection on LISTEN_PORT (all addresses) to
TARGET_HOST:TARGET_PORT.  WAY "up" (the default): bytes from the client
reach the target DELAY ms after they reached the proxy, DELAY being the
number in CTL_FILE when they arrived (0 when the file is missing or
empty), and replies pass at once; WAY "down": the target's replies are
delayed so, and requests pass at once.  Delayed bytes never overtake
bytes sent before them, as on a real link.  A side that hangs up
meanwhile does not take back what it sent: its bytes, then its end,
still reach the other side, as packets in flight would (a timed-out
request still arrives).  Outgoing connections carry the firewall mark
MARK (SO_MARK), so that the iptables rule that sends a program's
connections here (REDIRECT) can spare the proxy's own.

For: delaying a follower's polls, or their answers, by seconds where
netem (sch_netem) is not in the kernel.  Not for: data volumes (one
thread per direction).
"""
import socket
import sys
import threading
import time

listen_port, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctl, mark = sys.argv[4], int(sys.argv[5])
way = sys.argv[6] if len(sys.argv) > 6 else "up"
if way not in ("up", "down"):
    sys.exit("delay_proxy.py: WAY is up or down")


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


def pump_delayed(src, dst, end):
    """src to dst, each read held until its time (in order); end(dst)
    once src ended and everything before it was passed on."""
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
                end(dst)
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    threading.Thread(target=sender, daemon=True).start()
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        due = max(due, time.monotonic() + delay_s())
        with lock:
            queue.append((due, data or None))
            lock.notify()
        if not data:
            return


def pump_now(src, dst, end):
    """src to dst at once; end(dst) once src ended."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    end(dst)


def end_upstream(upstream):
    hang_up(upstream, socket.SHUT_WR)


def end_client(client):
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
    up, down = (pump_delayed, pump_now) if way == "up" else \
        (pump_now, pump_delayed)
    threading.Thread(target=down, args=(upstream, client, end_client),
                     daemon=True).start()
    up(client, upstream, end_upstream)


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
