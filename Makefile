# GFS in C: build, test, run and install.  See README.md.
#
#   make            build everything into build/ (programs in build/bin/)
#   make deps       install the Debian packages needed to build and test
#   make test       deps + build + unit and integration tests
#   make asan       the same tests under AddressSanitizer and UBSan
#   make valgrind   unit tests under valgrind (leaks are errors)
#   make pjdfstest  the POSIX suite tests/pjdfstest on a mount (counts)
#   make fsx        fsx (tests/fsx) for 100,000 operations on a mount
#   make chaos      faults under load, 200 checked rounds (seed printed;
#                   CHAOS_SEED, CHAOS_ROUNDS, CHAOS_SECS, CHAOS_FAULTS,
#                   CHAOS_ISSUE9: tests/integration/test_chaos.sh)
#   make run        a local cluster and mount on the default ports
#   make bench      throughput and metadata figures beside local baselines
#   make disk-bench build/bench/gfs-smallwrite: what a small chunk costs
#                   the disk (bench/smallwrite.c; run it by hand)
#   make install    PREFIX=/usr/local DESTDIR= honoured
#   make deb        Debian packages into build/deb/ (packaging/debian/)
#   make debtest    build the packages, install them in a fresh Debian
#                   root, check them there (tests/packaging/test_deb.sh)

BUILD ?= build
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
# mount(8) looks for its helpers in /sbin only.
HELPERDIR ?= /sbin
CC ?= gcc
SAN ?= 0
NPROC := $(shell nproc 2>/dev/null || echo 1)

PKGS = libmicrohttpd libcurl jansson fuse3 libisal libcrypto
# Recursive (=) on purpose: pkg-config runs when a recipe needs it, after
# 'make deps' may have installed it.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS))

# CFLAGS, CPPFLAGS and LDFLAGS are the builder's (dpkg-buildflags sets
# them for the packages); GFS_CFLAGS are what the code needs.
CFLAGS ?= -g -O2
GFS_CFLAGS = -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	 -Wno-format-nonliteral -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	 -pthread -Icommon $(PKG_CFLAGS) -MMD -MP
# libunistring has no pkg-config file: UTF-8 checks (common/path.c).
LDLIBS = $(PKG_LIBS) -lunistring -pthread
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
	  -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

PROGRAMS = master chunkserver fuse cli
BIN_master = gfs-master
BIN_chunkserver = gfs-chunkserver
BIN_fuse = gfs-fuse
BIN_cli = gfs

# Each directory is a library of modules plus main.c.
src_of = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
obj_of = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_common = $(BUILD)/lib/libgfscommon.a
LIB_master = $(BUILD)/lib/libgfsmaster.a
LIB_chunkserver = $(BUILD)/lib/libgfschunkserver.a
LIB_fuse = $(BUILD)/lib/libgfsfuse.a
LIB_cli = $(BUILD)/lib/libgfscli.a
LIBS = $(foreach d,$(PROGRAMS),$(LIB_$(d))) $(LIB_common)
BINS = $(foreach d,$(PROGRAMS),$(BUILD)/bin/$(BIN_$(d)))

BENCH_BINS = $(BUILD)/bench/gfs-mdbench $(BUILD)/bench/gfs-mdstate
# Disk microbenchmarks, run by hand (docs/PERFORMANCE.md), not by make test.
DISK_BENCH_BINS = $(BUILD)/bench/gfs-smallwrite

# Config files: packaging/config/NAME.conf completed with every setting of
# the program that reads it (packaging/gen-conf.sh).
CONF_PROG_master = gfs-master
CONF_PROG_backup = gfs-master
CONF_PROG_chunkserver = gfs-chunkserver
CONF_PROG_fuse = gfs-fuse
CONF_PROG_gfs = gfs
CONFS = $(patsubst packaging/config/%,$(BUILD)/conf/%,\
	$(wildcard packaging/config/*.conf))
MANS = $(wildcard packaging/man/*.[158])

UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.SECONDARY:

.PHONY: all deps test check unit integration asan valgrind run bench \
	install clean pjdfstest fsx chaos conf deb debtest disk-bench
.DEFAULT_GOAL := all

all: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(GFS_CFLAGS) $(CFLAGS) -c $< -o $@

define lib_rule
$(LIB_$(1)): $(call obj_of,$(call src_of,$(1)))
	@mkdir -p $$(dir $$@)
	rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach d,common $(PROGRAMS),$(eval $(call lib_rule,$(d))))

define bin_rule
$(BUILD)/bin/$(BIN_$(1)): $(BUILD)/obj/$(1)/main.o $(LIB_$(1)) $(LIB_common)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) $$^ -o $$@ $(LDLIBS)
endef
$(foreach d,$(PROGRAMS),$(eval $(call bin_rule,$(d))))

# The web page is assembled into the master (.incbin in master/webui.c).
$(BUILD)/obj/master/webui.o: $(wildcard master/web/*)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< -o $@ $(LIBS) $(LDLIBS) -lcriterion

$(BUILD)/bench/gfs-%: $(BUILD)/obj/bench/%.o $(LIB_common)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# mdstate writes a master's checkpoint with the master's own code.
$(BUILD)/bench/gfs-mdstate: $(BUILD)/obj/bench/mdstate.o $(LIB_master) $(LIB_common)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# smallwrite's tmpfile mode takes its inodes from the chunkserver's pool.
$(BUILD)/bench/gfs-smallwrite: $(BUILD)/obj/bench/smallwrite.o $(LIB_chunkserver) $(LIB_common)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

disk-bench: $(DISK_BENCH_BINS)

conf: $(CONFS)

$(BUILD)/conf/%.conf: packaging/config/%.conf packaging/gen-conf.sh $(BINS)
	@mkdir -p $(dir $@)
	bash packaging/gen-conf.sh $(BUILD)/bin/$(CONF_PROG_$*) $< >$@.tmp
	mv $@.tmp $@

deps:
	@bash packaging/deps.sh

# Faults under load (tests/integration/chaos.py): 200 rounds unless
# CHAOS_ROUNDS says; make test runs 3 of them (test_chaos.sh).
chaos: all
	GFS_BIN=$(abspath $(BUILD)/bin) CHAOS_ROUNDS=$${CHAOS_ROUNDS:-200} \
		bash tests/integration/test_chaos.sh

# pjdfstest (vendored in tests/pjdfstest, see README.vendor) is built with
# its own autotools in a copy under $(BUILD), so that the vendored tree
# stays as upstream has it; its tests find the program beside them.
PJD_SRC = tests/pjdfstest
PJD = $(BUILD)/pjdfstest
$(PJD)/pjdfstest: $(shell find $(PJD_SRC) -type f 2>/dev/null)
	rm -rf $(PJD)
	mkdir -p $(PJD)
	cp -R $(PJD_SRC)/. $(PJD)/
	cd $(PJD) && { autoreconf -ifs >autoreconf.log 2>&1 || \
		{ cat autoreconf.log; exit 1; }; } && ./configure -q && \
		$(MAKE) -s pjdfstest

# The whole suite on a fresh cluster and mount: counts per directory (and
# prove's output in $(BUILD)/pjdfstest.log); fails only when gfs-fuse dies
# or stops answering.
pjdfstest: all $(PJD)/pjdfstest
	GFS_BIN=$(abspath $(BUILD)/bin) PJDFSTEST=$(abspath $(PJD)) \
		PJDFSTEST_LOG=$(abspath $(BUILD)/pjdfstest.log) \
		bash tests/integration/pjdfstest.sh

# fsx (vendored in tests/fsx, see README.vendor) is upstream's code: built
# with plain flags, not ours (-Werror is for our code).
FSX_SRC = tests/fsx
FSX = $(BUILD)/fsx/fsx
$(FSX): $(wildcard $(FSX_SRC)/*.c $(FSX_SRC)/*.h)
	@mkdir -p $(dir $@)
	$(CC) -g -O2 -D_GNU_SOURCE -I$(FSX_SRC) $(FSX_SRC)/fsx.c -o $@

# 100,000 operations on one file of a fresh cluster and mount; fails on
# any mismatch (FSX_OPS, FSX_SEED to change them).
fsx: all $(FSX)
	GFS_BIN=$(abspath $(BUILD)/bin) FSX=$(abspath $(FSX)) \
		bash tests/integration/fsx.sh -N $(or $(FSX_OPS),100000) \
		-S $(or $(FSX_SEED),1)

# make test: what CI runs (via .ci/run) on a fresh Debian 12 machine.
# Everything the tests run is built first, on every core.
test: deps
	$(MAKE) -j$(NPROC) all $(UNIT_BINS) $(BENCH_BINS) $(PJD)/pjdfstest $(FSX)
	$(MAKE) check

# The packages are built first, alone (dpkg-buildpackage compiles on every
# core); then their test runs beside the unit tests (its output in
# $(BUILD)/debtest.log, shown when both ended): they spend their time
# waiting on timers and fsyncs, it mostly on the Debian mirror.  The
# integration tests, which kill, pause and cut servers, run after, alone.
check: $(UNIT_BINS) $(BENCH_BINS) $(PJD)/pjdfstest $(FSX) deb
	@rc=0; \
	echo "== debtest, beside the unit tests ($(BUILD)/debtest.log)"; \
	DEB_DIR=$(abspath $(DEB_DIR)) bash tests/packaging/test_deb.sh \
		>$(BUILD)/debtest.log 2>&1 & \
	deb=$$!; \
	$(MAKE) --no-print-directory unit || rc=1; \
	wait $$deb || rc=1; \
	echo "== debtest ($(BUILD)/debtest.log)"; cat $(BUILD)/debtest.log; \
	exit $$rc
	$(MAKE) --no-print-directory integration

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; \
		$$t --jobs 2 --short-filename; done

integration: all $(BENCH_BINS) $(PJD)/pjdfstest $(FSX)
	GFS_BIN=$(abspath $(BUILD)/bin) bash tests/integration/run.sh

# Criterion ignores how a finished test's worker exits, so a leak or a
# UBSan report is caught in the output instead.
asan:
	$(MAKE) BUILD=build/asan SAN=1 all build/asan/pjdfstest/pjdfstest \
		$(patsubst $(BUILD)/%,build/asan/%,$(BENCH_BINS)) \
		build/asan/fsx/fsx \
		$(patsubst $(BUILD)/%,build/asan/%,$(UNIT_BINS))
	@bad=; for t in $(patsubst $(BUILD)/%,build/asan/%,$(UNIT_BINS)); do \
		echo "== $$t"; $$t --jobs 2 --short-filename >build/asan/unit.log 2>&1 \
		|| bad="$$bad $$t"; cat build/asan/unit.log; \
		! grep -q 'Sanitizer\|runtime error' build/asan/unit.log || bad="$$bad $$t"; \
		done; [ -z "$$bad" ] || { echo "asan: failed:$$bad"; exit 1; }
	GFS_BIN=$(abspath build/asan/bin) GFS_ASAN=1 bash tests/integration/run.sh

# Criterion runs each test in a child it re-executes, and ignores how the
# child exits: valgrind follows the children (not the system tools some
# tests run) and any report it prints (-q: only errors) fails the target,
# as does a failed test; every binary runs, and the target fails after.
# Timing tests skip themselves when GFS_VALGRIND is set.
valgrind: $(UNIT_BINS)
	@bad=; for t in $(UNIT_BINS); do echo "== valgrind $$t"; \
		GFS_VALGRIND=1 valgrind -q --vgdb=no --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
		--trace-children=yes --trace-children-skip='/usr/*,/bin/*,/sbin/*' \
		$$t --jobs 1 --short-filename >$(BUILD)/valgrind.log 2>&1 \
		|| bad="$$bad $$t"; cat $(BUILD)/valgrind.log; \
		! grep -q '^==[0-9]*== ' $(BUILD)/valgrind.log || bad="$$bad $$t"; \
		done; [ -z "$$bad" ] || { echo "valgrind: failed:$$bad"; exit 1; }

run: all
	@bash scripts/run-local.sh $(abspath $(BUILD)/bin)

bench: all $(BENCH_BINS) $(DISK_BENCH_BINS)
	@bash bench/bench.sh $(abspath $(BUILD)/bin) $(abspath $(BUILD)/bench)

# Servers in sbin, clients in bin; units and the mount helper name them
# where they are installed.
install: all conf
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
		$(DESTDIR)$(HELPERDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/gfs $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(BUILD)/bin/gfs $(BUILD)/bin/gfs-fuse $(DESTDIR)$(BINDIR)/
	install -m 755 $(BUILD)/bin/gfs-master $(BUILD)/bin/gfs-chunkserver \
		$(DESTDIR)$(SBINDIR)/
	sed 's|@BINDIR@|$(BINDIR)|g' packaging/mount.fuse.gfs \
		>$(DESTDIR)$(HELPERDIR)/mount.fuse.gfs
	chmod 755 $(DESTDIR)$(HELPERDIR)/mount.fuse.gfs
	set -e; for u in packaging/systemd/*.service; do \
		sed -e '/^@HARDENING@$$/{r packaging/systemd/hardening.inc' -e 'd;}' \
		    -e 's|@SBINDIR@|$(SBINDIR)|g' $$u \
		    >$(DESTDIR)$(UNITDIR)/$$(basename $$u); \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	install -m 644 $(CONFS) $(DESTDIR)$(SYSCONFDIR)/gfs/
	install -m 644 $(filter %.1,$(MANS)) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(filter %.5,$(MANS)) $(DESTDIR)$(MANDIR)/man5/
	install -m 644 $(filter %.8,$(MANS)) $(DESTDIR)$(MANDIR)/man8/

# The packages are built from a copy of the tree, so that the tree stays
# as it is; dpkg-buildpackage leaves them beside the copy, in build/deb/.
DEB_DIR = $(BUILD)/deb
deb:
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	tar -c --exclude=./build --exclude=./var --exclude=./mnt --exclude=./.git \
		. | tar -x -C $(DEB_DIR)/src
	cp -r packaging/debian $(DEB_DIR)/src/debian
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b -Jauto \
		>../build.log 2>&1 || { tail -n 40 ../build.log; exit 1; }
	@ls $(DEB_DIR)/*.deb

debtest: deb
	DEB_DIR=$(abspath $(DEB_DIR)) bash tests/packaging/test_deb.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
