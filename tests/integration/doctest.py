#!/usr/bin/env python3
"""doctest.py - turn the command blocks of Markdown files into a script.

usage: doctest.py FILE.md   prints a bash script on stdout; exit 1 with
                            the problems on stderr when the file breaks
                            the rules below

The rules (README.md, "Docs that are tested"):
- A fenced block of language sh holds commands: they are run, in order.
- A comment line "<!-- doc-test skip: REASON" right before a block (it
  may go on over several lines) says why the block is not run; the
  lines after "instead:" up to "-->" are run in its place.
- "<!-- doc-test file: PATH -->" right before a block: its text is
  written to PATH (a config file the commands after it use).
- Every other fenced block is not a command: one with a language (json,
  text, ini) is what its author says; a plain one whose lines start with
  a command this project documents is an error (say sh, or text).
- No indented code blocks: a command there would escape the test.

The script calls doc_at FILE:LINE before each block, doc_file PATH for
a file (text on stdin) and doc_skip FILE:LINE REASON for a skipped one;
the test defines them.
"""
import re
import shlex
import sys

FENCE = re.compile(r"^(```+)\s*([A-Za-z0-9_-]*)\s*$")
MARK = re.compile(r"^<!-- doc-test (skip|file):\s*(.*)$")
COMMANDS = re.compile(r"^\s*(\$ )?(gfs|gfs-master|gfs-chunkserver|gfs-fuse|"
                      r"make|curl|systemctl|mount|umount|apt|cp|mkdir|"
                      r"setfattr|getfattr|fusermount3|tar|journalctl)\b")
LIST = re.compile(r"^\s*([-*+]|\d+\.)\s|^\s")


def parse_marker(lines, i):
    """The marker ending just before line i (index of the fence), as
    (kind, text, first_line, instead) or None."""
    j = i - 1
    if j < 0 or not lines[j].rstrip().endswith("-->"):
        return None
    while j >= 0 and not lines[j].startswith("<!--"):
        j -= 1
    m = MARK.match(lines[j]) if j >= 0 else None
    if not m:
        return None
    body = "\n".join([m.group(2)] + lines[j + 1:i])
    body = body.rsplit("-->", 1)[0]
    text, _, instead = body.partition("instead:")
    return m.group(1), " ".join(text.split()).rstrip(";"), j, instead


def main():
    path = sys.argv[1]
    lines = open(path, encoding="utf-8").read().split("\n")
    out, bad = [], []
    i, prev_text = 0, ""
    while i < len(lines):
        line = lines[i]
        f = FENCE.match(line)
        if not f:
            if (line.startswith("    ") and line.strip() and
                    i > 0 and not lines[i - 1].strip() and
                    not LIST.match(prev_text)):
                bad.append("%s:%d: an indented code block: fence it "
                           "(```sh for commands)" % (path, i + 1))
            if line.strip():
                prev_text = line
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].startswith(f.group(1)):
            end += 1
        body = "\n".join(lines[i + 1:end])
        lang = f.group(2)
        mark = parse_marker(lines, i)
        where = "%s:%d" % (path, i + 2)
        if mark and mark[0] == "file":
            out.append("doc_file %s <<'DOC_EOF'\n%s\nDOC_EOF" %
                       (shlex.quote(mark[1]), body))
        elif mark and mark[0] == "skip":
            if not mark[1]:
                bad.append("%s: a skip without a reason" % where)
            out.append("doc_skip %s %s" % (shlex.quote(where),
                                          shlex.quote(mark[1])))
            if mark[3].strip():
                out.append("doc_at %s\n%s" % (shlex.quote(where + " (instead)"),
                                              mark[3].strip()))
        elif lang == "sh":
            out.append("doc_at %s\n%s" % (shlex.quote(where), body))
        elif not lang and any(COMMANDS.match(x) for x in lines[i + 1:end]):
            bad.append("%s: commands in a block that is not sh" % where)
        prev_text = ""
        i = end + 1
    if bad:
        sys.stderr.write("\n".join(bad) + "\n")
        sys.exit(1)
    print("\n".join(out))


if __name__ == "__main__":
    main()
