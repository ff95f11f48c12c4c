#!/usr/bin/env bash
# fsx (tests/fsx) on a mount, a short seeded run: random reads, writes,
# mapped reads and writes, truncates, fallocates and close/reopens of one
# file across 1 MiB chunks, every read checked against what was written
# (tests/integration/fsx.sh; `make fsx` runs 100,000 operations).
set -uo pipefail
bash "$(dirname "$0")/fsx.sh" -N "${FSX_OPS:-3000}" -S "${FSX_SEED:-11}"
