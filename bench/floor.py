#!/usr/bin/env python3
"""floor.py - what this machine charges any file system for one small step.

    floor.py DISKDIR MOUNTFILE OUT.json

Measures, as medians in microseconds:
  fsync1  a 4 KiB overwrite of a zero-filled file + fdatasync, in DISKDIR
          (what a log that writes ahead its zeros, as the op log and the
          packs do, pays per commit);
  fsync2  the same in two processes at once, on the same disk (the
          primary's and the backup's logs, on one machine);
  fuse    one FUSE request the daemon answers at once: fgetxattr() of
          security.capability on MOUNTFILE, which gfs-fuse answers
          ENODATA without a call to a master (the kernel asks it before
          each write and truncate).
bench/breakdown.py adds them to its table, with the floor of a durable
delete they imply (docs/PERFORMANCE.md, "What is left, measured").
"""
import errno
import json
import multiprocessing
import os
import statistics
import sys
import time

PAGE = 4096
ROUNDS = 400


def fsync_loop(path, rounds, q):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.pwrite(fd, bytes(256 * PAGE), 0)
        os.fsync(fd)
        page = b"x" * PAGE
        took = []
        for i in range(rounds):
            t0 = time.perf_counter()
            os.pwrite(fd, page, (i % 256) * PAGE)
            os.fdatasync(fd)
            took.append((time.perf_counter() - t0) * 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    q.put(statistics.median(took))


def fsync_median(diskdir, procs):
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=fsync_loop, args=(
        os.path.join(diskdir, "floor.%d" % i), ROUNDS, q))
        for i in range(procs)]
    for p in ps:
        p.start()
    got = [q.get() for _ in ps]
    for p in ps:
        p.join()
    return max(got)


def fuse_median(path):
    fd = os.open(path, os.O_RDONLY)
    took = []
    try:
        for _ in range(2000):
            t0 = time.perf_counter()
            try:
                os.getxattr(fd, "security.capability")
            except OSError as e:
                if e.errno != errno.ENODATA:
                    raise
            took.append((time.perf_counter() - t0) * 1e6)
    finally:
        os.close(fd)
    return statistics.median(took)


def main():
    diskdir, mountfile, out = sys.argv[1:4]
    res = {
        "fsync1": fsync_median(diskdir, 1),
        "fsync2": fsync_median(diskdir, 2),
        "fuse": fuse_median(mountfile),
    }
    with open(out, "w") as f:
        json.dump({k: int(round(v)) for k, v in res.items()}, f)


if __name__ == "__main__":
    main()
