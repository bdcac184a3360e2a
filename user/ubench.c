/*
 * ubench: user-mode costs, measured from ring 3 with RDTSC and printed as
 * `bench: user.NAME VALUE cycles` for make bench. Nothing is asserted.
 */
#include <nt.h>
#include <stdio.h>
#include <string.h>

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static char *alloc(size_t bytes)
{
    void *base = NULL;
    size_t size = bytes;
    if (!NT_SUCCESS(NtAllocateVirtualMemory(NtCurrentProcess(), &base, 0, &size, MEM_RESERVE | MEM_COMMIT,
                                            PAGE_READWRITE)))
        return NULL;
    return base;
}

static void report(const char *name, uint64_t total, uint64_t n)
{
    printf("bench: user.%s %llu cycles\n", name, (unsigned long long)(n ? total / n : 0));
}

static int global_data[1024 * 16] = { 1 };   /* 64 KiB of initialised image data */

int main(void)
{
    enum { PAGES = 256, CALLS = 2000 };
    /* A null system call: a number with no service behind it is the
     * shortest round trip through SYSCALL, the dispatcher and IRETQ. */
    uint64_t t0 = rdtsc();
    for (int i = 0; i < CALLS; i++) {
        long r;
        __asm__ volatile("syscall" : "=a"(r) : "a"(9999L) : "rcx", "r11", "memory");
    }
    report("null_syscall", rdtsc() - t0, CALLS);
    t0 = rdtsc();
    for (int i = 0; i < CALLS; i++)
        NtYieldExecution();   /* with nothing else ready: a trip through the scheduler */
    report("yield_syscall", rdtsc() - t0, CALLS);

    /* Demand-zero faults: first touch of committed pages. */
    char *p = alloc(PAGES * 4096);
    if (!p)
        return 1;
    t0 = rdtsc();
    for (int i = 0; i < PAGES; i++)
        p[i * 4096] = 1;
    report("demand_zero_fault", rdtsc() - t0, PAGES);

    /* Soft faults: trim the working set, touch again. */
    NtSetInformationProcess(NtCurrentProcess(), ProcessTrimWorkingSet, NULL, 0);
    t0 = rdtsc();
    for (int i = 0; i < PAGES; i++)
        p[i * 4096] = 2;
    report("soft_fault", rdtsc() - t0, PAGES);

    /* Copy-on-write faults: read each page of image data (it is mapped
     * shared, read-only), then time the first write to each. */
    int pages = (int)(sizeof(global_data) / 4096);
    int sink = 0;
    for (int i = 0; i < pages; i++)
        sink += ((volatile int *)global_data)[i * 1024];
    t0 = rdtsc();
    for (int i = 0; i < pages; i++)
        global_data[i * 1024] = i;
    report("copy_on_write_fault", rdtsc() - t0, pages);
    return sink == -1;   /* uses the sum: never true */
}
