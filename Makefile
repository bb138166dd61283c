# SPDX-License-Identifier: GPL-2.0
#
# connlimit: out-of-tree xt_connlimit kernel match and libxt_connlimit.so.
#
#   make                 module for KDIR + the iptables extension
#   make modules-all     module for every installed Debian header set
#   make module-fault    test-only module failing every FAULT_EVERY-th
#                        packet-path allocation (build/fault/<release>/)
#   make check           everything: style/W=1/sparse builds, host tests,
#                        the qemu suites on 6.1 and 6.12, the kernel matrix's
#                        check (tests/matrix/run.sh check), ARM's (tests/
#                        cross/run.sh check), the packages (see README.md)
#   make demo            boot 6.1 in qemu and watch a limit being enforced
#   make matrix          every kernel of tests/matrix/releases.conf (Debian
#                        5.10 to 7.x, generic, cloud and rt), each built in a
#                        chroot of its release and every flavour booted with
#                        the e2e suite, ours and in-tree, both backends; the
#                        extension's host suite and the packages in every
#                        release's chroot ("make check" runs the builds, the
#                        host suite in the releases other than the host's,
#                        the packages in every release, and for each
#                        releases.conf BOOT flavour one boot on ours and one
#                        on the in-tree module, nft backend)
#   make cross           routers: the module cross-built for Debian trixie's
#                        arm64, armmp and armmp-lpae kernels (W=1, sparse)
#                        and the extension and test tools for arm64 and
#                        armhf, with Debian's cross compilers in a chroot
#                        (tests/cross); ARCH=arm64 or ARCH=arm for one
#   make cross-check     make cross, then each architecture booted under qemu
#                        TCG: e2e ours and in-tree, legacy and nft, stress
#                        short, and armmp-lpae's e2e on ours ("make check"
#                        runs all but the in-tree boots and armmp-lpae's)
#   make stress          the stress suite in qemu on every installed kernel:
#                        SYN flood, connect races, teardown under load,
#                        hostile rule data (tests/stress; its short form
#                        is part of "make check"), 300 s of tests/fuzz
#                        (libFuzzer over the extension; 60 s in "make check"),
#                        and the documentation's examples of revision-1 rules
#                        in qemu on our module too (tests/docs)
#   make diff            the differential generator in qemu (tests/diff): fixed
#                        scenarios and eight seeds on every kernel, the in-tree
#                        xt_connlimit against ours; SEED=N (or N,M,...) runs
#                        those seeds only, DIFF_FIXED=NAME a fixed scenario,
#                        DIFF_KVER=KVER one kernel (part of "make check";
#                        "make stress" runs seeds 1-60)
#   make bench           benchmarks in qemu: no rule vs the kernel's connlimit
#                        vs ours; writes docs/benchmarks.md (BENCH_KERNEL=6.12
#                        for the other kernel; not part of "make check")
#   make style           checkpatch, W=1/sparse/-Werror builds, strict userspace
#   make install         module into /lib/modules/KVER/updates (+ depmod), the
#                        extension into the xtables dir, the man page,
#                        connlimit-reload into SBINDIR
#   make uninstall       undo "make install"
#   make dkms-install    sources into /usr/src/connlimit-VERSION, then dkms
#                        add/build/install for KVER
#   make dkms-remove     dkms remove --all, and the /usr/src tree
#
# All install targets honour DESTDIR and KVER/KDIR.  With DESTDIR set they
# only stage files (no depmod unless DESTDIR holds that kernel's full module
# tree, no dpkg-divert, no dkms calls).
#
# Kbuild writes objects next to the sources, so each kernel gets its own
# copy of the module sources under $(BUILD)/<kernel release>/.

VERSION := $(shell cat VERSION)
BUILD ?= $(CURDIR)/build

# Kernel headers: KDIR wins; else the running kernel's build dir; else the
# newest installed Debian arch header set (never a -common directory).
ifeq ($(origin KDIR),undefined)
  ifneq ($(origin KVER),undefined)
    KDIR := $(firstword $(wildcard /lib/modules/$(KVER)/build /usr/src/linux-headers-$(KVER)) /lib/modules/$(KVER)/build)
  else ifneq ($(wildcard /lib/modules/$(shell uname -r)/build),)
    KDIR := /lib/modules/$(shell uname -r)/build
  else
    KDIR := $(lastword $(sort $(wildcard /usr/src/linux-headers-*-amd64)))
    $(info note: no /lib/modules/$(shell uname -r)/build; building against $(KDIR))
  endif
endif
KVER ?= $(patsubst linux-headers-%,%,$(notdir $(realpath $(KDIR))))

ALL_KDIRS := $(sort $(wildcard /usr/src/linux-headers-*-amd64))
MODULE_SRCS := Kbuild VERSION $(wildcard include/*.h) $(wildcard kernel/*.c kernel/*.h) kernel/Kbuild

.PHONY: all module module-fault modules-all userspace check demo clean style man \
	install install-module install-userspace install-man install-sbin uninstall \
	dkms-src dkms-install dkms-remove bench stress matrix diff cross cross-check

INSTALL ?= install
PREFIX ?= /usr
MANDIR ?= $(PREFIX)/share/man
SBINDIR ?= $(PREFIX)/sbin
MANFRAGDIR ?= $(PREFIX)/share/doc/connlimit
XTLIBDIR ?= $(shell pkg-config --variable=xtlibdir xtables 2>/dev/null)
MODDEST := $(DESTDIR)/lib/modules/$(KVER)/updates
DKMS_NAME := connlimit
DKMS_SRC := $(PREFIX)/src/$(DKMS_NAME)-$(VERSION)
XTLIB := $(XTLIBDIR)/libxt_connlimit.so
MAN8 := $(BUILD)/man/xt_connlimit.8

all: module userspace

# build-module KDIR: copy the module sources to $(BUILD)/<release>/, build.
define build_module
set -e; kdir=$(1); kv=$$(basename "$$(realpath "$$kdir")"); kv=$${kv#linux-headers-}; \
dst=$(BUILD)/$$kv; mkdir -p "$$dst"; \
tar -cf - $(MODULE_SRCS) | tar -xf - -C "$$dst"; \
$(MAKE) -C "$$kdir" M="$$dst" $(KBUILD_ARGS) modules; \
echo "built $$dst/kernel/xt_connlimit.ko"
endef

module:
	@$(call build_module,$(KDIR))

# Test-only: fails every FAULT_EVERY-th packet-path allocation (fault.h),
# in $(BUILD)/fault/<release>/; never install it.
FAULT_EVERY ?= 7
module-fault:
	@$(MAKE) --no-print-directory module BUILD=$(BUILD)/fault \
		KBUILD_ARGS="$(KBUILD_ARGS) CL_FAULT_EVERY=$(FAULT_EVERY)"

modules-all:
	@for k in $(ALL_KDIRS); do $(MAKE) --no-print-directory module KDIR=$$k || exit 1; done

userspace:
	$(MAKE) -C userspace

check:
	tests/run-all.sh

style:
	tests/style/run.sh

# The man page: a header around the extension's man fragment.
man: $(MAN8)

$(MAN8): man/xt_connlimit.8.in userspace/libxt_connlimit.man VERSION
	@mkdir -p $(dir $@)
	sed -e 's/@VERSION@/$(VERSION)/' \
	    -e '/^@OPTIONS@$$/{r userspace/libxt_connlimit.man' -e 'd}' $< >$@

# Everything is built before anything is installed.
install: module userspace man
	@$(MAKE) --no-print-directory install-module install-userspace install-man install-sbin
	@if [ -z "$(DESTDIR)" ] && [ "$(KVER)" = "$$(uname -r)" ] && \
	    [ -d /sys/module/xt_connlimit ] && [ ! -e /sys/module/xt_connlimit/version ]; then \
		echo "note: the kernel's own xt_connlimit is loaded: run connlimit-reload to switch to ours"; \
	fi

# depmod, the way "make install" users and package scripts expect: for the
# live system, or for a DESTDIR that holds the kernel's whole module tree.
define run_depmod
if [ -z "$(DESTDIR)" ]; then depmod -a $(KVER); \
elif [ -f "$(DESTDIR)/lib/modules/$(KVER)/modules.order" ]; then depmod -b "$(DESTDIR)" -a $(KVER); \
else echo "note: not running depmod for a partial DESTDIR; run 'depmod -a $(KVER)' on the target"; fi
endef

install-module: module
	$(INSTALL) -d $(MODDEST)
	$(INSTALL) -m 0644 $(BUILD)/$(KVER)/kernel/xt_connlimit.ko $(MODDEST)/xt_connlimit.ko
	@$(run_depmod)

# On a live Debian system the iptables package owns the file we replace:
# move its copy aside with a local diversion, as an administrator would.
install-userspace: userspace
	@test -n "$(XTLIBDIR)" || { echo "XTLIBDIR is empty (pkg-config xtables?)" >&2; exit 1; }
	@if [ -z "$(DESTDIR)" ] && command -v dpkg-divert >/dev/null && \
	    dpkg -S $(XTLIB) >/dev/null 2>&1; then \
		echo "dpkg-divert --local --rename --divert $(XTLIB).distrib --add $(XTLIB)"; \
		dpkg-divert --local --rename --divert $(XTLIB).distrib --add $(XTLIB); \
	fi
	$(MAKE) -C userspace install DESTDIR=$(DESTDIR) XTLIBDIR=$(XTLIBDIR) \
		MANFRAGDIR=$(MANFRAGDIR)

install-man: man
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/xt_connlimit.8

# connlimit-reload: from the kernel's own xt_connlimit to ours, rules kept
install-sbin:
	$(INSTALL) -d $(DESTDIR)$(SBINDIR)
	$(INSTALL) -m 0755 scripts/connlimit-reload $(DESTDIR)$(SBINDIR)/connlimit-reload

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/connlimit-reload
	rm -f $(MODDEST)/xt_connlimit.ko
	@$(run_depmod)
	rm -f $(DESTDIR)$(MANDIR)/man8/xt_connlimit.8
	rm -f $(DESTDIR)$(MANFRAGDIR)/libxt_connlimit.man
	rmdir $(DESTDIR)$(MANFRAGDIR) 2>/dev/null || true
	@# the extension: ours only if we diverted the package's copy (or no
	@# package owns the path); never delete a file dpkg installed
	@if [ -n "$(DESTDIR)" ] || ! command -v dpkg-divert >/dev/null; then \
		echo "rm -f $(DESTDIR)$(XTLIB)"; rm -f $(DESTDIR)$(XTLIB); \
	elif [ "$$(dpkg-divert --listpackage $(XTLIB))" = LOCAL ]; then \
		echo "rm -f $(XTLIB)"; rm -f $(XTLIB); \
		echo "dpkg-divert --local --rename --divert $(XTLIB).distrib --remove $(XTLIB)"; \
		dpkg-divert --local --rename --divert $(XTLIB).distrib --remove $(XTLIB); \
	elif dpkg -S $(XTLIB) >/dev/null 2>&1; then \
		echo "note: $(XTLIB) is a package's file, not ours: left alone"; \
	else \
		echo "rm -f $(XTLIB)"; rm -f $(XTLIB); \
	fi

# The DKMS source tree: what kernel/Kbuild needs, and dkms.conf with the
# version from VERSION.
dkms-src:
	$(INSTALL) -d $(DESTDIR)$(DKMS_SRC)
	tar -cf - $(MODULE_SRCS) | tar -xf - -C $(DESTDIR)$(DKMS_SRC) --no-same-owner
	sed 's/#MODULE_VERSION#/$(VERSION)/' dkms.conf >$(DESTDIR)$(DKMS_SRC)/dkms.conf

dkms-install: dkms-src
	@if [ -n "$(DESTDIR)" ]; then \
		echo "note: DESTDIR set: staged $(DESTDIR)$(DKMS_SRC) only"; \
	else \
		set -e; \
		dkms status -m $(DKMS_NAME) -v $(VERSION) | grep -q . || \
			dkms add -m $(DKMS_NAME) -v $(VERSION); \
		dkms build -m $(DKMS_NAME) -v $(VERSION) -k $(KVER); \
		dkms install -m $(DKMS_NAME) -v $(VERSION) -k $(KVER); \
	fi

dkms-remove:
	@if [ -z "$(DESTDIR)" ] && dkms status -m $(DKMS_NAME) -v $(VERSION) | grep -q .; then \
		echo "dkms remove -m $(DKMS_NAME) -v $(VERSION) --all"; \
		dkms remove -m $(DKMS_NAME) -v $(VERSION) --all; \
	fi
	rm -rf $(DESTDIR)$(DKMS_SRC)

demo:
	tests/qemu/demo.sh

stress: modules-all userspace
	tests/stress/run.sh long; rc=$$?; tests/stress/run.sh fault || rc=1; \
	tests/diff/run.sh stress || rc=1; \
	DOCS_GUEST_RULES=1 tests/docs/run.sh || rc=1; \
	tests/fuzz/run.sh 300 || rc=1; exit $$rc

matrix: userspace
	tests/matrix/run.sh full

# ARCH here names the ARM architecture (arm64, arm), as kbuild's does.
cross:
	tests/cross/run.sh build $(ARCH)

cross-check:
	tests/cross/run.sh full $(ARCH)

diff: modules-all userspace
	@if [ -n "$(SEED)" ]; then tests/diff/run.sh seed $(SEED) $(DIFF_KVER); \
	elif [ -n "$(DIFF_FIXED)" ]; then tests/diff/run.sh fixed $(DIFF_FIXED) $(DIFF_KVER); \
	else tests/diff/run.sh check $(DIFF_KVER); fi

BENCH_KERNEL ?= 6.1
bench:
	BENCH_KERNEL=$(BENCH_KERNEL) bench/run.sh

clean:
	rm -rf $(BUILD)
	$(MAKE) -C userspace clean
