# mdlos build. `make run` boots it, `make test` runs every self-test,
# `make gdb` debugs it, `make bench` measures it. See README.md.

SHELL := /bin/bash
CROSS ?=
ifeq ($(origin CC),default)
CC := $(CROSS)gcc
endif
LD      := $(CROSS)ld
AR      := $(CROSS)ar
NM      := $(CROSS)nm
OBJCOPY := $(CROSS)objcopy
NASM    ?= nasm
PYTHON  ?= python3

B := build
# `make V=1` shows every command; the default prints one short line each.
V ?= 0
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif
QEMU_MEM ?= 256
CMDLINE ?=
T ?= *
EXTRA_TESTS ?=
ACCEL ?= tcg

# DEBUG=1 builds with -Og instead of -O2: the compiler's level for
# debugging, which keeps variables printable and lines in source order and
# inlines little, so a student can single-step any function in GDB (-g and
# the frame pointers are there in both builds).
DEBUG ?= 0
ifeq ($(DEBUG),1)
OPT := -Og
else
OPT := -O2
endif
# CFLAGS given on the command line (make CFLAGS=-DFOO) are added after the
# kernel's and the user programs' own flags instead of replacing them (the
# kernel cannot build without -ffreestanding -mcmodel=kernel ...). One from
# the environment is ignored: a host's CFLAGS (-march=native) are not for
# a kernel.
USER_CFLAGS := $(if $(filter command line,$(origin CFLAGS)),$(CFLAGS))

# Kernel C: freestanding, no red zone (interrupts push onto the stack
# below RSP), no SSE (the kernel does not save vector registers), the
# kernel code model (addresses in the top 2 GiB), frame pointers for
# backtraces, and the stack protector with a global cookie.
override CFLAGS := -std=gnu11 -ffreestanding -fno-pic -fno-pie -mcmodel=kernel -mno-red-zone \
          -mno-mmx -mno-sse -mno-sse2 -mno-avx -fno-omit-frame-pointer \
          -fstack-protector-strong -mstack-protector-guard=global \
          -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-delete-null-pointer-checks \
          -fno-strict-aliasing -fno-common $(OPT) -g -Wall -Wextra -Werror -I. -MMD -MP
CC_IS_CLANG := $(findstring clang,$(shell $(CC) --version 2>/dev/null | head -n1))
ifneq ($(CC_IS_CLANG),)
override CFLAGS += --target=x86_64-unknown-none-elf
endif
override CFLAGS += $(USER_CFLAGS)
ASFLAGS := -f elf64 -g -F dwarf
LDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments -T linker.ld

.DEFAULT_GOAL := all   # the stamp rules below come before `all:`

# ---- flag stamps: a change of CC, CFLAGS, CROSS or DEBUG rebuilds ----
# Make only compares times, so each tool's identity (its path and version
# line) and its flags are written to a stamp file that every object made
# with that tool depends on. The stamp is rewritten only when its text
# changes: `make CC=clang` after a gcc build rebuilds everything, a second
# `make CC=clang` nothing. DEBUG and CROSS reach the stamps through OPT and
# the tool names. The kernel C, user C, NASM and link steps have a stamp each.
tool_id = $(shell command -v $(1) 2>/dev/null) $(shell $(1) $(2) 2>/dev/null | head -n1)
STAMP_kcc  = $(call tool_id,$(CC),--version) | $(CFLAGS)
STAMP_ucc  = $(call tool_id,$(CC),--version) | $(UCFLAGS)
STAMP_nasm = $(call tool_id,$(NASM),-v) | $(ASFLAGS)
STAMP_ld   = $(call tool_id,$(LD),--version) $(call tool_id,$(AR),--version) | $(LDFLAGS) | $(ULDFLAGS)
# The text goes through the shell quoted ('...', a ' inside becomes '\'').
shquote = '$(subst ','\'',$(1))'
define stamp_rule
$(B)/flags.$(1): FORCE
	@mkdir -p $(B)
	@printf '%s\n' $$(call shquote,$$(STAMP_$(1))) | cmp -s - $$@ || printf '%s\n' $$(call shquote,$$(STAMP_$(1))) > $$@
endef
$(foreach k,kcc ucc nasm ld,$(eval $(call stamp_rule,$(k))))
KSTAMP := $(B)/flags.kcc
USTAMP := $(B)/flags.ucc
ASTAMP := $(B)/flags.nasm
LSTAMP := $(B)/flags.ld

# Every .c and .asm under these trees is part of the kernel, at any depth
# (kernel/ke/, kernel/ke/tests/, ...): a new folder needs no Makefile edit.
SUBSYS  := kernel mm io drivers
C_SRCS  := $(sort $(shell find $(SUBSYS) -name '*.c'))
ASM_SRCS := $(sort $(wildcard boot/*.asm) $(shell find $(SUBSYS) -name '*.asm'))
OBJS    := $(patsubst %.c,$(B)/%.o,$(C_SRCS)) $(patsubst %.asm,$(B)/%.o,$(ASM_SRCS))
# A hidden test's object mirrors its absolute path under build/extra/, so two
# files with one base name (a/x.c, b/x.c) get two objects, both linked.
extra_obj = $(B)/extra$(abspath $(basename $(1))).o
EXTRA_OBJS := $(foreach f,$(EXTRA_TESTS),$(call extra_obj,$(f)))

.PHONY: all deps run test fuzz bench gdb clean iso user help addrs grade
all: $(B)/kernel.elf user

# Every build step first makes sure the tools exist (scripts/deps.sh
# installs them as root, or prints the apt-get line).
deps:
	@sh scripts/deps.sh

$(B)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(B)/%.o: %.asm | deps
	@mkdir -p $(dir $@)
	$(call msg,NASM,$<)
	$(Q)$(NASM) $(ASFLAGS) -MD $(B)/$*.d -MP $< -o $@

# Extra test files from outside the tree (course staff's hidden tests).
# What goes into the link is recorded, so that changing EXTRA_TESTS - or
# adding or deleting a source file - relinks.
$(B)/link.list: FORCE
	@mkdir -p $(B)
	@echo '$(OBJS) $(abspath $(EXTRA_TESTS))' | cmp -s - $@ || echo '$(OBJS) $(abspath $(EXTRA_TESTS))' > $@
FORCE:
define extra_rule
$(call extra_obj,$(1)): $(1) | deps
	@mkdir -p $$(dir $$@)
	$$(call msg,CC,$$<)
	$(Q)$$(CC) $$(CFLAGS) -c $$< -o $$@
endef
$(foreach f,$(EXTRA_TESTS),$(eval $(call extra_rule,$(f))))

# Two-pass link: pass 1 with an empty symbol table, then the real table
# generated from pass 1. .ksyms is placed after all code, so code addresses
# must come out identical - checked, since backtraces depend on it.
$(B)/ksyms0.S: scripts/gen-ksyms.sh
	@mkdir -p $(B)
	$(Q)sh scripts/gen-ksyms.sh /dev/null > $@
$(B)/ksyms0.o: $(B)/ksyms0.S
	$(Q)$(CC) $(CFLAGS) -c $< -o $@
$(B)/kernel.stage1.elf: $(OBJS) $(EXTRA_OBJS) $(B)/ksyms0.o linker.ld $(B)/link.list
	$(call msg,LD,$@)
	$(Q)$(LD) $(LDFLAGS) -o $@ $(OBJS) $(EXTRA_OBJS) $(B)/ksyms0.o
$(B)/ksyms.S: $(B)/kernel.stage1.elf scripts/gen-ksyms.sh
	$(call msg,KSYMS,$@)
	$(Q)$(NM) -S -n --defined-only $< > $(B)/kernel.stage1.nm
	$(Q)sh scripts/gen-ksyms.sh $(B)/kernel.stage1.nm > $@
$(B)/ksyms.o: $(B)/ksyms.S
	$(Q)$(CC) $(CFLAGS) -c $< -o $@
$(B)/kernel.elf: $(B)/kernel.stage1.elf $(B)/ksyms.o
	$(call msg,LD,$@)
	$(Q)$(LD) $(LDFLAGS) -o $@ $(OBJS) $(EXTRA_OBJS) $(B)/ksyms.o
	@diff <($(NM) -n $< | grep -i ' [tw] ') <($(NM) -n $@ | grep -i ' [tw] ') >/dev/null || \
	  { echo "error: the symbol table moved code between link passes (linker.ld must keep .ksyms after .text)"; rm -f $@; exit 1; }

# ---- user mode (user/): a small libc and programs, one ELF each ----
# Static non-PIE ELF64 images linked at 0x400000 by user/user.ld, one per
# program source (user/*.c and user/tests/*.c), in build/user/NAME.elf.
# mkiso.sh puts each on the ISO as the GRUB module NAME. No SSE/x87 (the
# kernel does not save vector state); the red zone is fine in ring 3; the
# stack protector uses a global cookie (set by crt0.S).
UB := $(B)/user
UCFLAGS := -std=gnu11 -ffreestanding -fno-pic -fno-pie -nostdinc -isystem $(shell $(CC) -print-file-name=include) \
           -mno-mmx -mno-sse -mno-sse2 -mno-avx -mno-80387 -fno-omit-frame-pointer \
           -fstack-protector-strong -mstack-protector-guard=global \
           -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-delete-null-pointer-checks \
           -fno-strict-aliasing -fno-common -ffunction-sections -fdata-sections \
           $(OPT) -g -Wall -Wextra -Werror -I. -Iuser/include -MMD -MP
# Big frames probe their pages in order (stack growth one page at a time,
# as NT's guard page wants: a frame that skips the guard page is an access
# violation). clang ignores -fstack-clash-protection for a bare target, so
# with clang the user programs are compiled for x86_64-linux-gnu: the same
# SysV ABI and code, nothing of Linux used (-nostdinc, -nostdlib, our libc,
# user.ld). Without it the big-frame tests (user.badinput.*, user.commit.*)
# died of STATUS_ACCESS_VIOLATION under make test CC=clang.
ifneq ($(CC_IS_CLANG),)
UCFLAGS += --target=x86_64-linux-gnu
endif
UCFLAGS += -fstack-clash-protection
UCFLAGS += $(USER_CFLAGS)
ULDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack --gc-sections -T user/user.ld

ULIB_SRCS  := $(sort $(wildcard user/lib/*.c user/lib/*.S))
ULIB_OBJS  := $(patsubst user/%,$(UB)/obj/%.o,$(basename $(ULIB_SRCS)))
# The string routines the kernel has too are one source, compiled for both
# (an object path of its own: a build/ from before kernel/rtl/ still builds).
ULIB_OBJS  += $(UB)/obj/rtl/rtlstring.o
UCRT0      := $(UB)/obj/lib/crt0.o
UPROG_SRCS := $(sort $(wildcard user/*.c user/tests/*.c))
UPROG_OBJS := $(patsubst user/%.c,$(UB)/obj/%.o,$(UPROG_SRCS))
USER_ELFS  := $(foreach f,$(UPROG_SRCS),$(UB)/$(notdir $(basename $(f))).elf)

user: $(USER_ELFS)

# init runs every user/tests/utest_*.c program and sh lists the programs:
# they get the names from here (recorded, so adding a program rebuilds them).
UPROG_NAMES := $(notdir $(basename $(UPROG_SRCS)))
UTEST_NAMES := $(filter utest_%,$(UPROG_NAMES))
$(UB)/programs.list: FORCE
	@mkdir -p $(UB)
	@echo '$(UPROG_NAMES)' | cmp -s - $@ || echo '$(UPROG_NAMES)' > $@
$(UB)/obj/init.o $(UB)/obj/sh.o: $(UB)/programs.list
$(UB)/obj/init.o: UPROG_DEFS = -DUSER_TEST_PROGRAMS='$(foreach n,$(UTEST_NAMES),"$(n)",)'
$(UB)/obj/sh.o: UPROG_DEFS = -DUSER_PROGRAMS='$(foreach n,$(UPROG_NAMES),"$(n)",)'

$(UB)/obj/lib/%.o: user/lib/%.c | deps
	@mkdir -p $(dir $@)
	$(call msg,UCC,$<)
	$(Q)$(CC) $(UCFLAGS) -c $< -o $@
$(UB)/obj/rtl/rtlstring.o: kernel/rtl/rtlstring.c | deps
	@mkdir -p $(dir $@)
	$(call msg,UCC,$<)
	$(Q)$(CC) $(UCFLAGS) -c $< -o $@
$(UB)/obj/lib/%.o: user/lib/%.S | deps
	@mkdir -p $(dir $@)
	$(call msg,UAS,$<)
	$(Q)$(CC) $(UCFLAGS) -c $< -o $@
# A program's main file also defines __progname, its image name (argv[0]).
$(UPROG_OBJS): $(UB)/obj/%.o: user/%.c user/lib/progname.h | deps
	@mkdir -p $(dir $@)
	$(call msg,UCC,$<)
	$(Q)$(CC) $(UCFLAGS) -DUSER_PROGRAM_NAME='"$(notdir $*)"' $(UPROG_DEFS) -include user/lib/progname.h -c $< -o $@
$(UB)/obj/libc.a: $(filter-out $(UCRT0),$(ULIB_OBJS))
	$(call msg,AR,$@)
	@rm -f $@
	$(Q)$(AR) rcs $@ $(filter %.o,$^)
define uprog_rule
$(UB)/$(notdir $(basename $(1))).elf: $(patsubst user/%.c,$(UB)/obj/%.o,$(1)) $(UCRT0) $(UB)/obj/libc.a user/user.ld
	$$(call msg,ULD,$$@)
	$(Q)$(LD) $(ULDFLAGS) -o $$@ $(UCRT0) $(patsubst user/%.c,$(UB)/obj/%.o,$(1)) $(UB)/obj/libc.a
endef
$(foreach f,$(UPROG_SRCS),$(eval $(call uprog_rule,$(f))))

# What each stamp (above) rebuilds.
$(patsubst %.c,$(B)/%.o,$(C_SRCS)) $(EXTRA_OBJS) $(B)/ksyms0.o $(B)/ksyms.o: $(KSTAMP)
$(patsubst %.asm,$(B)/%.o,$(ASM_SRCS)): $(ASTAMP)
$(ULIB_OBJS) $(UPROG_OBJS): $(USTAMP)
$(B)/kernel.stage1.elf $(B)/kernel.elf $(UB)/obj/libc.a $(USER_ELFS): $(LSTAMP)

iso: $(B)/mdlos.iso
$(B)/mdlos.iso: $(B)/kernel.elf $(USER_ELFS) scripts/mkiso.sh FORCE
	$(call msg,ISO,$@)
	$(Q)sh scripts/mkiso.sh $@ $(B)/kernel.elf "$(CMDLINE)" $(UB)

# QEMU's status is the kernel's isa-debug-exit verdict (docs/testing.md):
# 33 (tests passed, `kd> quit`) is a success for make; 35 (a test failed)
# and 37 (bugcheck) stay errors. Ctrl-A X leaves QEMU with 0.
# The two raw disk images QEMU gets (scripts/qemu.sh): 64 MiB each, sparse,
# made once and kept (make clean removes them). make run writes them; make
# test opens them with snapshot=on (writes vanish with the boot), and a test
# that checks what the guest wrote gets fresh copies of its own.
DISK_IMAGES := $(B)/disk0.img $(B)/disk1.img
$(DISK_IMAGES):
	@mkdir -p $(B)
	$(call msg,DISK,$@)
	$(Q)truncate -s 64M $@
.PHONY: disks
disks: $(DISK_IMAGES)

run: $(B)/mdlos.iso $(DISK_IMAGES)
	@echo "mdlos: serial console below. Quit: press Ctrl-A then X (or type 'quit' at kd>)."
	@sh scripts/qemu.sh $(B)/mdlos.iso -serial mon:stdio; s=$$?; \
	  case $$s in \
	    0|33) exit 0 ;; \
	    35) echo "mdlos: QEMU exit status 35: a test failed"; exit $$s ;; \
	    37) echo "mdlos: QEMU exit status 37: the kernel bugchecked"; exit $$s ;; \
	    *) echo "mdlos: QEMU exit status $$s"; exit $$s ;; \
	  esac

# UTESTS=1 also boots the user-mode tests (init runs user/tests/ with
# utest=PATTERN), UTESTS=0 never; unset, scripts/ktest.py decides.
UTESTS ?=
test: $(B)/kernel.elf $(USER_ELFS) $(DISK_IMAGES)
	$(PYTHON) scripts/ktest.py --kernel $(B)/kernel.elf --pattern '$(T)' --mem $(QEMU_MEM) \
	    $(if $(filter 1,$(UTESTS)),--user-tests,)$(if $(filter 0,$(UTESTS)),--no-user-tests,)

# `make fuzz N=CALLS SEED=S`: only the system-call fuzzer (kernel test
# fuzz.*, user/tests/fuzz.c), N calls from seed S (default: the one
# `make test` uses), then the leak check. About 2000 calls a second
# under TCG; the timeout grows with N. TRACE=K prints every call from the
# K-th on (before it is made), to find the one that goes wrong. HUGE=0 leaves
# out the huge reservations and commits (on by default).
N ?= 100000
SEED ?=
fuzz: $(B)/kernel.elf $(USER_ELFS) $(DISK_IMAGES)
	$(PYTHON) scripts/ktest.py --kernel $(B)/kernel.elf --pattern 'fuzz.*' --mem $(QEMU_MEM) --no-user-tests --shards 1 \
	    --cmdline 'fuzz.n=$(N)$(if $(SEED), fuzz.seed=$(SEED),)$(if $(TRACE), fuzz.trace=$(TRACE),)$(if $(HUGE), fuzz.huge=$(HUGE),)' --timeout $$((120 + $(N) / 200))

# `make grade LAB=pgtbl` grades one lab (`make grade`: every lab of
# labs/labs.json): a line per test with its points, the total, JSON in
# build/grade/LAB.json, exit status 0 only at full marks (docs/labs/).
# EXTRA_TESTS= (files or folders) adds course staff's hidden tests;
# scripts/grade.py builds the kernel with them itself.
LAB ?=
grade: $(DISK_IMAGES)
	$(PYTHON) scripts/grade.py $(if $(LAB),--lab '$(LAB)',) --extra-tests '$(EXTRA_TESTS)' --mem $(QEMU_MEM)

# `make bench`: every figure as the median of several runs (min and max
# beside it), in cycles and ns, saved in build/bench.json. BASE=FILE.json
# (a bench.json saved earlier) adds each figure's ratio to that run.
BASE ?=
bench: $(B)/kernel.elf $(USER_ELFS) $(DISK_IMAGES)
	$(PYTHON) scripts/bench.py --kernel $(B)/kernel.elf --mem $(QEMU_MEM)$(if $(BASE), --base '$(BASE)',)

# Debian 12's own Linux 6.1 in the same QEMU machine, measured with the same
# figures (scripts/linux/, docs/performance.md "Linux side by side"); about
# 30 minutes on the shared host. LINUX_BENCH= passes options to scripts/linux/run.py.
# `make prof UBENCH=disk4kringregf HZ=2000`: one boot of that ubench=
# loop with the kernel's sampling profiler on; prints its report (the top
# functions, the hottest addresses) and the loop's figures. ICOUNT=1
# profiles guest instructions instead of host time (-icount shift=0).
UBENCH ?= disk4kringregf
HZ ?= 2000
.PHONY: prof
prof: $(B)/kernel.elf $(USER_ELFS) $(DISK_IMAGES)
	$(PYTHON) scripts/prof.py --kernel $(B)/kernel.elf --mem $(QEMU_MEM) --ubench '$(UBENCH)' --hz $(HZ)$(if $(filter 1,$(ICOUNT)), --icount,)

.PHONY: linux-bench
linux-bench:
	sh scripts/linux/bench.sh $(LINUX_BENCH)

# Issue 11's disk figures side by side: PAIRS rounds, each one mdlos boot,
# one Linux boot and the host's own O_DIRECT (scripts/host/hostdisk.c), in
# rotating order; the medians and their ratios (scripts/compare.py, about
# 25 s a pair; docs/performance.md "Comparing with Linux, pair by pair").
PAIRS ?= 5
.PHONY: compare
compare: $(B)/kernel.elf $(USER_ELFS)
	sh scripts/linux/bench.sh --help >/dev/null
	$(PYTHON) scripts/compare.py --pairs $(PAIRS) --kernel $(B)/kernel.elf

# The boot path's symbols with their linked and physical addresses
# (physical = linked - 0xffffffff80000000), read from this build's
# kernel.elf: docs/boot.md refers to them by name.
BOOT_SYMS := mb2_header mb1_header _start32 _start32.cpuid_done _start32.tables_built _start32.paging_on _start32.no_nx long_mode_low \
             KiBootHighEntry boot_gdt boot_pml4 boot_pdpt_low boot_pd_low boot_pdpt_high boot_pd_high boot_pt_high \
             boot_stack_guard boot_stack boot_stack_top __bss_start __bss_end kmain
addrs: $(B)/kernel.elf
	@printf '%-22s %-18s  %s\n' symbol linked physical
	@$(NM) -n $< | while read -r a t s; do \
	  case " $(BOOT_SYMS) " in *" $$s "*) printf '%-22s 0x%s  %#x\n' "$$s" "$$a" $$((0x$$a - 0xffffffff80000000)) ;; esac; \
	done

gdb: $(B)/mdlos.iso $(DISK_IMAGES)
	sh scripts/gdb.sh $(B)/mdlos.iso $(B)/kernel.elf

clean:
	rm -rf $(B)

# One line per target and variable; README.md ("Targets and variables")
# has the same list.
help:
	@echo 'targets:'
	@echo '  make            build build/kernel.elf and the user programs (build/user/*.elf)'
	@echo '  make run        build the ISO and boot it, serial console here (Ctrl-A X quits)'
	@echo '  make test       every self-test: kernel, bugcheck, user-mode, host; ends "N passed, M failed"'
	@echo '  make fuzz       only the system-call fuzzer, then the leak check (N=, SEED=, TRACE=, HUGE=0)'
	@echo '  make bench      measured figures, median of runs, cycles and ns; build/bench.json (BASE=)'
	@echo '  make grade      grade a lab: LAB=pgtbl (default every lab), points per test, JSON (docs/labs/)'
	@echo '  make prof       the sampling profiler on one ubench= loop (UBENCH=disk4kringregf HZ=2000 ICOUNT=1)'
	@echo '  make linux-bench  Linux 6.1 in the same QEMU, the same figures (scripts/linux/; LINUX_BENCH=)'
	@echo '  make compare    the disk figures: mdlos, Linux and the host in alternating pairs (PAIRS=5)'
	@echo '  make gdb        QEMU paused at the first instruction, GDB attached with symbols'
	@echo '  make iso        only build/mdlos.iso (with CMDLINE)'
	@echo '  make addrs      the boot symbols, linked and physical, of this build (docs/boot.md)'
	@echo '  make user       only the user programs'
	@echo '  make deps       install the missing tools (as root) or print the apt-get line'
	@echo '  make disks      only the disk images build/disk0.img and disk1.img (made once, kept)'
	@echo '  make clean      remove build/'
	@echo '  make help       this list'
	@echo 'variables:'
	@echo '  CC=clang        compiler (default $$(CROSS)gcc); a change rebuilds everything compiled'
	@echo '  CROSS=PREFIX    cross toolchain prefix for gcc, ld, ar, nm, objcopy (x86_64-elf-)'
	@echo '  CFLAGS=...      extra C flags, added after the kernel and user flags; a change rebuilds'
	@echo '  DEBUG=1         -Og instead of -O2 (still -g, frame pointers): single-step any function'
	@echo '  V=1             show every build command'
	@echo '  CMDLINE=...     boot command line for run, iso, gdb: ktest=GLOBS, utest=GLOBS, kd, ...'
	@echo '  T=GLOBS         the tests make test runs, comma-separated (default *)'
	@echo '  UTESTS=0|1      make test without or with the user-mode tests'
	@echo '  EXTRA_TESTS=... more test files, from anywhere, compiled into the kernel (grade: folders too)'
	@echo '  LAB=NAME        make grade: the lab to grade (scripts/lab.py list)'
	@echo '  QEMU_MEM=MIB    guest RAM in MiB (default 256)'
	@echo '  ACCEL=kvm       KVM where it works (default tcg, what the tests use)'
	@echo '  DISK0= DISK1=   other disk images for run/gdb (path, or none); DISK_CACHE=none|writeback'
	@echo '  N= SEED= TRACE= HUGE=0   make fuzz: calls, seed, trace from call K, no huge regions'
	@echo '  BASE=FILE.json  make bench: print each figure as a ratio to that saved run'

-include $(shell find $(B) -name '*.d' 2>/dev/null)
