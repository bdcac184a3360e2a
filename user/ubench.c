/*
 * ubench: user-mode costs, measured from ring 3 with RDTSC and printed as
 * `bench: user.NAME VALUE cycles` for make bench. Nothing is asserted.
 */
#include <nt.h>
#include <stdio.h>
#include <string.h>
#include "drivers/virtio/vblk_ioctl.h"

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

/* The kernel's sampling profiler (boot option prof=HZ, docs/performance.md
 * "Profiling the guest"): when it runs, each ubench= loop clears its
 * counts as the timed part starts, and stops it and has the kernel print
 * its report (`prof:` lines) as the part ends. Without prof= both do
 * nothing. */
static int profiling(void)
{
    SYSTEM_PROFILE_T p;
    return NT_SUCCESS(NtQuerySystemInformation(SystemProfileInformation, &p, sizeof(p), NULL)) && p.Running;
}

static void profile(uint32_t command)
{
    NtSetSystemInformation(SystemProfileControl, &command, sizeof(command));
}

static int prof_on;

static void prof_begin(void)
{
    prof_on = profiling();
    if (prof_on)
        profile(PROFILE_CLEAR);
}

static void prof_end(void)
{
    if (!prof_on)
        return;
    profile(PROFILE_STOP);
    profile(PROFILE_REPORT);
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
    /* Written once first: the RAM disk zeroes a page at its first write and
     * answers a read of a page never written with zeros, without a copy
     * (drivers/ramdisk/rdstore.c); these figures are of reads that copy. */
    {
        IO_STATUS_BLOCK_T iosb;
        memset(buf, 0x5A, 1u << 20);
        for (int64_t off = 0; off < (2 << 20); off += 1 << 20)
            NtWriteFile(direct, 0, NULL, NULL, &iosb, buf, 1u << 20, &off, NULL);
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

/* ---- the virtio-blk disk: direct I/O from ring 3 ---- */

/* TSC cycles the CPU has spent halted in the idle thread since boot. */
static uint64_t idle_cycles(void)
{
    SYSTEM_INTERRUPT_TIME_T t = { 0, 0 };
    NtQuerySystemInformation(SystemInterruptTime, &t, sizeof(t), NULL);
    return t.IdleCycles;
}


enum { DISK_QD = 32, DISK_REGION = 32 << 20 };

/* The figures compared with Linux (its lxbench, scripts/linux/src/lxb_disk.c)
 * do its work: the same request counts per run, one untimed run, then the
 * median of five. One run of 1 MiB requests at depth 32 is a few tens of
 * milliseconds, and the host's noise moves a single one by a third. */
enum { CMP_WARM = 1, CMP_REPS = 5 };
static int cmp_count(uint32_t len, int qd32)
{
    if (len <= 4096)
        return qd32 ? 4096 : 1024;
    if (len <= 128 * 1024)
        return qd32 ? 512 : 256;
    return qd32 ? 128 : 64;
}
static uint64_t median_of(uint64_t *v, int n);

static unsigned long long per100(uint64_t events, uint64_t requests)
{
    return requests ? (unsigned long long)((events * 100 + requests / 2) / requests) : 0;
}

static VBLK_LAST_T disk_counters(HANDLE disk, HANDLE ev)
{
    static VBLK_LAST_T l;
    IO_STATUS_BLOCK_T iosb;
    memset(&l, 0, sizeof(l));
    if (NtDeviceIoControlFile(disk, ev, NULL, NULL, &iosb, IOCTL_VBLK_LAST_REQUEST, NULL, 0, &l, sizeof(l)) ==
        STATUS_PENDING)
        WaitHandle(ev, 0);
    return l;
}

/* One request of LEN at OFF from BUF, waited for: NtReadFile/NtWriteFile
 * on a handle opened for asynchronous I/O, with an event. */
static NTSTATUS disk_io(HANDLE disk, HANDLE ev, int write, char *buf, uint32_t len, int64_t off,
                        IO_STATUS_BLOCK_T *iosb)
{
    NTSTATUS st = write ? NtWriteFile(disk, ev, NULL, NULL, iosb, buf, len, &off, NULL)
                        : NtReadFile(disk, ev, NULL, NULL, iosb, buf, len, &off, NULL);
    if (st == STATUS_PENDING) {
        WaitHandle(ev, 0);
        st = iosb->Status;
    }
    return st;
}

/* Queue depth 1: each request waited for before the next; the time of
 * each is its latency. Returns the total cycles; *BAD counts failures. */
static uint64_t disk_qd1(HANDLE disk, HANDLE ev, int write, char *buf, uint32_t len, int n, int *bad)
{
    IO_STATUS_BLOCK_T iosb;
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t off = (int64_t)(((uint64_t)i * len) % DISK_REGION);
        uint64_t t0 = rdtsc();
        NTSTATUS st = disk_io(disk, ev, write, buf, len, off, &iosb);
        total += rdtsc() - t0;
        *bad += !NT_SUCCESS(st);
    }
    return total;
}

/* Queue depth 32: 32 requests outstanding (overlapped, each with its own
 * event and buffer); as the oldest completes, the next is sent in its
 * place. Returns the total cycles from the first send to the last
 * completion. */
static uint64_t disk_qd32(HANDLE disk, HANDLE *evs, int write, char *buf, uint32_t len, int n, int *bad)
{
    static IO_STATUS_BLOCK_T iosb[DISK_QD];
    NTSTATUS st[DISK_QD];
    uint64_t t0 = rdtsc();
    int sent = 0;
    for (int done = 0; done < n; done++) {
        while (sent < n && sent - done < DISK_QD) {
            int k = sent % DISK_QD;
            int64_t off = (int64_t)(((uint64_t)sent * len) % DISK_REGION);
            char *b = buf + (uint64_t)k * len;
            st[k] = write ? NtWriteFile(disk, evs[k], NULL, NULL, &iosb[k], b, len, &off, NULL)
                          : NtReadFile(disk, evs[k], NULL, NULL, &iosb[k], b, len, &off, NULL);
            sent++;
        }
        int k = done % DISK_QD;
        if (st[k] == STATUS_PENDING) {
            WaitHandle(evs[k], 0);
            st[k] = iosb[k].Status;
        }
        *bad += !NT_SUCCESS(st[k]);
    }
    return rdtsc() - t0;
}

/* Queue depth 32 through a completion port, as Linux's lxbench reaps its
 * AIO (io_getevents of up to 32, then one resubmission each): 32 sent,
 * then each NtRemoveIoCompletionEx takes every packet that is there (the
 * kernel finishes each IRP in this thread: no APC, no wake-up per
 * request) and the slots they free are sent again at once. DISK is a
 * handle associated with PORT; each request's apc_context is its slot.
 * *CALLS counts the removes (requests per call = n / calls). */
/* Request SEQ into slot K (its buffer, its apc_context). 0 when it failed
 * at once: such a request queues no packet. */
static int port_send(HANDLE disk, int write, char *buf, uint32_t len, int k, int seq, IO_STATUS_BLOCK_T *iosb)
{
    int64_t off = (int64_t)(((uint64_t)seq * len) % DISK_REGION);
    char *b = buf + (uint64_t)k * len;
    void *ctx = (void *)(uintptr_t)k;
    NTSTATUS st = write ? NtWriteFile(disk, 0, NULL, ctx, iosb, b, len, &off, NULL)
                        : NtReadFile(disk, 0, NULL, ctx, iosb, b, len, &off, NULL);
    return ((uint32_t)st >> 30) != 3;   /* not an error severity */
}

static uint64_t disk_qd32_port(HANDLE disk, HANDLE port, int write, char *buf, uint32_t len, int n, int *bad,
                               uint64_t *calls)
{
    static IO_STATUS_BLOCK_T iosb[DISK_QD];
    static FILE_IO_COMPLETION_INFORMATION_T e[DISK_QD];
    uint64_t t0 = rdtsc();
    int sent = 0, done = 0;
    *calls = 0;
    for (int k = 0; k < DISK_QD && sent < n; k++)
        if (!port_send(disk, write, buf, len, k, sent++, &iosb[k]))
            (*bad)++, done++;
    while (done < n) {
        uint32_t got = 0;
        NTSTATUS st = NtRemoveIoCompletionEx(port, e, DISK_QD, &got, NULL, 0);
        (*calls)++;
        if (!NT_SUCCESS(st) || got == 0) {
            *bad += n - done;
            break;
        }
        for (uint32_t i = 0; i < got; i++) {
            uint64_t k = (uint64_t)(uintptr_t)e[i].ApcContext;
            *bad += !NT_SUCCESS(e[i].IoStatusBlock.Status) || k >= DISK_QD;
            if (k >= DISK_QD)
                k = 0;
            done++;
            if (sent < n && !port_send(disk, write, buf, len, (int)k, sent++, &iosb[k]))
                (*bad)++, done++;
        }
    }
    return rdtsc() - t0;
}

/* Queue depth 32 through an I/O ring, as Linux's lxbench resubmits with
 * io_submit: 32 entries in one NtSubmitIoRing, then each round pops every
 * CQE that is there (no system call: the kernel wrote them through its
 * mapping of the CQ) and sends the freed slots again, all with ONE
 * NtSubmitIoRing that also waits for at least one CQE. Each entry's user
 * data is its slot. *CALLS counts the submits. */
static int ring_reg;   /* the slots are registered buffers (ring_register) */
static int ring_regf;  /* the disk is registered file 0 (ring_register_file) */

static int ring_build(IORING_T *r, HANDLE disk, int write, char *buf, uint32_t len, int k, int seq)
{
    int64_t off = (int64_t)(((uint64_t)seq * len) % DISK_REGION);
    char *b = buf + (uint64_t)k * len;
    if (ring_regf)
        return BuildIoRingEntry(r, write ? IORING_OP_WRITE : IORING_OP_READ,
                                IORING_SQE_REGISTERED_FILE | IORING_SQE_REGISTERED_BUFFER, 0, 0, (uint32_t)k, len,
                                off, (uint64_t)k);
    if (ring_reg)
        return write ? BuildIoRingWriteFileRegistered(r, disk, (uint32_t)k, 0, len, off, (uint64_t)k)
                     : BuildIoRingReadFileRegistered(r, disk, (uint32_t)k, 0, len, off, (uint64_t)k);
    return write ? BuildIoRingWriteFile(r, disk, b, len, off, (uint64_t)k)
                 : BuildIoRingReadFile(r, disk, b, len, off, (uint64_t)k);
}

/* REG: each of the DISK_QD slots of LEN bytes a registered buffer (probed
 * and locked once here; its requests then cost no probe and lock), or
 * none. 0 when the registration failed. */
static int ring_register(IORING_T *r, char *buf, uint32_t len, int reg)
{
    static IORING_BUFFER_INFO_T set[DISK_QD];
    for (int k = 0; k < DISK_QD; k++)
        set[k] = (IORING_BUFFER_INFO_T){ (uint64_t)(uintptr_t)(buf + (uint64_t)k * len), len, 0 };
    IORING_CQE_T c;
    if (!BuildIoRingRegisterBuffers(r, set, reg ? DISK_QD : 0, ~0ULL) || !NT_SUCCESS(SubmitIoRing(r, 1, NULL, NULL)) ||
        !PopIoRingCompletion(r, &c) || !NT_SUCCESS(c.Status))
        return 0;
    ring_reg = reg;
    return 1;
}

/* DISK as registered file 0 (REG), or no registered file. 0 on failure. */
static int ring_register_file(IORING_T *r, HANDLE disk, int reg)
{
    static HANDLE set[1];
    set[0] = disk;
    IORING_CQE_T c;
    if (!BuildIoRingRegisterFiles(r, set, reg ? 1 : 0, ~0ULL) || !NT_SUCCESS(SubmitIoRing(r, 1, NULL, NULL)) ||
        !PopIoRingCompletion(r, &c) || !NT_SUCCESS(c.Status))
        return 0;
    ring_regf = reg;
    return 1;
}

static uint64_t disk_qd32_ring(HANDLE disk, IORING_T *r, int write, char *buf, uint32_t len, int n, int *bad,
                               uint64_t *calls)
{
    uint64_t t0 = rdtsc();
    int sent = 0, done = 0;
    *calls = 0;
    for (int k = 0; k < DISK_QD && sent < n; k++)
        sent += ring_build(r, disk, write, buf, len, k, sent);
    while (done < n) {
        NTSTATUS st = SubmitIoRing(r, 1, NULL, NULL);
        (*calls)++;
        if (!NT_SUCCESS(st)) {
            *bad += n - done;
            break;
        }
        IORING_CQE_T c;
        while (PopIoRingCompletion(r, &c)) {
            *bad += !NT_SUCCESS(c.Status) || c.UserData >= DISK_QD;
            done++;
            if (sent < n)
                sent += ring_build(r, disk, write, buf, len, (int)(c.UserData % DISK_QD), sent);
        }
    }
    return rdtsc() - t0;
}

/* A second asynchronous handle to the bench disk, associated with a new
 * completion port (pdisk_port). 0 on failure. */
static HANDLE pdisk_port;
static HANDLE open_port_disk(void)
{
    HANDLE f = open_device("\\Device\\Harddisk1\\DR0");
    FILE_COMPLETION_INFORMATION_T fci;
    IO_STATUS_BLOCK_T si;
    if (!f || !NT_SUCCESS(NtCreateIoCompletion(&pdisk_port, IO_COMPLETION_ALL_ACCESS, NULL, 0)))
        return 0;
    fci.Port = pdisk_port;
    fci.Key = NULL;
    if (!NT_SUCCESS(NtSetInformationFile(f, &si, &fci, sizeof(fci), FileCompletionInformation)))
        return 0;
    return f;
}

/* The anatomy of a lone 4 KiB read, from ring 3's time stamps around the
 * two system calls and the driver's own (the same TSC): N reads, each
 * followed by the IOCTL that returns the driver's stamps of it, the
 * stretches summed and printed per read. */
static void disk_anatomy(HANDLE disk, HANDLE ev, char *buf, int write)
{
    enum { N = 64 };
    static const char *what[8] = { "enter_to_dispatch", "dispatch_to_notify", "notify_write", "notify_to_return",
                                   "device", "isr_to_dpc", "dpc_to_completed", "completed_to_ring3" };
    uint64_t sum[8] = { 0 };
    int used = 0;
    for (int i = 0; i < N; i++) {
        IO_STATUS_BLOCK_T iosb;
        int64_t off = (int64_t)i * 4096;
        uint64_t t0 = rdtsc();
        NTSTATUS st = write ? NtWriteFile(disk, ev, NULL, NULL, &iosb, buf, 4096, &off, NULL)
                            : NtReadFile(disk, ev, NULL, NULL, &iosb, buf, 4096, &off, NULL);
        uint64_t t1 = rdtsc();
        if (st == STATUS_PENDING)
            WaitHandle(ev, 0);
        uint64_t t2 = rdtsc();
        VBLK_LAST_T c = disk_counters(disk, ev);
        const uint64_t *k = c.LastT;
        /* Only a read whose stamps are its own and in order. */
        if (!(t0 < k[0] && k[0] <= k[1] && k[1] <= k[2] && k[2] <= t1 && k[2] <= k[3] && k[3] <= k[4] &&
              k[4] <= k[5] && k[5] <= t2))
            continue;
        uint64_t d[8] = { k[0] - t0, k[1] - k[0], k[2] - k[1], t1 - k[2], k[3] - k[2], k[4] - k[3], k[5] - k[4],
                          t2 - k[5] };
        for (int j = 0; j < 8; j++)
            sum[j] += d[j];
        used++;
    }
    char name[80];
    for (int j = 0; j < 8; j++) {
        snprintf(name, sizeof(name), "disk_%s_4k_anatomy_%s", write ? "write" : "read", what[j]);
        report(name, sum[j], (uint64_t)used);
    }
    printf("bench: user.disk_%s_4k_anatomy_reads_used %d/%d count\n", write ? "write" : "read", used, N);
}

/* MiB/s (as cycles per KiB, which bench.py turns into MiB/s) and latency
 * at 4 KiB, 128 KiB and 1 MiB, reads and writes, queue depth 1 and 32, on
 * \Device\Harddisk1\DR0's first 32 MiB (bench.py gives this boot fresh
 * images). At depth 1 the driver's time stamps split a request's time
 * into its phases (VBLK_LAST_T). */
static void bench_disk(void)
{
    HANDLE disk = open_device("\\Device\\Harddisk1\\DR0");
    HANDLE pdisk = open_port_disk();
    HANDLE port = pdisk ? pdisk_port : 0;
    char *buf = alloc((size_t)DISK_QD << 20);
    HANDLE evs[DISK_QD];
    for (int i = 0; i < DISK_QD; i++)
        if (!disk || !NT_SUCCESS(CreateEventHandle(&evs[i], 1, 0)))
            disk = 0;
    static IORING_T ring;
    if (!disk || !buf || !pdisk || !NT_SUCCESS(CreateIoRing(DISK_QD, 0, &ring))) {
        printf("bench: user.disk 0 error (no \\Device\\Harddisk1\\DR0 or no memory)\n");
        return;
    }
    memset(buf, 0x5A, (size_t)DISK_QD << 20);   /* resident: no first-touch faults in the figures */
    int bad = 0;
    /* Write the region once first: the image's blocks then exist on the
     * host, so reads measure reading and writes overwriting. */
    disk_qd32(disk, evs, 1, buf, 1 << 20, DISK_REGION >> 20, &bad);
    VBLK_LAST_T c = disk_counters(disk, evs[0]);
    printf("bench: user.disk_indirect %u flag\n", c.IndirectNegotiated);
    disk_anatomy(disk, evs[0], buf, 0);
    disk_anatomy(disk, evs[0], buf, 1);
    static const uint32_t sizes[] = { 4096, 128 * 1024, 1024 * 1024 };
    for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        uint32_t len = sizes[s];
        uint32_t kib = len / 1024;
        /* 16 MiB per run, at least 64 requests (twice the depth), at most 2048. */
        int n = (int)((16u << 20) / len);
        if (n > 2048)
            n = 2048;
        if (n < 2 * DISK_QD)
            n = 2 * DISK_QD;
        char name[80];
        for (int write = 0; write < 2; write++) {
            const char *dir = write ? "write" : "read";
            VBLK_LAST_T a = disk_counters(disk, evs[0]);
            int n1 = cmp_count(len, 0);
            uint64_t reps[CMP_REPS], t;
            for (int r = -CMP_WARM; r < CMP_REPS; r++) {
                if (r == 0)
                    a = disk_counters(disk, evs[0]);
                t = disk_qd1(disk, evs[0], write, buf, len, n1, &bad);
                if (r >= 0)
                    reps[r] = t;
            }
            t = median_of(reps, CMP_REPS);
            VBLK_LAST_T b = disk_counters(disk, evs[0]);
            snprintf(name, sizeof(name), "disk_%s_%uk_qd1_per_kib", dir, kib);
            report(name, t, (uint64_t)n1 * kib);
            snprintf(name, sizeof(name), "disk_%s_%uk_qd1_latency", dir, kib);
            report(name, t, (uint64_t)n1);
            uint64_t timed = b.Timed - a.Timed;
            if (timed) {
                uint64_t phase[5] = { b.CyclesToNotify - a.CyclesToNotify, b.CyclesNotify - a.CyclesNotify,
                                      b.CyclesDevice - a.CyclesDevice, b.CyclesIsrToDpc - a.CyclesIsrToDpc,
                                      b.CyclesDpc - a.CyclesDpc };
                static const char *what[5] = { "dispatch_to_notify", "notify_write", "notify_to_isr",
                                               "isr_to_dpc", "dpc_to_completed" };
                uint64_t inside = 0;
                for (int p = 0; p < 5; p++) {
                    snprintf(name, sizeof(name), "disk_%s_%uk_qd1_phase_%s", dir, kib, what[p]);
                    report(name, phase[p], timed);
                    inside += phase[p] / timed;
                }
                /* The rest: system call, IRP, MDL probe and lock before
                 * dispatch; the completion APC (unlock, status, event), the
                 * wake-up and the way back to ring 3 after it. */
                uint64_t per = t / (uint64_t)n1;
                snprintf(name, sizeof(name), "disk_%s_%uk_qd1_phase_outside_driver", dir, kib);
                report(name, per > inside ? per - inside : 0, 1);
            }
            /* Counts per 100 requests (integers: user programs have no
             * floating point), so bench.py can take medians of them. */
            printf("bench: user.disk_%s_%uk_qd1_notifies_per_100_requests %llu count\n", dir, kib,
                   per100(b.Notifies - a.Notifies, b.Requests - a.Requests));
            a = disk_counters(disk, evs[0]);
            uint64_t idle = idle_cycles();
            t = disk_qd32(disk, evs, write, buf, len, n, &bad);
            idle = idle_cycles() - idle;
            b = disk_counters(disk, evs[0]);
            snprintf(name, sizeof(name), "disk_%s_%uk_qd32_per_kib", dir, kib);
            report(name, t, (uint64_t)n * kib);
            /* The CPU's time per request, the halts left out: what bounds
             * depth 32 when the guest, not the device, is the bottleneck
             * (under -icount: instructions per request). */
            snprintf(name, sizeof(name), "disk_%s_%uk_qd32_busy_per_request", dir, kib);
            report(name, t > idle ? t - idle : 0, (uint64_t)n);
            printf("bench: user.disk_%s_%uk_qd32_interrupts_per_100_requests %llu count\n", dir, kib,
                   per100(b.Interrupts - a.Interrupts, b.Requests - a.Requests));
            printf("bench: user.disk_%s_%uk_qd32_notifies_per_100_requests %llu count\n", dir, kib,
                   per100(b.Notifies - a.Notifies, b.Requests - a.Requests));
            /* The same through the completion port (its own handle to the
             * disk: the association is per file object). */
            uint64_t calls;
            idle = idle_cycles();
            t = disk_qd32_port(pdisk, port, write, buf, len, n, &bad, &calls);
            idle = idle_cycles() - idle;
            snprintf(name, sizeof(name), "disk_%s_%uk_qd32_port_per_kib", dir, kib);
            report(name, t, (uint64_t)n * kib);
            snprintf(name, sizeof(name), "disk_%s_%uk_qd32_port_busy_per_request", dir, kib);
            report(name, t > idle ? t - idle : 0, (uint64_t)n);
            printf("bench: user.disk_%s_%uk_qd32_port_requests_per_100_removes %llu count\n", dir, kib,
                   per100((uint64_t)n, calls));
            /* And through the I/O ring (the first, asynchronous handle). */
            a = disk_counters(disk, evs[0]);
            idle = idle_cycles();
            t = disk_qd32_ring(disk, &ring, write, buf, len, n, &bad, &calls);
            idle = idle_cycles() - idle;
            b = disk_counters(disk, evs[0]);
            snprintf(name, sizeof(name), "disk_%s_%uk_qd32_ring_per_kib", dir, kib);
            report(name, t, (uint64_t)n * kib);
            snprintf(name, sizeof(name), "disk_%s_%uk_qd32_ring_busy_per_request", dir, kib);
            report(name, t > idle ? t - idle : 0, (uint64_t)n);
            printf("bench: user.disk_%s_%uk_qd32_ring_requests_per_100_submits %llu count\n", dir, kib,
                   per100((uint64_t)n, calls));
            printf("bench: user.disk_%s_%uk_qd32_ring_notifies_per_100_requests %llu count\n", dir, kib,
                   per100(b.Notifies - a.Notifies, b.Requests - a.Requests));
            /* Each submit is one plugged batch: adjacent requests go as one
             * device request (vblk merges them), as Linux's block layer
             * merges an io_submit's (its lxbench prints its own count). */
            printf("bench: user.disk_%s_%uk_qd32_ring_device_requests_per_100_requests %llu count\n", dir, kib,
                   per100(b.SubRequests - a.SubRequests, b.Requests - a.Requests));
            /* And with the slots registered: no probe and lock per request. */
            if (!ring_register(&ring, buf, len, 1)) {
                bad++;
                continue;
            }
            idle = idle_cycles();
            t = disk_qd32_ring(disk, &ring, write, buf, len, n, &bad, &calls);
            idle = idle_cycles() - idle;
            snprintf(name, sizeof(name), "disk_%s_%uk_qd32_ringreg_per_kib", dir, kib);
            report(name, t, (uint64_t)n * kib);
            snprintf(name, sizeof(name), "disk_%s_%uk_qd32_ringreg_busy_per_request", dir, kib);
            report(name, t > idle ? t - idle : 0, (uint64_t)n);
            /* And the disk a registered file too: no handle look-up per request. */
            if (!ring_register_file(&ring, disk, 1)) {
                bad++;
                continue;
            }
            /* The flavour compared with Linux's libaio: its counts, the
             * median of its repetitions; busy over all of them. */
            int n32 = cmp_count(len, 1);
            uint64_t busy = 0;
            for (int r = -CMP_WARM; r < CMP_REPS; r++) {
                idle = idle_cycles();
                t = disk_qd32_ring(disk, &ring, write, buf, len, n32, &bad, &calls);
                idle = idle_cycles() - idle;
                if (r >= 0) {
                    reps[r] = t;
                    busy += t > idle ? t - idle : 0;
                }
            }
            t = median_of(reps, CMP_REPS);
            bad += !ring_register_file(&ring, disk, 0);
            bad += !ring_register(&ring, buf, len, 0);
            snprintf(name, sizeof(name), "disk_%s_%uk_qd32_ringregf_per_kib", dir, kib);
            report(name, t, (uint64_t)n32 * kib);
            snprintf(name, sizeof(name), "disk_%s_%uk_qd32_ringregf_busy_per_request", dir, kib);
            report(name, busy, (uint64_t)n32 * CMP_REPS);
        }
    }
    CloseIoRing(&ring);
    if (bad)
        printf("bench: user.disk_failed_requests %d error\n", bad);
    for (int i = 0; i < DISK_QD; i++)
        NtClose(evs[i]);
    NtClose(disk);
    NtClose(pdisk);
    NtClose(port);
}

/* The median of N values (N small: insertion sort, in place). */
static uint64_t median_of(uint64_t *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    return v[n / 2];
}

/* Repetitions as Linux's counterparts take them (scripts/linux/src/lxb_cpu.c):
 * WARM untimed, then the median of REPS. */
enum { BENCH_WARM = 3, BENCH_REPS = 31 };

static uint64_t null_syscall_median(void)
{
    enum { N = 2000 };
    uint64_t per[BENCH_REPS];
    for (int r = -BENCH_WARM; r < BENCH_REPS; r++) {
        uint64_t t0 = rdtsc();
        for (int i = 0; i < N; i++) {
            long rv;
            __asm__ volatile("syscall" : "=a"(rv) : "a"(9999L) : "rcx", "r11", "memory");
        }
        if (r >= 0)
            per[r] = (rdtsc() - t0) / N;
    }
    return median_of(per, BENCH_REPS);
}

/* Demand-zero faults on frames the round before gave back: commit 256
 * pages, touch each, free them, again - Linux's `demand_zero_fault`
 * (mmap, touch, munmap). No idle time between rounds, so the zero-page
 * thread has no chance to refill the zeroed list: after the first rounds
 * every fault zeroes its frame itself. Per page, median of the rounds. */
static uint64_t demand_zero_reused_median(int *bad)
{
    enum { PAGES = 256 };
    uint64_t per[BENCH_REPS];
    for (int r = -BENCH_WARM; r < BENCH_REPS; r++) {
        char *p = alloc(PAGES * 4096);
        if (!p) {
            *bad = 1;
            return 0;
        }
        uint64_t t0 = rdtsc();
        for (int i = 0; i < PAGES; i++)
            p[i * 4096] = 1;
        uint64_t c = rdtsc() - t0;
        void *base = p;
        size_t size = 0;
        if (!NT_SUCCESS(NtFreeVirtualMemory(NtCurrentProcess(), &base, &size, MEM_RELEASE)))
            *bad = 1;
        if (r >= 0)
            per[r] = c / PAGES;
    }
    return median_of(per, BENCH_REPS);
}

/* `ubench=MODE` on the boot command line (argv here) runs one loop long
 * enough for a host profiler (perf record -p on QEMU) or an -icount run to
 * see nothing else: "syscall" 2M null system calls, "disk4k" 100000 4 KiB
 * reads at queue depth 32 ("disk4kport": the same through a completion
 * port; "disk4kring" through an I/O ring, "disk4kringreg" with registered
 * buffers, "disk4kringregf" with the disk a registered file too), "disk1m" 2000 1 MiB reads at depth 1, "disk"
 * only the disk figures. Any other value (or none): everything. */
static int loop_mode(const char *mode)
{
    if (strcmp(mode, "syscall") == 0) {
        prof_begin();
        uint64_t t0 = rdtsc();
        for (int i = 0; i < 2000000; i++) {
            long r;
            __asm__ volatile("syscall" : "=a"(r) : "a"(9999L) : "rcx", "r11", "memory");
        }
        report("null_syscall", rdtsc() - t0, 2000000);
        prof_end();
        return 0;
    }
    if (strcmp(mode, "disk") == 0) {
        prof_begin();
        bench_disk();
        prof_end();
        return 0;
    }
    int viaport = strcmp(mode, "disk4kport") == 0;
    int viaregf = strcmp(mode, "disk4kringregf") == 0;
    int viareg = viaregf || strcmp(mode, "disk4kringreg") == 0;
    int viaring = viareg || strcmp(mode, "disk4kring") == 0;
    int qd32 = viaport || viaring || strcmp(mode, "disk4k") == 0;
    if (!qd32 && strcmp(mode, "disk1m") != 0)
        return -1;
    HANDLE disk = open_device("\\Device\\Harddisk1\\DR0");
    char *buf = alloc((size_t)DISK_QD << 20);
    HANDLE evs[DISK_QD];
    for (int i = 0; i < DISK_QD; i++)
        if (!disk || !NT_SUCCESS(CreateEventHandle(&evs[i], 1, 0)))
            return 1;
    if (!buf)
        return 1;
    memset(buf, 0x5A, (size_t)DISK_QD << 20);
    int bad = 0;
    disk_qd32(disk, evs, 1, buf, 1 << 20, DISK_REGION >> 20, &bad);
    int n = qd32 ? 100000 : 2000;
    uint64_t idle = idle_cycles();
    uint64_t t, calls = 0;
    if (viaport) {
        HANDLE pdisk = open_port_disk();
        if (!pdisk)
            return 1;
        idle = idle_cycles();
        prof_begin();
        t = disk_qd32_port(pdisk, pdisk_port, 0, buf, 4096, n, &bad, &calls);
        printf("bench: user.disk_read_4k_qd32_port_requests_per_100_removes %llu count\n", per100((uint64_t)n, calls));
    } else if (viaring) {
        static IORING_T ring;
        if (!NT_SUCCESS(CreateIoRing(DISK_QD, 0, &ring)) || (viareg && !ring_register(&ring, buf, 4096, 1)) ||
            (viaregf && !ring_register_file(&ring, disk, 1)))
            return 1;
        idle = idle_cycles();
        prof_begin();
        t = disk_qd32_ring(disk, &ring, 0, buf, 4096, n, &bad, &calls);
        printf("bench: user.disk_read_4k_qd32_ring_requests_per_100_submits %llu count\n", per100((uint64_t)n, calls));
    } else {
        prof_begin();
        t = qd32 ? disk_qd32(disk, evs, 0, buf, 4096, n, &bad) : disk_qd1(disk, evs[0], 0, buf, 1 << 20, n, &bad);
    }
    idle = idle_cycles() - idle;
    prof_end();
    report(viaport ? "disk_read_4k_qd32_port_per_kib" : viaregf ? "disk_read_4k_qd32_ringregf_per_kib"
           : viareg ? "disk_read_4k_qd32_ringreg_per_kib"
           : viaring ? "disk_read_4k_qd32_ring_per_kib"
           : qd32  ? "disk_read_4k_qd32_per_kib" : "disk_read_1024k_qd1_per_kib",
           t, qd32 ? n * 4 : n * 1024);
    /* The guest's own time per request: under -icount, its instructions. */
    report(viaport ? "disk_read_4k_qd32_port_busy_per_request"
           : viaregf ? "disk_read_4k_qd32_ringregf_busy_per_request"
           : viareg ? "disk_read_4k_qd32_ringreg_busy_per_request"
           : viaring ? "disk_read_4k_qd32_ring_busy_per_request"
           : qd32  ? "disk_read_4k_qd32_busy_per_request"
                   : "disk_read_1024k_qd1_busy_per_request",
           t > idle ? t - idle : 0, (uint64_t)n);
    return bad != 0;
}

int main(int argc, char **argv)
{
    enum { PAGES = 256, CALLS = 2000 };
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "ubench=", 7) == 0) {
            int r = loop_mode(argv[i] + 7);
            if (r >= 0)
                return r;
        }
    /* A null system call: a number with no service behind it is the
     * shortest round trip through SYSCALL, the dispatcher and SYSRET.
     * Timed as Linux's counterpart is (scripts/linux/src/lxb_cpu.c): 3
     * untimed repetitions of 2000 calls, then the median of 31 - a fresh
     * process's first calls pay TCG's software-TLB refills and block
     * look-ups, and a short repetition usually runs whole between two
     * of the shared host's scheduling gaps. */
    report("null_syscall", null_syscall_median(), 1);
    uint64_t t0 = rdtsc();
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
    int bad_alloc = 0;
    uint64_t reused = demand_zero_reused_median(&bad_alloc);
    if (bad_alloc)
        return 1;
    report("demand_zero_fault_reused", reused, 1);

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
    bench_disk();
    return sink == -1;   /* uses the sum: never true */
}
