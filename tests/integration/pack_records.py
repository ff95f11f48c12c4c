#!/usr/bin/env python3
"""pack_records.py DATA_DIR [HANDLE]: the packed chunks a chunkserver's
start-up would take from DATA_DIR/packs (docs/CHUNKSERVER.md, "Packed
small chunks"), read as its replay does: segments in seq order, each up
to its first record that is zeros, of another segment, or fails its
header or data CRC32C; dead records skipped (their data unread).

Without HANDLE: one line per live record, "HANDLE VERSION LENGTH SHA256
SEGMENT OFFSET" (OFFSET: of its data).  With HANDLE: that chunk's bytes
(its newest live record's) on stdout, or exit status 1 when it has none.
"""
import hashlib
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oplog_records import crc32c  # noqa: E402

MAGIC, LIVE = 0x50534647, 0x4556494C
HEADER, ALIGN, BLOCK = 48, 512, 65536


def records(packs):
    names = sorted(os.listdir(packs)) if os.path.isdir(packs) else []
    for name in names:
        try:
            seq = int(name, 16)
        except ValueError:
            continue
        path = os.path.join(packs, name)
        with open(path, "rb") as f:
            seg = f.read()
        off = 0
        while off + HEADER <= len(seg):
            hdr = seg[off:off + HEADER]
            if not any(hdr):
                break
            magic, state, rseq, handle, version, length, dcrc, _, hcrc = \
                struct.unpack("<IIQQQIIII", hdr)
            if (magic != MAGIC or rseq != seq or length > BLOCK or
                    hcrc != crc32c(hdr[8:44], crc32c(hdr[0:4])) or
                    off + HEADER + length > len(seg)):
                break
            data = seg[off + HEADER:off + HEADER + length]
            if state == LIVE:  # a dead one's data is not read
                if crc32c(data) != dcrc:
                    break
                yield handle, version, data, path, off + HEADER
            off += (HEADER + length + ALIGN - 1) // ALIGN * ALIGN


def main():
    packs = os.path.join(sys.argv[1], "packs")
    if len(sys.argv) > 2:
        want, best = int(sys.argv[2], 16), None
        for handle, version, data, _, _ in records(packs):
            if handle == want and (best is None or version > best[0]):
                best = (version, data)
        if best is None:
            sys.exit(1)
        sys.stdout.buffer.write(best[1])
        return
    for handle, version, data, path, off in records(packs):
        print("%016x %d %d %s %s %d" % (handle, version, len(data),
                                        hashlib.sha256(data).hexdigest(),
                                        path, off))


if __name__ == "__main__":
    main()
