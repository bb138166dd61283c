# SPDX-License-Identifier: GPL-2.0
#
# connlimit: out-of-tree xt_connlimit kernel match and libxt_connlimit.so.
#
#   make                 module for KDIR + the iptables extension
#   make modules-all     module for every installed Debian header set
#   make check           everything: style/W=1/sparse builds, host tests,
#                        the qemu suites on 6.1 and 6.12 (see README.md)
#   make demo            boot 6.1 in qemu and watch a limit being enforced
#
# Kbuild writes objects next to the sources, so each kernel gets its own
# copy of the module sources under $(BUILD)/<kernel release>/.

VERSION := $(shell cat VERSION)
BUILD ?= $(CURDIR)/build

# Kernel headers: KDIR wins; else the running kernel's build dir; else the
# newest installed Debian arch header set (never a -common directory).
ifeq ($(origin KDIR),undefined)
  ifneq ($(wildcard /lib/modules/$(shell uname -r)/build),)
    KDIR := /lib/modules/$(shell uname -r)/build
  else
    KDIR := $(lastword $(sort $(wildcard /usr/src/linux-headers-*-amd64)))
    $(info note: no /lib/modules/$(shell uname -r)/build; building against $(KDIR))
  endif
endif
KVER ?= $(patsubst linux-headers-%,%,$(notdir $(realpath $(KDIR))))

ALL_KDIRS := $(sort $(wildcard /usr/src/linux-headers-*-amd64))
MODULE_SRCS := Kbuild VERSION $(wildcard include/*.h) $(wildcard kernel/*.c kernel/*.h) kernel/Kbuild

.PHONY: all module modules-all userspace check demo clean

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

modules-all:
	@for k in $(ALL_KDIRS); do $(MAKE) --no-print-directory module KDIR=$$k || exit 1; done

userspace:
	$(MAKE) -C userspace

check:
	tests/run-all.sh

demo:
	tests/qemu/demo.sh

clean:
	rm -rf $(BUILD)
	$(MAKE) -C userspace clean
