/*
 * crasher CASE: does one bad thing, for user/tests/utest_fault.c. The
 * kernel must end the process with the NT status of the exception (the
 * parent reads it with NtQueryInformationProcess) and nothing else.
 * If the bad thing does not fault, crasher exits with CRASHER_SURVIVED;
 * an unknown CASE exits with CRASHER_UNKNOWN_CASE; a failed set-up step
 * (an allocation the case needs) exits with CRASHER_SETUP_FAILED.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "user/tests/crasher.h"

/* Hide a constant from the optimizer, so a NULL or kernel address is
 * really dereferenced (not folded into a trap or deleted). */
static inline uint64_t opaque(uint64_t v)
{
    __asm__ volatile("" : "+r"(v));
    return v;
}

static uint8_t read8(uint64_t address)
{
    return *(volatile uint8_t *)opaque(address);
}

static void write8(uint64_t address, uint8_t v)
{
    *(volatile uint8_t *)opaque(address) = v;
}

typedef int (*FN)(void);

static int call(uint64_t address)
{
    return ((FN)opaque(address))();
}

/* Code bytes for `mov eax, 42; ret`, in writable data. */
static uint8_t data_code[16] = { 0xB8, 42, 0, 0, 0, 0xC3 };
static const char rodata_string[64] = "crasher: a read-only string in .rodata";

static void *alloc(size_t size, uint32_t type, uint32_t protect)
{
    void *base = NULL;
    NTSTATUS st = NtAllocateVirtualMemory(NtCurrentProcess(), &base, 0, &size, type, protect);
    if (!NT_SUCCESS(st)) {
        printf("crasher: NtAllocateVirtualMemory failed: 0x%08x\n", (uint32_t)st);
        exit(CRASHER_SETUP_FAILED);
    }
    return base;
}

static void setup_check(NTSTATUS st, const char *what)
{
    if (!NT_SUCCESS(st)) {
        printf("crasher: %s failed: 0x%08x\n", what, (uint32_t)st);
        exit(CRASHER_SETUP_FAILED);
    }
}

static __attribute__((noinline)) uint64_t recurse(uint64_t depth, uint64_t limit)
{
    volatile uint8_t frame[4096];
    frame[4095] = (uint8_t)depth;   /* top first: pages are touched in order, as stack growth wants */
    frame[0] = (uint8_t)depth;
    if (depth >= limit)
        return frame[0];
    return recurse(depth + 1, limit) + frame[4095];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: crasher CASE (see user/tests/crasher.h)\n");
        return CRASHER_UNKNOWN_CASE;
    }
    const char *c = argv[1];
    if (strcmp(c, "none") == 0) {
        return 0;
    } else if (strcmp(c, "null_read") == 0 || strcmp(c, "null") == 0) {
        read8(0);
    } else if (strcmp(c, "null_write") == 0) {
        write8(8, 1);
    } else if (strcmp(c, "null_call") == 0) {
        call(0);
    } else if (strcmp(c, "write_text") == 0) {
        write8((uint64_t)(uintptr_t)&main, 0xCC);
    } else if (strcmp(c, "write_rodata") == 0) {
        write8((uint64_t)(uintptr_t)rodata_string, 'X');
    } else if (strcmp(c, "write_readonly") == 0) {
        uint8_t *p = alloc(PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        p[0] = 1;   /* fine while it is read-write */
        void *base = p;
        size_t size = PAGE_SIZE;
        uint32_t old = 0;
        setup_check(NtProtectVirtualMemory(NtCurrentProcess(), &base, &size, PAGE_READONLY, &old),
                    "NtProtectVirtualMemory(PAGE_READONLY)");
        if (read8((uint64_t)(uintptr_t)p) != 1)
            exit(CRASHER_SETUP_FAILED);
        write8((uint64_t)(uintptr_t)p, 2);
    } else if (strcmp(c, "exec_data") == 0) {
        call((uint64_t)(uintptr_t)data_code);
    } else if (strcmp(c, "exec_stack") == 0) {
        uint8_t code[16];
        memcpy(code, data_code, sizeof(code));
        call((uint64_t)(uintptr_t)code);
    } else if (strcmp(c, "exec_heap") == 0) {
        uint8_t *p = alloc(PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        memcpy(p, data_code, sizeof(data_code));
        call((uint64_t)(uintptr_t)p);
    } else if (strcmp(c, "exec_readonly") == 0) {
        uint8_t *p = alloc(PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        memcpy(p, data_code, sizeof(data_code));
        void *base = p;
        size_t size = PAGE_SIZE;
        uint32_t old = 0;
        setup_check(NtProtectVirtualMemory(NtCurrentProcess(), &base, &size, PAGE_READONLY, &old),
                    "NtProtectVirtualMemory(PAGE_READONLY)");
        call((uint64_t)(uintptr_t)p);
    } else if (strcmp(c, "kernel_read") == 0) {
        read8(0xFFFFF80000000000ULL);
    } else if (strcmp(c, "kernel_image_read") == 0) {
        /* Mapped (the kernel image), but supervisor-only. */
        read8(CRASHER_KERNEL_IMAGE);
    } else if (strcmp(c, "kernel_write") == 0) {
        write8(CRASHER_KERNEL_IMAGE + 0x1000, 0);
    } else if (strcmp(c, "kernel_exec") == 0) {
        call(CRASHER_KERNEL_IMAGE);
    } else if (strcmp(c, "noncanonical_read") == 0) {
        read8(0x0000800000000000ULL);   /* #GP, not #PF: still an access violation */
    } else if (strcmp(c, "stack_overflow") == 0) {
        recurse(0, 1ULL << 40);
    } else if (strcmp(c, "read_reserved") == 0) {
        uint8_t *p = alloc(16 * PAGE_SIZE, MEM_RESERVE, PAGE_READWRITE);
        read8((uint64_t)(uintptr_t)p + 5 * PAGE_SIZE);
    } else if (strcmp(c, "read_decommitted") == 0) {
        uint8_t *p = alloc(4 * PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        p[PAGE_SIZE] = 1;
        void *base = p + PAGE_SIZE;
        size_t size = PAGE_SIZE;
        setup_check(NtFreeVirtualMemory(NtCurrentProcess(), &base, &size, MEM_DECOMMIT), "MEM_DECOMMIT");
        read8((uint64_t)(uintptr_t)p + PAGE_SIZE);
    } else if (strcmp(c, "read_released") == 0) {
        uint8_t *p = alloc(4 * PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        p[0] = 1;
        void *base = p;
        size_t size = 0;
        setup_check(NtFreeVirtualMemory(NtCurrentProcess(), &base, &size, MEM_RELEASE), "MEM_RELEASE");
        read8((uint64_t)(uintptr_t)p);
    } else if (strcmp(c, "read_noaccess") == 0) {
        uint8_t *p = alloc(PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS);
        read8((uint64_t)(uintptr_t)p);
    } else if (strcmp(c, "privileged_instruction") == 0) {
        __asm__ volatile("hlt");
    } else if (strcmp(c, "io_port") == 0) {
        __asm__ volatile("outb %%al, $0x80" : : "a"(0));
    } else if (strcmp(c, "illegal_instruction") == 0) {
        __asm__ volatile("ud2");
    } else if (strcmp(c, "divide_by_zero") == 0) {
        volatile uint64_t zero = opaque(0);
        volatile uint64_t r = 1000 / zero;
        (void)r;
    } else if (strcmp(c, "breakpoint") == 0) {
        __asm__ volatile("int3");
    } else if (strcmp(c, "exit") == 0) {
        return argc > 2 ? (int)strtoul(argv[2], NULL, 0) : 0;
    } else {
        printf("crasher: unknown case '%s'\n", c);
        return CRASHER_UNKNOWN_CASE;
    }
    return CRASHER_SURVIVED;
}
