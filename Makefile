# mdlos build. `make run` boots it, `make test` runs every self-test,
# `make gdb` debugs it, `make bench` measures it. See README.md.

SHELL := /bin/bash
CROSS ?=
ifeq ($(origin CC),default)
CC := $(CROSS)gcc
endif
LD      := $(CROSS)ld
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

# Kernel C: freestanding, no red zone (interrupts push onto the stack
# below RSP), no SSE (the kernel does not save vector registers), the
# kernel code model (addresses in the top 2 GiB), frame pointers for
# backtraces, and the stack protector with a global cookie.
CFLAGS := -std=gnu11 -ffreestanding -fno-pic -fno-pie -mcmodel=kernel -mno-red-zone \
          -mno-mmx -mno-sse -mno-sse2 -mno-avx -fno-omit-frame-pointer \
          -fstack-protector-strong -mstack-protector-guard=global \
          -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-delete-null-pointer-checks \
          -fno-strict-aliasing -fno-common -O2 -g -Wall -Wextra -Werror -I. -MMD -MP
ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null | head -n1)),)
CFLAGS += --target=x86_64-unknown-none-elf
endif
ASFLAGS := -f elf64 -g -F dwarf
LDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments -T linker.ld

SUBSYS  := kernel mm io drivers
C_SRCS  := $(sort $(wildcard $(addsuffix /*.c,$(SUBSYS)) $(addsuffix /tests/*.c,$(SUBSYS))))
ASM_SRCS := $(sort $(wildcard boot/*.asm $(addsuffix /*.asm,$(SUBSYS))))
OBJS    := $(patsubst %.c,$(B)/%.o,$(C_SRCS)) $(patsubst %.asm,$(B)/%.o,$(ASM_SRCS))
EXTRA_OBJS := $(foreach f,$(EXTRA_TESTS),$(B)/extra/$(notdir $(basename $(f))).o)

.PHONY: all deps run test bench gdb clean iso
all: $(B)/kernel.elf

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
# The list is recorded so that changing EXTRA_TESTS relinks.
$(B)/extra.list: FORCE
	@mkdir -p $(B)
	@echo '$(abspath $(EXTRA_TESTS))' | cmp -s - $@ || echo '$(abspath $(EXTRA_TESTS))' > $@
FORCE:
define extra_rule
$(B)/extra/$(notdir $(basename $(1))).o: $(1) | deps
	@mkdir -p $(B)/extra
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
$(B)/kernel.stage1.elf: $(OBJS) $(EXTRA_OBJS) $(B)/ksyms0.o linker.ld $(B)/extra.list
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

iso: $(B)/mdlos.iso
$(B)/mdlos.iso: $(B)/kernel.elf scripts/mkiso.sh FORCE
	$(call msg,ISO,$@)
	$(Q)sh scripts/mkiso.sh $@ $(B)/kernel.elf "$(CMDLINE)"

run: $(B)/mdlos.iso
	@echo "mdlos: serial console below. Quit: type 'quit' at kd>, or press Ctrl-A then X."
	sh scripts/qemu.sh $(B)/mdlos.iso -serial mon:stdio

test: $(B)/kernel.elf
	$(PYTHON) scripts/ktest.py --kernel $(B)/kernel.elf --pattern '$(T)' --mem $(QEMU_MEM)

bench: $(B)/kernel.elf
	$(PYTHON) scripts/bench.py --kernel $(B)/kernel.elf --mem $(QEMU_MEM)

gdb: $(B)/mdlos.iso
	sh scripts/gdb.sh $(B)/mdlos.iso $(B)/kernel.elf

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
