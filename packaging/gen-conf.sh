#!/usr/bin/env bash
# gen-conf.sh - write a config file that lists every setting of a program.
#
#   packaging/gen-conf.sh PROGRAM SOURCE > FILE
#
# SOURCE (packaging/config/NAME.conf) holds what a person writes: a header
# comment (up to the first blank line), the settings the installed file sets ("name = value"), example
# values ("#name = value", no space after '#') and notes (comment lines
# right above a setting or example).  PROGRAM --help lists every setting,
# one "  --name ARG   help" line each (gfs_opts_print_help).  FILE is the
# header, then every setting in --help's order with its help line as a
# comment: set as SOURCE sets it, else commented out with SOURCE's example
# or with its placeholder.  A setting of SOURCE that PROGRAM does not know
# is an error, so the files follow the flags: a new flag appears at the
# next build, a removed one stops the build.
set -euo pipefail

prog=$1 src=$2
help=$("$prog" --help)

awk -v prog="$(basename "$prog")" -v src="$src" '
# Wrap text at 72 columns as "# " comment lines.
function comment(text,    n, i, w, line, out) {
	n = split(text, w, " ")
	line = "#"
	out = ""
	for (i = 1; i <= n; i++) {
		if (length(line) + 1 + length(w[i]) > 72 && line != "#") {
			out = out line "\n"
			line = "#"
		}
		line = line " " w[i]
	}
	return out line "\n"
}
FNR == NR {    # the --help text
	if (match($0, /^  --[a-z0-9-]+/)) {
		name = substr($0, 5, RLENGTH - 4)
		rest = substr($0, RLENGTH + 1)
		arg = ""
		if (match(rest, /^ [A-Z][A-Z0-9:_.|\/-]*/)) {
			arg = substr(rest, 2, RLENGTH - 1)
			rest = substr(rest, RLENGTH + 1)
		}
		sub(/^ +/, "", rest)
		if (name == "help" || name == "version" || name == "config")
			next
		order[++nopts] = name
		known[name] = 1
		argof[name] = arg
		helpof[name] = rest
	}
	next
}
{              # SOURCE
	if (!started) {        # the header: up to the first blank line
		if ($0 ~ /^[ \t]*$/)
			started = 1
		else
			header = header $0 "\n"
		next
	}
	if (match($0, /^#?[a-z0-9-]+[ \t]*=/)) {
		line = $0
		name = $0
		sub(/^#/, "", name)
		sub(/[ \t]*=.*/, "", name)
		if (!(name in known)) {
			printf "%s: %s is not a setting of %s (see %s --help)\n", \
				src, name, prog, prog > "/dev/stderr"
			bad = 1
		}
		given[name] = given[name] line "\n"
		notes[name] = notes[name] pending
		pending = ""
	} else if ($0 ~ /^#/) {
		pending = pending $0 "\n"
	} else if ($0 !~ /^[ \t]*$/) {
		printf "%s: cannot read: %s\n", src, $0 > "/dev/stderr"
		bad = 1
	}
}
END {
	if (bad)
		exit 1
	if (pending != "") {
		printf "%s: a comment at the end belongs to no setting\n", \
			src > "/dev/stderr"
		exit 1
	}
	printf "%s", header
	for (i = 1; i <= nopts; i++) {
		name = order[i]
		printf "\n%s%s", comment(helpof[name]), notes[name]
		if (name in given)
			printf "%s", given[name]
		else if (argof[name] == "")
			printf "#%s = yes\n", name
		else
			printf "#%s = %s\n", name, argof[name]
	}
}' <(printf '%s\n' "$help") "$src"
