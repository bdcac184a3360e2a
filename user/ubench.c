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

static HANDLE open_device(const char *name)
{
    STRING_T s;
    OBJECT_ATTRIBUTES_T oa;
    IO_STATUS_BLOCK_T iosb;
    HANDLE h = 0;
    RtlInitString(&s, name);
    InitializeObjectAttributes(&oa, &s, OBJ_CASE_INSENSITIVE);
    /* Asynchronous (no FILE_SYNCHRONOUS_IO_*): each call says its offset,
     * and a request that completes in dispatch costs no wait. */
    if (!NT_SUCCESS(NtOpenFile(&h, FILE_READ_DATA | FILE_WRITE_DATA, &oa, &iosb, 0, 0)))
        return 0;
    return h;
}

/* The I/O manager's fixed cost per request: a read of \Device\Null,
 * whose driver completes at once (no transfer method, no copy). */
static void bench_null_read(void)
{
    HANDLE h = open_device("\\Device\\Null");
    if (!h) {
        printf("bench: user.null_device_read 0 error (no \\Device\\Null)\n");
        return;
    }
    static char buf[64];
    IO_STATUS_BLOCK_T iosb;
    int64_t off = 0;
    enum { N = 1000 };
    for (int i = 0; i < 50; i++)
        NtReadFile(h, 0, NULL, NULL, &iosb, buf, sizeof(buf), &off, NULL);
    uint64_t t0 = rdtsc();
    for (int i = 0; i < N; i++)
        NtReadFile(h, 0, NULL, NULL, &iosb, buf, sizeof(buf), &off, NULL);
    report("null_device_read", rdtsc() - t0, N);
    NtClose(h);
}

/* RAM-disk throughput by transfer size, direct (the caller's pages locked
 * into an MDL) against buffered (a copy through a system buffer), the
 * same driver and storage behind both names; the two alternate so that
 * a noisy host moves both alike. Printed as cycles per KiB moved. */
static void bench_ramdisk(char *buf)
{
    HANDLE direct = open_device("\\Device\\RamDisk1"), buffered = open_device("\\Device\\RamDisk1Buffered");
    if (!direct || !buffered) {
        printf("bench: user.ramdisk 0 error (no \\Device\\RamDisk1 or RamDisk1Buffered)\n");
        return;
    }
    static const uint32_t sizes[] = { 4096, 128 * 1024, 1024 * 1024 };
    for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        uint32_t len = sizes[s];
        int rounds = (int)((8u << 20) / len);   /* 8 MiB per side per size */
        uint64_t t_direct = 0, t_buffered = 0;
        IO_STATUS_BLOCK_T iosb;
        for (int r = -2; r < rounds; r++) {
            int64_t off = (int64_t)((uint64_t)(r < 0 ? 0 : r) * len % (2u << 20));
            uint64_t t0 = rdtsc();
            NtReadFile(direct, 0, NULL, NULL, &iosb, buf, len, &off, NULL);
            uint64_t t1 = rdtsc();
            NtReadFile(buffered, 0, NULL, NULL, &iosb, buf, len, &off, NULL);
            uint64_t t2 = rdtsc();
            if (r >= 0) {
                t_direct += t1 - t0;
                t_buffered += t2 - t1;
            }
        }
        char name[64];
        snprintf(name, sizeof(name), "ramdisk_read_direct_%uk_per_kib", len / 1024);
        report(name, t_direct, (uint64_t)rounds * len / 1024);
        snprintf(name, sizeof(name), "ramdisk_read_buffered_%uk_per_kib", len / 1024);
        report(name, t_buffered, (uint64_t)rounds * len / 1024);
    }
    NtClose(direct);
    NtClose(buffered);
}

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

    /* Demand-zero faults: first touch of committed pages. Right after
     * boot ("cold": the frames may never have been touched since the
     * machine started, which under TCG costs the host a page of its own
     * memory each), and again after a short idle time, in which the
     * zero-page thread fills the zeroed list as it does in any system
     * that is not busy all the time. */
    char *cold = alloc(PAGES * 4096);
    if (!cold)
        return 1;
    t0 = rdtsc();
    for (int i = 0; i < PAGES; i++)
        cold[i * 4096] = 1;
    report("demand_zero_fault_cold", rdtsc() - t0, PAGES);
    SleepMs(200);
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

    bench_null_read();
    char *io = alloc(1024 * 1024);
    if (io) {
        memset(io, 1, 1024 * 1024);   /* resident: the figures are the I/O path's, not first-touch faults */
        bench_ramdisk(io);
    }
    return sink == -1;   /* uses the sum: never true */
}
