; mdlos boot path: multiboot2 header, 32-bit entry, long-mode switch.
;
; GRUB enters _start32 in 32-bit protected mode with paging off, EAX = the
; multiboot2 magic and EBX = the physical address of the boot information.
; The test runner boots the same file without GRUB, through QEMU's own
; multiboot (version 1) loader (-kernel): the entry is the same, with the
; multiboot1 magic in EAX and a multiboot1 information block in EBX;
; kernel/ke/multiboot.c reads either.
; Everything in this file is linked at its higher-half address (see
; linker.ld), so until paging is on we must use V2P() physical addresses.
; docs/boot.md walks through this file step by step.

default rel

%define KOFF 0xFFFFFFFF80000000          ; kernel virtual = physical + KOFF
%define V2P(x) ((x) - KOFF)

MB2_HEADER_MAGIC equ 0xE85250D6
MB2_BOOT_MAGIC   equ 0x36D76289
MB1_HEADER_MAGIC equ 0x1BADB002
MB1_BOOT_MAGIC   equ 0x2BADB002
; Multiboot1 header flags: bit 1 asks for the memory map, bit 16 says the
; header carries the load addresses itself (the "a.out kludge"). A
; multiboot1 loader only understands 32-bit ELF files; with bit 16 it loads
; any file as a flat image instead, so QEMU's loader takes this ELF64.
MB1_FLAGS        equ (1 << 1) | (1 << 16)
BOOT_PT_COUNT    equ 4                   ; 4 page tables = first 8 MiB in 4 KiB pages
BOOT_STACK_SIZE  equ 16384

PTE_P   equ 1 << 0
PTE_RW  equ 1 << 1
PTE_PS  equ 1 << 7                       ; 2 MiB page in a PD entry

CR0_PE  equ 1 << 0
CR0_WP  equ 1 << 16                      ; supervisor writes honour read-only PTEs
CR0_PG  equ 1 << 31
CR4_PAE equ 1 << 5
MSR_EFER equ 0xC0000080
EFER_LME equ 1 << 8                      ; long mode enable
EFER_NXE equ 1 << 11                     ; PTE bit 63 means no-execute

COM1 equ 0x3F8

; --------------------------------------------------------------------------
; The multiboot2 header: GRUB scans the first 32 KiB of the file for it.
section .multiboot2 progbits alloc noexec nowrite align=8
mb2_header:
    dd MB2_HEADER_MAGIC
    dd 0                                  ; architecture 0: i386 protected mode
    dd mb2_header_end - mb2_header
    dd 0x100000000 - (MB2_HEADER_MAGIC + (mb2_header_end - mb2_header))
    align 8, db 0
.info_request:                            ; tag 1: we need these info tags
    dw 1, 0
    dd .info_request_end - .info_request
    dd 1                                  ; boot command line
    dd 3                                  ; modules
    dd 6                                  ; memory map
.info_request_end:
    align 8, db 0
.entry:                                   ; tag 3: 32-bit physical entry point
    dw 3, 0
    dd 12
    dd V2P(_start32)
    align 8, db 0
    dw 0, 0                               ; end tag
    dd 8
mb2_header_end:

; The multiboot1 header (QEMU's -kernel loader, hw/i386/multiboot.c): it
; must sit in the first 8 KiB of the file, 4-byte aligned. With the a.out
; kludge the loader copies the file bytes from this header's file offset
; minus (header_addr - load_addr) to physical load_addr, up to load_end_addr,
; and zeroes up to bss_end_addr: that is this ELF's three segments only
; because ld lays them out in the file at one constant distance from their
; physical addresses (scripts/mdlosqemu.py checks it before each such boot).
extern __data_load_end, __kernel_end
    align 4, db 0
mb1_header:
    dd MB1_HEADER_MAGIC
    dd MB1_FLAGS
    dd -(MB1_HEADER_MAGIC + MB1_FLAGS)    ; magic + flags + checksum = 0 (mod 2^32)
    dd V2P(mb1_header)                    ; header_addr
    dd V2P(mb2_header)                    ; load_addr: the start of .text
    dd V2P(__data_load_end)               ; load_end_addr: the end of .data's bytes
    dd V2P(__kernel_end)                  ; bss_end_addr: .bss (and .bootbss) zeroed
    dd V2P(_start32)                      ; entry_addr

; --------------------------------------------------------------------------
section .boot.text progbits alloc exec nowrite align=16
bits 32
global _start32
_start32:
    cli
    cld
    mov esp, V2P(boot_stack_top)
    mov [V2P(boot_mb2_magic)], eax
    mov [V2P(boot_mb2_info)], ebx

    cmp eax, MB2_BOOT_MAGIC
    je .multiboot_ok
    cmp eax, MB1_BOOT_MAGIC
    jne .no_multiboot
.multiboot_ok:

    ; CPUID exists if EFLAGS.ID (bit 21) can be toggled.
    pushfd
    pop eax
    mov ecx, eax
    xor eax, 1 << 21
    push eax
    popfd
    pushfd
    pop eax
    push ecx
    popfd
    xor eax, ecx
    jz .no_long_mode

    mov eax, 0x80000000                   ; highest extended leaf
    cpuid
    cmp eax, 0x80000001
    jb .no_long_mode
    mov eax, 0x80000001
    cpuid
.cpuid_done:
    test edx, 1 << 29                     ; LM: long mode
    jz .no_long_mode
    test edx, 1 << 20                     ; NX: execute disable
    jz .no_nx

    call build_boot_page_tables
.tables_built:                            ; labels for GDB (docs/boot.md, make addrs)

    mov eax, V2P(boot_pml4)
    mov cr3, eax
    mov eax, cr4
    or eax, CR4_PAE                       ; 4-level paging needs PAE entries
    mov cr4, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, EFER_LME | EFER_NXE
    wrmsr
.paging_on:
    mov eax, cr0
    or eax, CR0_PG | CR0_WP | CR0_PE      ; paging on + LME = long mode (compat)
    mov cr0, eax

    lgdt [V2P(boot_gdtr)]
    jmp 0x08:V2P(long_mode_low)           ; loading a 64-bit CS enters 64-bit mode

.no_multiboot:
    mov esi, V2P(msg_no_multiboot)
    jmp boot_fail
.no_long_mode:
    mov esi, V2P(msg_no_long_mode)
    jmp boot_fail
.no_nx:
    mov esi, V2P(msg_no_nx)
    jmp boot_fail

; Early page tables (all physical, paging is still off):
;   PML4[0]   -> identity map of the first 1 GiB in 2 MiB pages (only for
;                the instant of the switch; kmain removes it)
;   PML4[511] -> PDPT[510] -> 0xFFFFFFFF80000000 = physical 0:
;                the first 8 MiB (the kernel image) in 4 KiB pages so single
;                pages can be unmapped (stack guards), then 2 MiB pages to 1 GiB.
build_boot_page_tables:
    mov edi, V2P(boot_tables)
    mov ecx, (boot_tables_end - boot_tables) / 4
    xor eax, eax
    rep stosd

    mov dword [V2P(boot_pml4)], V2P(boot_pdpt_low) + PTE_P + PTE_RW
    mov dword [V2P(boot_pml4) + 511 * 8], V2P(boot_pdpt_high) + PTE_P + PTE_RW
    mov dword [V2P(boot_pdpt_low)], V2P(boot_pd_low) + PTE_P + PTE_RW
    mov dword [V2P(boot_pdpt_high) + 510 * 8], V2P(boot_pd_high) + PTE_P + PTE_RW

    mov edi, V2P(boot_pd_low)
    mov eax, PTE_P + PTE_RW + PTE_PS
    mov ecx, 512
.identity:
    mov [edi], eax
    add eax, 0x200000
    add edi, 8
    loop .identity

    mov edi, V2P(boot_pd_high)
    mov eax, V2P(boot_pt_high) + PTE_P + PTE_RW
    mov ecx, BOOT_PT_COUNT
.high_tables:
    mov [edi], eax
    add eax, 4096
    add edi, 8
    loop .high_tables
    mov eax, BOOT_PT_COUNT * 0x200000 + PTE_P + PTE_RW + PTE_PS
    mov ecx, 512 - BOOT_PT_COUNT
.high_large:
    mov [edi], eax
    add eax, 0x200000
    add edi, 8
    loop .high_large

    mov edi, V2P(boot_pt_high)
    mov eax, PTE_P + PTE_RW
    mov ecx, BOOT_PT_COUNT * 512
.high_small:
    cmp eax, V2P(boot_stack_guard) + PTE_P + PTE_RW
    je .guard                             ; leave the guard page not present
    mov [edi], eax
.guard:
    add eax, 4096
    add edi, 8
    loop .high_small
    ret

; ESI = message (physical). Print it on COM1 and the VGA text screen, halt.
boot_fail:
    mov dx, COM1 + 1
    xor al, al
    out dx, al                            ; no interrupts
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al                            ; DLAB on
    mov dx, COM1
    mov al, 1
    out dx, al                            ; divisor 1 = 115200 baud
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 3
    out dx, al                            ; 8N1, DLAB off
    mov edi, 0xB8000
.next:
    lodsb
    test al, al
    jz .halt
    mov ah, al
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20                         ; transmit holding register empty
    jz .wait
    mov dx, COM1
    mov al, ah
    out dx, al
    cmp ah, 10
    je .next
    mov al, ah
    mov ah, 0x4F                          ; white on red
    stosw
    jmp .next
.halt:
    cli
    hlt
    jmp .halt

msg_no_multiboot: db "mdlos: not started by a multiboot loader (bad magic in EAX); boot from the GRUB ISO", 13, 10, 0
msg_no_long_mode: db "mdlos: this CPU has no long mode (x86-64); mdlos needs a 64-bit CPU", 13, 10, 0
msg_no_nx:        db "mdlos: this CPU has no NX (execute-disable) bit; mdlos needs it for W^X", 13, 10, 0

; Descriptors have the accessed bit preset so the CPU never writes this
; (read-only) table.
    align 16
boot_gdt:
    dq 0
    dq 0x00AF9B000000FFFF                 ; 0x08: 64-bit code, DPL 0
    dq 0x00CF93000000FFFF                 ; 0x10: data, DPL 0
boot_gdt_end:
boot_gdtr:
    dw boot_gdt_end - boot_gdt - 1
    dq V2P(boot_gdt)

; --------------------------------------------------------------------------
bits 64
long_mode_low:                            ; 64-bit, still at the physical address
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rax, KiBootHighEntry
    jmp rax                               ; into the higher half

; Still .boot.text (in the image's text): NASM's debug line info for it
; then sits with the rest of boot.asm, which keeps GDB's backtraces clean.
extern kmain
extern __bss_start
extern __bss_end
extern __stack_chk_guard
global KiBootHighEntry
KiBootHighEntry:
    mov rsp, boot_stack_top
    xor ebp, ebp                          ; ends the frame-pointer chain for backtraces

    mov rdi, __bss_start
    mov rcx, __bss_end
    sub rcx, rdi
    xor eax, eax
    rep stosb

    ; A per-boot stack-protector cookie (the compiler checks it on return
    ; from functions with arrays on the stack). Set before any C runs.
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov rcx, 0x9E3779B97F4A7C15
    imul rax, rcx
    mov [__stack_chk_guard], rax

    mov edi, [boot_mb2_magic]
    mov esi, [boot_mb2_info]
    call kmain
.hang:
    cli
    hlt
    jmp .hang

; --------------------------------------------------------------------------
section .bootbss nobits alloc write align=4096
global boot_pml4, boot_pt_high, boot_stack_guard, boot_stack, boot_stack_top
boot_tables:
boot_pml4:       resb 4096
boot_pdpt_low:   resb 4096
boot_pd_low:     resb 4096
boot_pdpt_high:  resb 4096
boot_pd_high:    resb 4096
boot_pt_high:    resb 4096 * BOOT_PT_COUNT
boot_tables_end:
boot_stack_guard: resb 4096
boot_stack:      resb BOOT_STACK_SIZE
boot_stack_top:
boot_mb2_magic:  resd 1
boot_mb2_info:   resd 1
