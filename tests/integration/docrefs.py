#!/usr/bin/env python3
"""docrefs.py - what the docs name must exist.

usage: docrefs.py BINDIR SOURCE_FILES... -- DOC.md...
  exit 1, with one line per problem on stderr, when a doc names
  - a gfs command that `gfs --help` does not list;
  - an option of gfs, gfs-master, gfs-chunkserver or gfs-fuse (in a
    command of a ```sh block or a `code span` starting with the program)
    that the program's --help does not list;
  - a setting (name = value) in a ```ini block that no program's --help
    lists (config files take the long options' names);
  - a route "METHOD /path" whose method and first path segment no route
    table in SOURCE_FILES ({ "METHOD", GFS_API "/seg"... } rows) has.
The checks are by name: the examples themselves are run by doctest.py's
scripts (tests/integration/test_ops_docs.sh).
"""
import re
import subprocess
import sys

PROGRAMS = ("gfs", "gfs-master", "gfs-chunkserver", "gfs-fuse")
HELP_OPT = re.compile(r"^\s+(--[a-z][a-z0-9-]*)(?:[ =]+([A-Z][A-Z_]*))?")
HELP_CMD = re.compile(r"^  ([a-z]+)\b")
ROUTE_ROW = re.compile(r'\{\s*"([A-Z]+)",\s*(GFS_API\s*)?"(/[a-z_]*)')
DOC_ROUTE = re.compile(r"\b(GET|PUT|POST|DELETE|HEAD) `?(/[A-Za-z0-9_/{}.*:-]*)")
FENCE = re.compile(r"^(```+)\s*([A-Za-z0-9_-]*)\s*$")
SPAN = re.compile(r"`([^`\n]+)`")
SPLIT = re.compile(r"\s*(?:;|&&|\|\||\||\$\()\s*")


def read_help(bindir, prog):
    """(options -> takes a value, commands) from PROG --help."""
    out = subprocess.run([bindir + "/" + prog, "--help"], capture_output=True,
                         text=True, timeout=10)
    opts, cmds, in_cmds = {}, set(), False
    for line in (out.stdout + out.stderr).splitlines():
        if line.strip().endswith(":"):
            in_cmds = line.strip() == "commands:"
            continue
        m = HELP_OPT.match(line)
        if m:
            opts[m.group(1)] = bool(m.group(2))
        elif in_cmds and HELP_CMD.match(line):
            cmds.add(HELP_CMD.match(line).group(1))
    return opts, cmds


def read_routes(files):
    routes = set()
    for f in files:
        for m in ROUTE_ROW.finditer(open(f, encoding="utf-8").read()):
            routes.add((m.group(1), m.group(3).split("/")[1]))
    return routes


def check_command(words, helps, where, bad):
    """One command (words split on blanks) that may start with a program."""
    if not words or words[0] not in helps:
        return
    prog = words[0]
    opts, cmds = helps[prog]
    i, command = 1, None
    while i < len(words):
        w = words[i]
        if w.startswith("#"):
            break
        if w.startswith("--"):
            name = w.split("=")[0]
            if re.fullmatch(r"--[a-z][a-z0-9-]*", name):
                if name not in opts:
                    bad.append("%s: %s has no option %s" % (where, prog, name))
                elif opts[name] and "=" not in w:
                    i += 1
        elif prog == "gfs" and command is None and re.fullmatch(r"[a-z]+", w):
            command = w
            if w not in cmds:
                bad.append("%s: gfs has no command %s" % (where, w))
        i += 1


def check_doc(path, helps, settings, routes, bad):
    lines = open(path, encoding="utf-8").read().split("\n")
    fence, lang = None, ""
    for n, line in enumerate(lines, 1):
        where = "%s:%d" % (path, n)
        f = FENCE.match(line)
        if f and (fence is None or line.startswith(fence)):
            fence, lang = (None, "") if fence else (f.group(1), f.group(2))
            continue
        if fence is not None:
            if lang == "sh":
                for cmd in SPLIT.split(line):
                    check_command(cmd.split(), helps, where, bad)
            elif lang == "ini":
                m = re.match(r"^\s*([a-z][a-z0-9-]*)\s*=", line)
                if m and m.group(1) not in settings:
                    bad.append("%s: no program has the setting %s" %
                               (where, m.group(1)))
            continue
        for span in SPAN.findall(line):
            for cmd in SPLIT.split(span):
                check_command(cmd.split(), helps, where, bad)
        for method, p in DOC_ROUTE.findall(line):
            p = re.sub(r"^/api/v1(?=/)", "", p)
            seg = p.split("/")[1].rstrip(".`") if p != "/" else ""
            if seg in ("", "ui"):
                seg = ""
            if (method, seg) not in routes and not (seg == "" and
                                                    ("GET", "") in routes):
                bad.append("%s: no route %s /%s..." % (where, method, seg))


def main():
    args = sys.argv[1:]
    cut = args.index("--")
    bindir, sources, docs = args[0], args[1:cut], args[cut + 1:]
    helps = {p: read_help(bindir, p) for p in PROGRAMS}
    settings = {o[2:] for p in PROGRAMS for o in helps[p][0]}
    routes = read_routes(sources)
    bad = []
    for d in docs:
        check_doc(d, helps, settings, routes, bad)
    if bad:
        sys.stderr.write("\n".join(bad) + "\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
