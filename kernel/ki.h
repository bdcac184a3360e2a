/*
 * ki.h: kernel-core internals shared between kernel/ files (and read by
 * mm/ during bring-up). Not for drivers.
 */
#pragma once
#include "kernel/ke.h"

/* ---- what the boot loader told us (kernel/multiboot.c) ---- */
#define KI_MAX_MEMORY_RANGES 64
#define KI_MAX_MODULES 16
#define KI_CMDLINE_MAX 1024

/* Multiboot2 memory-map types */
#define KI_MEMORY_AVAILABLE 1
#define KI_MEMORY_RESERVED  2
#define KI_MEMORY_ACPI      3
#define KI_MEMORY_NVS       4
#define KI_MEMORY_BAD       5

typedef struct {
    uint64_t base, length;
    uint32_t type;
} KI_MEMORY_RANGE;

typedef struct {
    uint64_t start, end;      /* physical, end exclusive */
    char name[64];
} KI_MODULE;

typedef struct {
    uint32_t magic;
    uint64_t info_phys, info_size;   /* the multiboot2 information itself */
    char cmdline[KI_CMDLINE_MAX];
    char loader[64];
    uint32_t range_count;
    KI_MEMORY_RANGE ranges[KI_MAX_MEMORY_RANGES];
    uint32_t module_count;
    KI_MODULE modules[KI_MAX_MODULES];
    uint64_t mem_lower_kb, mem_upper_kb;   /* the basic meminfo tag */
} KI_BOOT_INFO;

extern KI_BOOT_INFO KiBootInfo;

/* Copies everything out of the multiboot2 information, which lives in
 * memory the kernel will later reuse. FALSE if it is malformed. */
BOOLEAN KiParseMultiboot(uint32_t magic, uint64_t info_phys);
uint64_t KiTotalAvailableMemory(void);

/* ---- command line (kernel/cmdline.c) ---- */
#define KI_MAX_OPTIONS 32
typedef struct {
    char name[32];
    char value[256];
} KI_OPTION;
typedef struct {
    int count;
    KI_OPTION opt[KI_MAX_OPTIONS];
} KI_OPTIONS;
/* Parses "a=1 b c=\"x y\"" into OUT; returns the count, -1 when it is
 * malformed (unterminated quote, name or value too long, too many). */
int KiParseCommandLine(const char *line, KI_OPTIONS *out);
const char *KiFindOption(const KI_OPTIONS *opts, const char *name);
void KiInitCommandLine(const char *line);

/* ---- processor structures (kernel/gdt.c, idt.c) ---- */
#define KGDT64_R0_CODE 0x08
#define KGDT64_R0_DATA 0x10
#define KGDT64_R3_CMCODE 0x18   /* 32-bit user code: unused, keeps the sysret layout */
#define KGDT64_R3_DATA 0x20
#define KGDT64_R3_CODE 0x28
#define KGDT64_SYS_TSS 0x30
void KiInitGdt(void);
void KiInitIdt(void);

/* The register state the trap stubs (kernel/trapentry.asm) save. */
typedef struct _KTRAP_FRAME {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;   /* pushed by the CPU */
} KTRAP_FRAME, *PKTRAP_FRAME;

void KiTrapDispatch(PKTRAP_FRAME frame);
const char *KiExceptionName(uint64_t vector);

/* Print what the CPU reported: vector, error code (decoded for #PF), registers. */
void KiReportException(PKTRAP_FRAME frame);
/* Bugcheck from a trap, after the exception report, with the rule in words. */
__attribute__((noreturn)) void KiBugCheckTrapRule(PKTRAP_FRAME frame, ULONG code, ULONG_PTR p1, ULONG_PTR p2,
                                                  ULONG_PTR p3, ULONG_PTR p4, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Bugcheck from a trap: the backtrace starts at the faulting instruction. */
__attribute__((noreturn)) void KiBugCheckTrap(PKTRAP_FRAME frame, ULONG code, ULONG_PTR p1, ULONG_PTR p2,
                                              ULONG_PTR p3, ULONG_PTR p4);

/* ---- boot-time page tables (boot/boot.asm) until mm/ takes over ---- */
extern uint64_t boot_pml4[512];
extern uint64_t boot_pt_high[4 * 512];
extern char boot_stack_guard[], boot_stack[], boot_stack_top[];
extern char __kernel_start[], __kernel_end[], __text_start[], __text_end[];
extern char __rodata_start[], __rodata_end[], __data_start[], __data_end[];
extern char __bss_start[], __bss_end[];
/* Make one page of the kernel image not present (a guard page). */
void KiBootUnmapPage(void *va);
void KiDropIdentityMap(void);

/* ---- non-local exit (kernel/jmp.asm) ---- */
typedef struct { uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip; } KI_JMP_BUF;
int KiSetJmp(KI_JMP_BUF *b) __attribute__((returns_twice));
__attribute__((noreturn)) void KiLongJmp(KI_JMP_BUF *b, int value);
ULONG64 KiCallOnStack(ULONG64 (*fn)(ULONG64), ULONG64 arg, PVOID stack_top);

/* Timestamp counter at kmain entry (for make bench). */
extern uint64_t KiBootTsc;
