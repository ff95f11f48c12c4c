#!/usr/bin/env python3
"""oplog_records.py - the records of a master's op log, one line each.

    oplog_records.py DIR
    oplog_records.py --bytes DIR

Reads DIR/log.* in order (docs/MASTER.md, "Log segments") and prints
one line per record whose frame is whole and whose CRC32C matches, as a
master's replay would take it, up to the first one that is not (the
zeros a segment is pre-extended with end it too):

    SEQ TYPE PATH [HANDLE:LENGTH ...]

TYPE is the record's name (a REQUEST's is the mutation it carries),
PATH its first path ("-" for none); COMMIT and CREATE_COMMIT records add
their chunks, handles in 16 hex digits as chunk files are named.
With --bytes, one number instead: the bytes the segments' headers and
those records take (a segment's file is longer by its zeros).

For: tests that check what an op log holds on disk (after a simulated
power cut), without trusting the master that wrote it.  Not for:
checkpoints, or any field the tests do not need.
"""
import glob
import os
import struct
import sys

NAMES = {1: "EPOCH", 2: "RESERVE", 3: "CREATE", 4: "DELETE", 5: "RENAME",
         6: "SETATTR", 7: "COMMIT", 8: "LEASE", 9: "UNLEASE", 12: "REQUEST",
         13: "MKNODE", 14: "LINK", 15: "ATTR", 16: "XATTR_SET",
         17: "XATTR_REMOVE", 18: "KEPT", 19: "KEPT_RENEW", 20: "KEPT_DROP",
         23: "CREATE_COMMIT"}
WITH_PATH = {3, 4, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 18, 23}
HEADER = 16  # "GFSLOG" F "\n", u64 base_seq


def crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


TABLE = crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def string(body, at):
    (n,) = struct.unpack_from("<I", body, at)
    return body[at + 4:at + 4 + n].decode("utf-8", "replace"), at + 4 + n


def chunks(body, at):
    """A COMMIT's fields after its path, from at: its chunks."""
    _size, _mtime, n = struct.unpack_from("<QqI", body, at)
    at += 20
    out = []
    for _ in range(n):
        _index, handle, _version, length = struct.unpack_from("<IQII",
                                                              body, at)
        at += 20
        out.append("%016x:%d" % (handle, length))
    return out


def describe(body):
    kind = body[0]
    at = 1
    if kind == 12:  # REQUEST: u64 id_hi, u64 id_lo, i64 time_ms, body
        if len(body) <= 25:
            return "REQUEST", "-", []
        return describe(body[25:])
    name = NAMES.get(kind, "TYPE%d" % kind)
    if kind not in WITH_PATH:
        return name, "-", []
    path, at = string(body, at)
    if kind == 7:
        return name, path, chunks(body, at)
    if kind == 23:  # then a MKNODE's fields after its path
        at += 1 + 1 + 8 + 4 * 3 + 8 * 3 + 4 + 8
        _target, at = string(body, at)
        return name, path, chunks(body, at)
    return name, path, []


def records(path):
    """(seq, body, offset after it) of each record of segment path."""
    with open(path, "rb") as f:
        data = f.read()
    at = HEADER
    while at + 16 <= len(data):
        n, crc, seq = struct.unpack_from("<IIQ", data, at)
        body = data[at + 16:at + 16 + n]
        if n == 0 or len(body) < n or \
                crc32c(body, crc32c(struct.pack("<Q", seq))) != crc:
            return  # the end of what a replay takes
        at += 16 + n
        yield seq, body, at


def records_end(path):
    """Where the header and the whole records of segment path end."""
    end = HEADER
    for _seq, _body, end in records(path):
        pass
    return end


def main():
    if sys.argv[1] == "--bytes":
        print(sum(records_end(seg) for seg in
                  glob.glob(os.path.join(sys.argv[2], "log.*"))))
        return
    for seg in sorted(glob.glob(os.path.join(sys.argv[1], "log.*"))):
        for seq, body, _end in records(seg):
            kind, path, extra = describe(body)
            print(" ".join([str(seq), kind, path] + extra))


if __name__ == "__main__":
    main()
