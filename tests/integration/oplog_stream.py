#!/usr/bin/env python3
"""oplog_stream.py - a follower's op-log stream (master/stream.h) spoken
by hand, well or badly, for tests.

    oplog_stream.py MASTER_URL FOLLOWER_URL MODE [ARG]

Asks MASTER_URL for GET /api/v1/oplog?from=1&wait_ms=1000&stream=1 (the
TARGET below) with "Upgrade: gfs-oplog", X-GFS-Backup: FOLLOWER_URL and
the header line in $GFS_AUTH_LINE if set (the cluster secret's proof for
that request) (never a real follower: the
leader tracks it but waits for it never), then by MODE:

  read N      reads frames until it holds records 1..N-1 (checked: each
              record's seq follows, and its CRC32C), acknowledging none
              (a follower that never catches up is never attached);
              prints "records N-1 statuses S";
  garbage     sends a frame of a type no follower sends;
  badack      sends an acknowledgement whose fields are cut short;
  huge        sends a frame header that claims 4 GiB;
  beyond      acknowledges record 2^40, which the leader never wrote;
  mute N      reads nothing for N seconds, then closes (prints "closed").

For garbage, badack, huge and beyond it then reads until the leader closes the
connection and prints "closed" (exit 1 when it stays open for 10 s).
Exit 2 when the answer to the upgrade is not 101.
"""
import os
import socket
import struct
import sys
import time
import urllib.parse

FRAME = struct.Struct("<IB")
TARGET = "/api/v1/oplog?from=1&wait_ms=1000&stream=1"


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def upgrade(master, follower):
    u = urllib.parse.urlsplit(master)
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    auth = os.environ.get("GFS_AUTH_LINE")
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: Upgrade\r\n"
               "Upgrade: gfs-oplog\r\nX-GFS-Backup: %s\r\n%s\r\n"
               % (TARGET, u.hostname, u.port, follower,
                  auth + "\r\n" if auth else "")).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        more = s.recv(4096)
        if not more:
            break
        head += more
    line = head.split(b"\r\n", 1)[0]
    if not line.startswith(b"HTTP/1.1 101"):
        print("answer: %s" % line.decode(errors="replace"))
        sys.exit(2)
    return s, head.split(b"\r\n\r\n", 1)[1]


def frames(s, buf):
    """Yield (type, payload) as they come."""
    while True:
        while len(buf) >= FRAME.size:
            n, t = FRAME.unpack_from(buf)
            if len(buf) < FRAME.size + n:
                break
            yield chr(t), buf[FRAME.size:FRAME.size + n]
            buf = buf[FRAME.size + n:]
        more = s.recv(1 << 16)
        if not more:
            return
        buf += more


def ack(s, seq):
    """An acknowledgement of every record before seq, no CRC, no echo."""
    payload = struct.pack("<QBI", seq, 0, 0) + struct.pack("<I", 0)
    s.sendall(FRAME.pack(len(payload), ord("A")) + payload)


def read_records(s, buf, want):
    nxt, statuses = 1, 0
    for t, p in frames(s, buf):
        if t == "S":
            statuses += 1
            continue
        if t != "R":
            sys.exit("unexpected frame %r" % t)
        off = 0
        while off < len(p):
            n, crc, seq = struct.unpack_from("<IIQ", p, off)
            body = p[off + 16:off + 16 + n]
            if seq != nxt or crc32c(body, crc32c(struct.pack("<Q", seq))) != crc:
                sys.exit("record %d: seq %d or its CRC is wrong" % (nxt, seq))
            nxt += 1
            off += 16 + n
        if nxt >= want:
            print("records %d statuses %d" % (nxt - 1, statuses))
            return
    sys.exit("closed at record %d" % nxt)


def until_closed(s, buf):
    s.settimeout(10)
    try:
        for _ in frames(s, buf):
            pass
    except socket.timeout:
        print("still open")
        sys.exit(1)
    except OSError:
        pass
    print("closed")


def main():
    master, follower, mode = sys.argv[1:4]
    arg = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    s, buf = upgrade(master, follower)
    if mode == "read":
        read_records(s, buf, arg)
        return
    if mode == "mute":
        time.sleep(arg)
        s.close()
        print("closed")
        return
    if mode == "garbage":
        s.sendall(FRAME.pack(3, ord("Z")) + b"abc")
    elif mode == "badack":
        s.sendall(FRAME.pack(5, ord("A")) + b"\x01\x02\x03\x04\x05")
    elif mode == "huge":
        s.sendall(FRAME.pack(0xFFFFFFFF, ord("A")))
    elif mode == "beyond":
        ack(s, 1 << 40)
    else:
        sys.exit("unknown mode " + mode)
    until_closed(s, buf)


if __name__ == "__main__":
    main()
