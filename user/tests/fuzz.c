/*
 * fuzz seed=S n=N: N system calls chosen from seed S, mixing valid and
 * hostile arguments across every service of user/tests/svctable.h: it
 * creates, waits for, terminates and closes child processes, allocates,
 * commits, protects, decommits and frees memory and touches what it owns,
 * creates, opens, sets and closes events, opens and closes devices and
 * reads, writes, controls, flushes and cancels on them, and hands every
 * service bad pointers (NULL, kernel, non-canonical, unmapped, reserved,
 * no-access, read-only, guard, wrapping, straddling MmUserProbeAddress,
 * misaligned; inside OBJECT_ATTRIBUTES too), bad handles (closed, garbage,
 * of the wrong type), lengths and values.
 *
 * It must never hang, so some calls are kept safe by construction:
 *  - waits (NtWaitForSingleObject) only ever get child processes, which all
 *    end by themselves: never an event or a file, which may never be
 *    signalled;
 *  - the devices it opens complete every request at once: \Device\Null and
 *    \Device\IoTestBuffered (never the RAM disk, whose filter holds reads,
 *    nor the IoTest devices' pend or hold modes); its IOCTLs are any code
 *    to \Device\Null (which refuses them all) and only the buffered
 *    IoTest IOCTL to \Device\IoTestBuffered, so no random code can switch
 *    a device to holding requests;
 *  - NtReadConsole is never valid (it waits for a line).
 *
 * What it checks itself: a call whose arguments include one that can
 * never be right (a required NULL, a kernel or non-canonical address, a
 * wrapping or straddling range, a misaligned pointer, an unknown service
 * number) must fail. The kernel test fuzz.* (kernel/ps/tests/fuzz_test.c)
 * that starts it checks the rest: the process ends by itself with 0, the
 * kernel lives, and every frame, pool block and system PTE is given back.
 *
 * The same seed makes the same choices; children run concurrently, so a
 * wait's outcome (and what follows from it) may differ between runs.
 * Exit status: 0, or 1 after a FAIL line.
 *
 * huge=1 (what the kernel test passes unless fuzz.huge=0, `make fuzz
 * HUGE=0`) adds huge allocations, reserved or committed, then queried,
 * protected and freed: the commit limit and the walks that skip absent
 * page tables (docs/testing.md).
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "user/tests/svctable.h"
#include "drivers/iotest/iotest_ioctl.h"
#include "drivers/virtio/vblk_ioctl.h"

#define P PAGE_SIZE
#define SELF NtCurrentProcess()
#define FUZZ_AREA 0x0000200000000000ULL   /* where fixed-base allocations go: nothing else is there */
#define MAX_REGIONS 12
#define MAX_CHILDREN 4
#define MAX_OBJECTS 8     /* events and files the fuzzer's own calls opened */

static uint64_t rng;
static uint64_t rnd(void)
{
    /* xorshift64*: small, fast, and the same sequence everywhere */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1DULL;
}
static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }
static int chance(int percent) { return (int)below(100) < percent; }

/* ---- what the fuzzer owns ---- */

typedef struct {
    uint64_t base, size;
    int touchable;   /* committed, read/write, no guard: safe to touch from here */
} REGION;
static REGION regions[MAX_REGIONS];
static HANDLE children[MAX_CHILDREN];
/* Handles made by the set-up: never closed by a fuzzed call. */
static HANDLE fx_event, fx_null, fx_buffered, fx_port;
static IORING_T fx_ring;   /* its SQ gets hostile entries (fill_ring) */
/* The virtio disk (asynchronous, direct I/O: what a ring request may use),
 * for ring entries that really move bytes - runs of adjacent ones, which
 * the driver merges - inside the last FUZZ_DISK_BYTES of it, where no test
 * keeps anything; 0 when there is no disk. */
static HANDLE fx_disk;
#define FUZZ_DISK_END (64ULL << 20)
#define FUZZ_DISK_BYTES (8ULL << 20)
static uint8_t disk_buf[16 * P] __attribute__((aligned(4096)));
/* Handles that fuzzed calls made (0: a free slot), and of which kind. */
static HANDLE objects[MAX_OBJECTS];
static int object_is_file[MAX_OBJECTS];
static int huge_ok;
static uint64_t huge_allocations;   /* successful allocations of 1 GiB or more */
static int guard_armed;   /* fx_guard is a guard page now (no call was handed it since it was armed) */
static uint64_t trace_from = ~0ULL;   /* trace=K: print each call from the K-th on, before it is made */

static uint8_t scratch[4 * P] __attribute__((aligned(4096)));
static const uint8_t ro_page[P] __attribute__((aligned(4096))) = { 1 };
/* Misaligned pointers point here: nothing valid ever does, so it stays zero
 * and a kernel that wrongly accepts one reads a zero timeout (and the call
 * is reported), not some earlier output that would sleep for ever. */
static uint8_t quiet[1024] __attribute__((aligned(64)));
static uint64_t fx_reserved, fx_noaccess, fx_guard;

static uint64_t alloc(uint64_t base, size_t size, uint32_t type, uint32_t protect)
{
    void *b = (void *)base;
    if (!NT_SUCCESS(NtAllocateVirtualMemory(SELF, &b, 0, &size, type, protect))) {
        printf("[fuzz] FAIL set-up: could not allocate %#llx bytes\n", (unsigned long long)size);
        NtTerminateCurrentProcess(1);
    }
    return (uint64_t)b;
}

/* ---- bad values ---- */

static int surely_bad;   /* this call has an argument no service may accept: the fuzz.c line that chose it */
__attribute__((noinline)) static void fuzz_code(void) { __asm__ volatile(""); }

static uint64_t bad_pointer(const ARGDESC *d)
{
    switch (below(12)) {
    case 0: if (!d->optional) surely_bad = __LINE__; return 0;
    case 1: surely_bad = __LINE__; return 0xFFFFF80000000000ULL + below(1 << 20) * 8;
    case 2: surely_bad = __LINE__; return 0x0000800000000000ULL + below(1 << 20) * 8;
    case 3: surely_bad = __LINE__; return 0x8000000000000000ULL | (rnd() & ~7ULL);
    case 4: return 0x100000000ULL + below(1 << 20) * 8;   /* unmapped (nothing is reserved there) */
    case 5: return fx_reserved + below(4) * P;
    case 6: return fx_noaccess;
    case 7: return arg_is_written(d) ? (uint64_t)ro_page : fx_noaccess;
    case 8: return fx_guard;   /* a guard page (once; re-armed now and then) */
    case 9: surely_bad = __LINE__; return MM_USER_PROBE_ADDRESS - (d->len_arg >= 0 ? 8 : 0);   /* straddles or is past */
    case 10:
        if (d->align > 1) {
            surely_bad = __LINE__;
            return (uint64_t)quiet + 8 * below(64) + 1 + below(d->align - 1);
        }
        return (uint64_t)&fuzz_code;   /* code: read-only */
    default: surely_bad = __LINE__; return 0 - 8 * (1 + below(4));   /* wraps at 2^64 */
    }
}

static uint64_t bad_handle(void)
{
    surely_bad = __LINE__;   /* none of these is ever a handle of ours */
    static const uint64_t h[] = { 0, 0x1234, 0x5, 0x7FFFFFFFFFFFFFFCULL, 0xFFFFFFFF00000004ULL,
                                  0xFFFFF80000000000ULL, 4 * MAX_CHILDREN + 64 };
    if (chance(20))
        return rnd() & ~3ULL ? (rnd() | 0x100000ULL) & ~3ULL : 0x40;   /* a random (unopened) value */
    return h[below(sizeof(h) / sizeof(h[0]))];
}

/* fx_ring's queues made hostile for the next NtSubmitIoRing: what the
 * last one wrote dropped (the CQ head put at the kernel's tail), then a few
 * entries of random fields - handles of ours that no ring request may use
 * (\Device\Null is neither I/O, IoTestBuffered buffered: each entry ends
 * as an error CQE, no byte moves) or random ones, buffers in scratch or
 * anywhere - and a tail that is mostly honest, sometimes anything. None of
 * this may change whether the call itself succeeds. */
static void fill_ring(void)
{
    IORING_SUBMIT_AREA_T *sq = fx_ring.Info.Submit;
    IORING_COMPLETE_AREA_T *cq = fx_ring.Info.Complete;
    sq->CqHead = chance(90) ? cq->CqTail : (uint32_t)rnd();
    uint32_t head = cq->SqHead, n = (uint32_t)below(fx_ring.Info.SubmissionQueueSize + 1);
    int64_t next = -1;   /* where the last disk entry ended: the next may continue it */
    uint32_t last_op = IORING_OP_READ;
    for (uint32_t k = 0; k < n; k++) {
        IORING_SQE_T *e = &sq->Sqe[(head + k) & (fx_ring.Info.SubmissionQueueSize - 1)];
        e->OpCode = chance(80) ? (uint32_t)below(5) : (uint32_t)rnd();
        e->Flags = chance(60) ? 0 : chance(80) ? (uint32_t)below(4) : (uint32_t)rnd();
        e->File = chance(35) ? fx_null : chance(40) ? fx_buffered : chance(30) ? below(4) : (rnd() | 0x100000ULL) & ~3ULL;
        e->Offset = chance(80) ? (int64_t)(below(64) * 512) : (int64_t)rnd();
        e->Buffer = chance(70) ? (uint64_t)(uintptr_t)scratch + below(P) : rnd();
        e->Length = chance(80) ? (uint32_t)below(P) : (uint32_t)rnd();
        e->BufferIndex = chance(60) ? 0 : chance(80) ? (uint32_t)below(4) : (uint32_t)rnd();
        e->UserData = rnd();
        if (fx_disk && chance(40)) {
            /* A disk entry: mostly a sector-aligned read or write in the
             * fuzz region, often continuing the one before (same direction,
             * the next sector: merged into one device request), sometimes
             * misaligned, past the end or into memory it may not use. */
            e->File = fx_disk;
            e->Flags = chance(90) ? 0 : (uint32_t)below(4);
            e->OpCode = chance(90) ? (next >= 0 && chance(70) ? last_op : IORING_OP_READ + (uint32_t)below(2))
                                   : (uint32_t)below(5);
            e->Length = chance(90) ? (uint32_t)(512 * (1 + below(32))) : (uint32_t)below(3 * P);
            e->Offset = next >= 0 && chance(60) ? next
                        : chance(90) ? (int64_t)(FUZZ_DISK_END - FUZZ_DISK_BYTES + below(FUZZ_DISK_BYTES / 512) * 512)
                                     : (int64_t)rnd();
            e->Buffer = chance(85) ? (uint64_t)(uintptr_t)disk_buf + (chance(80) ? below(16) * P : below(16 * P))
                        : chance(50) ? (uint64_t)(uintptr_t)ro_page : rnd();
            if (e->Offset >= (int64_t)(FUZZ_DISK_END - FUZZ_DISK_BYTES) && e->Offset < (int64_t)FUZZ_DISK_END &&
                (uint64_t)e->Offset + e->Length > FUZZ_DISK_END)
                e->Length = (uint32_t)(FUZZ_DISK_END - (uint64_t)e->Offset);   /* stays in the region */
            if ((uint64_t)e->Buffer >= (uint64_t)(uintptr_t)disk_buf &&
                (uint64_t)e->Buffer + e->Length > (uint64_t)(uintptr_t)disk_buf + sizeof(disk_buf))
                e->Buffer = (uint64_t)(uintptr_t)disk_buf;   /* in our buffer: never over the rest of .bss */
            last_op = e->OpCode;
            next = e->Offset + e->Length;
        } else {
            next = -1;
        }
    }
    sq->SqTail = chance(90) ? head + n : (uint32_t)rnd();
}

/* The disk's counters (IOCTL_VBLK_LAST_REQUEST), so a run says how much
 * of it reached the device, merged or not (make fuzz prints it). */
static VBLK_LAST_T disk0;
static void disk_counters(VBLK_LAST_T *l)
{
    IO_STATUS_BLOCK_T iosb;
    memset(l, 0, sizeof(*l));
    if (fx_disk && NtDeviceIoControlFile(fx_disk, fx_event, NULL, NULL, &iosb, IOCTL_VBLK_LAST_REQUEST, NULL, 0, l,
                                         sizeof(*l)) == STATUS_PENDING)
        NtWaitForSingleObject(fx_event, 0, NULL);
}

static void disk_report(const VBLK_LAST_T *before)
{
    VBLK_LAST_T now;
    if (!fx_disk)
        return;
    disk_counters(&now);
    printf("[fuzz] disk: %llu requests, %llu device requests, %llu merged, %llu failed by the device\n",
           (unsigned long long)(now.Requests - before->Requests),
           (unsigned long long)(now.SubRequests - before->SubRequests),
           (unsigned long long)(now.Merged - before->Merged), (unsigned long long)(now.Errors - before->Errors));
}

static uint32_t any_protection(void)
{
    static const uint32_t p[] = { PAGE_READWRITE, PAGE_READWRITE, PAGE_READONLY, PAGE_NOACCESS, PAGE_EXECUTE_READ,
                                  PAGE_READWRITE | PAGE_GUARD, PAGE_EXECUTE_READWRITE, PAGE_WRITECOPY,
                                  PAGE_READWRITE | PAGE_NOCACHE, 0, 3, PAGE_NOACCESS | PAGE_GUARD, 0x12345 };
    return chance(10) ? (uint32_t)rnd() : p[below(sizeof(p) / sizeof(p[0]))];
}

/* A valid output/input spot in memory we own (scratch, or a region we may touch). */
static uint64_t good_pointer(const ARGDESC *d, uint64_t len)
{
    uint64_t a = (uint64_t)scratch + 8 * below(64);
    if (len + 512 > sizeof(scratch))
        a = (uint64_t)scratch;
    for (int i = 0; i < MAX_REGIONS && chance(30); i++) {
        REGION *r = &regions[below(MAX_REGIONS)];
        if (r->size && r->touchable && len <= r->size) {
            a = r->base + ((r->size - len) & ~7ULL & (P - 1));
            break;
        }
    }
    (void)d;
    return a;
}

static REGION *any_region(void)
{
    for (int tries = 0; tries < 4; tries++) {
        REGION *r = &regions[below(MAX_REGIONS)];
        if (r->size)
            return r;
    }
    return NULL;
}

static REGION *free_region_slot(void)
{
    for (int i = 0; i < MAX_REGIONS; i++)
        if (!regions[i].size)
            return &regions[i];
    return NULL;
}

static HANDLE any_child(void)
{
    HANDLE h = children[below(MAX_CHILDREN)];
    return h ? h : bad_handle();
}

/* An event for an A_EVENT argument, a file for A_FILE; now and then one
 * of the wrong type (surely bad). */
static HANDLE any_object(ARGKIND kind)
{
    int want_file = kind == A_FILE;
    if (chance(4)) {
        surely_bad = __LINE__;
        return want_file ? fx_event : chance(50) ? fx_null : SELF;
    }
    for (int tries = 0; tries < 3 && chance(40); tries++) {
        int i = (int)below(MAX_OBJECTS);
        if (objects[i] && object_is_file[i] == want_file)
            return objects[i];
    }
    return want_file ? (chance(50) ? fx_null : fx_buffered) : fx_event;
}

static int object_slot(void)
{
    for (int i = 0; i < MAX_OBJECTS; i++)
        if (!objects[i])
            return i;
    return -1;
}

static int child_slot(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (!children[i])
            return i;
    return -1;
}

/* ---- one call ---- */

static struct {
    uint64_t base, size, ret;
    uint32_t old, key;
    int64_t time, offset;
    HANDLE handle;
    IO_STATUS_BLOCK_T iosb;
    FILE_COMPLETION_INFORMATION_T assoc;
    IORING_CREATE_T ring_params;
    IORING_INFO_T ring_info;
    OBJECT_ATTRIBUTES_T oa;
    STRING_T name;
} V;

static const char *const object_names[] = {
    "\\Device\\Null", "\\Device\\IoTestBuffered", "\\Device\\NoSuchDevice", "\\BaseNamedObjects\\fuzz",
    "\\BaseNamedObjects\\fuzz2", "\\Device", "Device\\Null", "\\", "\\NoSuchDirectory\\x",
};

/* An OBJECT_ATTRIBUTES in V for NAME, or (SPOIL) one with a hostile field
 * or inner pointer. NAME_OPTIONAL: a NULL ObjectName is allowed. */
static uint64_t fuzz_attributes(const char *name, int spoil, int name_optional)
{
    RtlInitString(&V.name, name);
    InitializeObjectAttributes(&V.oa, &V.name, chance(10) ? OBJ_CASE_INSENSITIVE : 0);
    if (!spoil)
        return (uint64_t)&V.oa;
    static const ARGDESC name_desc = { A_IN, 8, 0, -1, sizeof(STRING_T), "ObjectName" };
    ARGDESC buf_desc = { A_IN, 1, 0, -1, V.name.Length, "Buffer" };
    ARGDESC opt_desc = name_desc;
    opt_desc.optional = (uint8_t)name_optional;
    switch (below(8)) {
    case 0: V.oa.Length = (uint32_t)rnd(); if (V.oa.Length != sizeof(V.oa)) surely_bad = __LINE__; break;
    case 1: V.oa.RootDirectory = rnd() | 4; surely_bad = __LINE__; break;
    case 2: V.oa.Attributes = (uint32_t)rnd(); break;
    case 3: V.oa.ObjectName = (STRING_T *)bad_pointer(&opt_desc); break;
    case 4: V.name.Buffer = (char *)bad_pointer(&buf_desc); break;
    case 5: V.name.Length = (uint16_t)rnd(); break;
    case 6: V.name.MaximumLength = (uint16_t)below(V.name.Length + 1); break;
    default: V.oa.SecurityDescriptor = (void *)rnd(); if (V.oa.SecurityDescriptor) surely_bad = __LINE__; break;
    }
    return (uint64_t)&V.oa;
}

static const char *const images[] = { "child", "hello", "", "no_such_program",
                                      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" };
static const char *const cmdlines[] = { "child exit 3", "child sleep 20", "child", "hello fuzz", "" };

/* Fill A for service N: each argument valid, or (now and then) hostile. */
static int hostile_was, hostile_line;   /* surely_bad before the hostile pointer, and the line it set */

static void make_args(const SERVICE *svc, uint64_t a[MAX_ARGS + 1], int *hostile_ptr)
{
    memset(a, 0, (MAX_ARGS + 1) * sizeof(a[0]));
    memset(&V, 0, sizeof(V));
    *hostile_ptr = -1;
    int spoil = chance(45) ? (int)below((uint64_t)arg_count(svc) + (arg_count(svc) == 0)) : -1;   /* which argument goes bad */
    for (int i = 0; i < MAX_ARGS; i++) {
        const ARGDESC *d = &svc->arg[i];
        int bad = i == spoil;
        switch (d->kind) {
        case A_HANDLE:
        case A_ANY_HANDLE:
            if (bad)
                a[i] = bad_handle();
            else if (svc->number == SYS_NtTerminateProcess || svc->number == SYS_NtWaitForSingleObject)
                a[i] = any_child();   /* never ourselves, and only what ends by itself */
            else if (svc->number == SYS_NtClose)
            {
                /* a child, or (as often) an event or file a call opened */
                HANDLE o = 0;
                for (int k = 0, j = (int)below(MAX_OBJECTS); k < MAX_OBJECTS && !o; k++)
                    o = objects[(j + k) % MAX_OBJECTS];
                a[i] = chance(50) || !o ? any_child() : o;
            }
            else if (chance(3))
                a[i] = chance(50) ? fx_event : fx_null, surely_bad = __LINE__;   /* not a process */
            else
                a[i] = svc->number == SYS_NtQueryInformationProcess && chance(30) ? any_child() : SELF;
            break;
        case A_EVENT:
            if (bad) {
                int was = surely_bad;
                a[i] = bad_handle();
                if (!a[i] && d->optional)
                    surely_bad = was;   /* 0 is "no event": fine */
            } else if (d->optional && chance(50))
                a[i] = 0;
            else
                a[i] = any_object(A_EVENT);
            break;
        case A_FILE:
            a[i] = bad ? bad_handle() : any_object(A_FILE);
            break;
        case A_PORT:
            if (bad)
                a[i] = bad_handle();
            else if (chance(4))
                a[i] = fx_event, surely_bad = __LINE__;   /* not a port */
            else
                a[i] = fx_port;
            break;
        case A_RING:
            if (bad)
                a[i] = bad_handle();
            else if (chance(4))
                a[i] = fx_port, surely_bad = __LINE__;   /* not a ring */
            else
                a[i] = fx_ring.Handle;
            break;
        case A_OBJATTR:
            if (bad && chance(50)) {
                a[i] = bad_pointer(d);
                *hostile_ptr = i;
            } else {
                /* a good structure, hostile inside when BAD (below, per service) */
                a[i] = 1;
            }
            break;
        case A_IN: case A_OUT: case A_INOUT: case A_STRING:
            if (bad) {
                int was = surely_bad;
                a[i] = bad_pointer(d);
                *hostile_ptr = i;
                hostile_was = was;
                hostile_line = surely_bad != was ? surely_bad : 0;
                /* A NULL buffer with a length passes NT's ProbeForRead (it
                 * checks the range only, and [0, length) is user space);
                 * only the transfer faults. A neither-I/O device that does
                 * not touch it (\Device\Null) succeeds, as on NT. */
                if (!a[i] && (svc->number == SYS_NtReadFile || svc->number == SYS_NtWriteFile) && i == 5)
                    surely_bad = was;
            }
            break;
        default: break;
        }
    }
    /* A time the kernel reads from a page that may hold anything would
     * sleep for anything: a timeout or interval is the guard page only
     * while it is armed (then the probe fails), or surely bad. */
    int timing = svc->number == SYS_NtDelayExecution           ? 1
                 : svc->number == SYS_NtWaitForSingleObject    ? 2
                 : svc->number == SYS_NtRemoveIoCompletion ||
                           svc->number == SYS_NtRemoveIoCompletionEx ? 4
                 : svc->number == SYS_NtSubmitIoRing                 ? 3
                                                                    : -1;
    if (timing >= 0 && spoil == timing && !surely_bad && !(a[timing] == fx_guard && guard_armed)) {
        a[timing] = 0xFFFFF80000000000ULL;
        surely_bad = __LINE__;
    }
    for (int i = 0; i < MAX_ARGS; i++)
        if (arg_is_pointer(&svc->arg[i]) && a[i] == fx_guard)
            guard_armed = 0;   /* consumed, perhaps */
    /* The valid pointers and the values, per service. */
    REGION *r = any_region();
    switch (svc->number) {
    case SYS_NtTerminateProcess: a[1] = rnd() & 0xFFFFFFFF; break;
    case SYS_NtDisplayString:
        /* Only nothing may reach the console (random bytes would break the
         * line protocol): a length of 0, or a pointer that can never be
         * right, which fails before anything is printed. */
        if (spoil == 0 && surely_bad) {
            a[1] = chance(50) ? 16 : rnd() | 1;
        } else {
            a[0] = (uint64_t)scratch;
            a[1] = 0;
        }
        break;
    case SYS_NtAllocateVirtualMemory:
        if (spoil != 1) {
            a[1] = (uint64_t)&V.base;
            V.base = chance(60) ? 0 : chance(50) && r ? r->base + below(r->size / P + 2) * P
                                                     : FUZZ_AREA + below(256) * 0x10000 + (chance(20) ? below(P) : 0);
        }
        if (spoil != 3) {
            a[3] = (uint64_t)&V.size;
            V.size = (1 + below(64)) * P - (chance(20) ? below(P) : 0);
            if (chance(5))
                V.size = chance(50) ? 0 : (huge_ok ? 1ULL << (30 + below(16)) : 1ULL << (48 + below(16)));
        }
        a[2] = spoil == 2 ? rnd() % 64 : 0;
        a[4] = spoil == 4 ? (uint32_t)rnd() : (uint32_t[]){ MEM_RESERVE | MEM_COMMIT, MEM_RESERVE, MEM_COMMIT }[below(3)];
        a[5] = spoil == 5 ? any_protection() : chance(70) ? PAGE_READWRITE : any_protection();
        if (!free_region_slot() && !surely_bad)
            a[3] = 0, surely_bad = __LINE__;   /* no room to track a new region: make sure it fails (required NULL) */
        break;
    case SYS_NtFreeVirtualMemory:
        if (spoil != 1) {
            a[1] = (uint64_t)&V.base;
            V.base = r && chance(85) ? r->base + (chance(20) ? below(r->size / P) * P : 0)
                                     : chance(50) ? FUZZ_AREA + below(256) * 0x10000 : 0x400000;
        }
        if (spoil != 2) {
            a[2] = (uint64_t)&V.size;
            V.size = chance(50) ? 0 : r && chance(70) ? r->size : below(64) * P;
        }
        a[3] = spoil == 3 ? (uint32_t)rnd() : chance(60) ? MEM_RELEASE : MEM_DECOMMIT;
        break;
    case SYS_NtProtectVirtualMemory:
        if (spoil != 1) {
            a[1] = (uint64_t)&V.base;
            V.base = r && chance(85) ? r->base + (chance(20) ? below(r->size / P) * P : 0) : 0x400000;
        }
        if (spoil != 2) {
            a[2] = (uint64_t)&V.size;
            V.size = r && chance(70) ? r->size : (1 + below(8)) * P;
        }
        a[3] = any_protection();
        if (spoil != 4)
            a[4] = (uint64_t)&V.old;
        break;
    case SYS_NtQueryVirtualMemory:
        /* Addresses above 4 GiB (or kernel ones), or in our regions: a query
         * result written to a good-again guard page must not name our stack
         * for a later NtFreeVirtualMemory that reads its base from there. */
        a[1] = chance(10) ? rnd() | (1ULL << 63) : r && chance(50) ? r->base + below(r->size)
                                                                    : 0x100000000ULL + below(0x100000000ULL);
        a[2] = spoil == 2 ? rnd() % 8 : MemoryBasicInformation;
        a[4] = spoil == 4 ? (chance(50) ? below(64) : rnd()) : sizeof(MEMORY_BASIC_INFORMATION_T) + below(2) * 8;
        if (spoil != 3)
            a[3] = good_pointer(&svc->arg[3], a[4] < 4096 ? a[4] : 64);
        if (spoil != 5 && chance(80))
            a[5] = (uint64_t)&V.ret;
        break;
    case SYS_NtCreateProcess: {
        int slot = child_slot();
        if (spoil != 0)
            a[0] = (uint64_t)images[slot < 0 ? 2 + below(3) : chance(80) ? 0 : below(5)];
        if (spoil != 1)
            a[1] = chance(10) ? 0 : (uint64_t)cmdlines[below(5)];
        if (a[0] == (uint64_t)images[0] && a[1] == 0)
            a[1] = (uint64_t)cmdlines[0];   /* "child" without arguments is fine too, but keep it short-lived */
        if (spoil != 2)
            a[2] = (uint64_t)&V.handle;
        break;
    }
    case SYS_NtWaitForSingleObject:
        a[1] = spoil == 1 ? rnd() & 0xFF : 0;
        if (spoil != 2) {
            static const int64_t t[] = { 0, -1, -10000, -20000 };
            V.time = t[below(4)];
            a[2] = chance(15) ? 0 : (uint64_t)&V.time;   /* NULL: until the child ends (they all end soon) */
        }
        break;
    case SYS_NtClose: break;
    case SYS_NtQueryInformationProcess:
        a[1] = spoil == 1 ? rnd() % 256 : chance(50) ? ProcessBasicInformation : ProcessFaultCounters;
        a[3] = spoil == 3 ? rnd() >> below(64) : sizeof(PROCESS_FAULT_COUNTERS_T) + below(16);
        if (spoil != 2)
            a[2] = good_pointer(&svc->arg[2], 128);
        if (spoil != 4 && chance(70))
            a[4] = (uint64_t)&V.ret;
        break;
    case SYS_NtDelayExecution:
        a[0] = spoil == 0 ? rnd() & 0xFF : 0;
        if (spoil != 1) {
            static const int64_t t[] = { 0, -1, -10000 };
            V.time = t[below(3)];
            a[1] = (uint64_t)&V.time;
        }
        break;
    case SYS_NtReadConsole:
        /* It waits for a line when every argument is good: "read" never is
         * (the service probes all three before it waits). */
        if (spoil != 0)
            a[0] = (uint64_t)scratch;
        a[1] = spoil == 1 ? (chance(50) ? 0 : rnd()) : 64;
        a[2] = chance(50) ? 0 : 0xFFFFF80000000000ULL;
        surely_bad = __LINE__;
        break;
    case SYS_NtQuerySystemInformation:
        a[0] = spoil == 0 ? rnd() % 512 : chance(50) ? SystemMemoryInformation : SystemProcessList;
        a[2] = spoil == 2 ? rnd() >> below(64) : chance(10) ? below(200) : sizeof(scratch) - 512;
        if (spoil != 1)
            a[1] = (uint64_t)scratch;
        if (spoil != 3 && chance(70))
            a[3] = (uint64_t)&V.ret;
        break;
    case SYS_NtYieldExecution: break;
    case SYS_NtGetCommandLine:
        a[1] = spoil == 1 ? rnd() >> below(64) : below(300);
        if (spoil != 0)
            a[0] = a[1] ? (uint64_t)scratch : 0;
        if (spoil != 2 && chance(70))
            a[2] = (uint64_t)&V.ret;
        break;
    case SYS_NtSetInformationProcess:
        a[1] = spoil == 1 ? rnd() % 256 : chance(20) ? ProcessTrimWorkingSet : 0;
        a[2] = rnd();
        a[3] = rnd() % 64;
        break;
    case SYS_NtCreateEvent:
    case SYS_NtOpenEvent:
    case SYS_NtCreateFile:
    case SYS_NtOpenFile: {
        int file = svc->number == SYS_NtCreateFile || svc->number == SYS_NtOpenFile;
        int create_event = svc->number == SYS_NtCreateEvent;
        if (spoil != 0)
            a[0] = (uint64_t)&V.handle;
        if (object_slot() < 0 && !surely_bad)
            a[0] = 0, surely_bad = __LINE__;   /* no slot to track a new handle: make sure it fails (required NULL) */
        a[1] = spoil == 1 ? (uint32_t)rnd()
             : file ? (uint32_t[]){ GENERIC_READ, GENERIC_READ | GENERIC_WRITE, FILE_READ_DATA | SYNCHRONIZE,
                                    FILE_WRITE_DATA, MAXIMUM_ALLOWED }[below(5)]
                    : (chance(80) ? EVENT_ALL_ACCESS : (uint32_t)below(4));
        if (a[2] == 1 || spoil != 2) {
            const char *name = object_names[file ? (chance(70) ? below(2) : below(9)) : 3 + (chance(80) ? below(2) : below(6))];
            a[2] = create_event && chance(40) && spoil != 2 ? 0 : fuzz_attributes(name, spoil == 2, create_event);
        }
        if (create_event) {
            a[3] = spoil == 3 ? rnd() % 4 : below(2);
            a[4] = below(2);
        } else if (svc->number == SYS_NtCreateFile) {
            if (spoil != 3)
                a[3] = (uint64_t)&V.iosb;
            if (spoil == 4 || chance(20))
                a[4] = spoil == 4 ? a[4] : (uint64_t)&V.time;
            a[5] = spoil == 5 ? rnd() : 0;
            a[6] = spoil == 6 ? rnd() : FILE_SHARE_READ | FILE_SHARE_WRITE;
            a[7] = spoil == 7 ? rnd() % 8 : chance(80) ? FILE_OPEN : below(6);
            a[8] = spoil == 8 ? (uint32_t)rnd() : chance(50) ? FILE_SYNCHRONOUS_IO_NONALERT : 0;
            a[9] = spoil == 9 ? rnd() : 0;
            a[10] = spoil == 10 ? rnd() % 64 : 0;
            if (a[9] || a[10])
                surely_bad = __LINE__;
        } else if (svc->number == SYS_NtOpenFile) {
            if (spoil != 3)
                a[3] = (uint64_t)&V.iosb;
            a[4] = spoil == 4 ? rnd() : FILE_SHARE_READ | FILE_SHARE_WRITE;
            a[5] = spoil == 5 ? (uint32_t)rnd() : chance(50) ? FILE_SYNCHRONOUS_IO_NONALERT : 0;
        }
        break;
    }
    case SYS_NtSetEvent:
    case SYS_NtResetEvent:
        if (spoil != 1 && chance(50))
            a[1] = (uint64_t)&V.old;
        break;
    case SYS_NtReadFile:
    case SYS_NtWriteFile: {
        a[2] = spoil == 2 ? rnd() | 1 : 0;   /* an APC routine: STATUS_NOT_SUPPORTED */
        if (a[2])
            surely_bad = __LINE__;
        a[3] = rnd();
        if (spoil != 4)
            a[4] = (uint64_t)&V.iosb;
        a[6] = spoil == 6 ? (uint32_t)rnd() >> below(32) : below(4096);
        /* A read of a length the buffer cannot hold would overwrite the
         * fuzzer itself: a hostile read length is past the buffered limit
         * (16 MiB: STATUS_INSUFFICIENT_RESOURCES), or Null's 0 bytes. */
        if (spoil == 6 && svc->number == SYS_NtReadFile && a[6] >= 4096)
            a[6] |= 0x01000001;
        if (spoil != 5)
            a[5] = good_pointer(&svc->arg[5], a[6] < 4096 ? a[6] : 4096);
        if (spoil != 7 && chance(80)) {
            V.offset = chance(80) ? (int64_t)(below(64) * 512) : (int64_t)rnd();
            a[7] = (uint64_t)&V.offset;
        }
        if (spoil != 8 && chance(30))
            a[8] = (uint64_t)&V.key;
        break;
    }
    case SYS_NtDeviceIoControlFile: {
        a[2] = spoil == 2 ? rnd() | 1 : 0;
        if (a[2])
            surely_bad = __LINE__;
        if (spoil != 4)
            a[4] = (uint64_t)&V.iosb;
        /* Random codes only to \Device\Null (it refuses every IOCTL):
         * none may reach an IoTest device and switch it to holding. A file
         * the fuzzer opened itself may be either device: Null instead. */
        for (int k = 0; k < MAX_OBJECTS; k++)
            if (objects[k] && objects[k] == a[0])
                a[0] = fx_null;
        a[5] = a[0] == fx_buffered || chance(30) ? IOCTL_IOTEST_ECHO : (uint32_t)rnd();
        if (a[0] == fx_buffered && spoil == 5)
            a[0] = fx_null;   /* the random code goes to Null */
        a[7] = spoil == 7 ? (uint32_t)rnd() >> below(32) : below(512);
        a[9] = spoil == 9 ? (uint32_t)rnd() >> below(32) : chance(80) ? a[7] + below(512 - a[7]) : below(512);
        if (spoil != 6 && chance(80))
            a[6] = good_pointer(&svc->arg[6], 512);
        if (spoil != 8 && chance(80))
            a[8] = (uint64_t)scratch + 2048 + 8 * below(64);
        break;
    }
    case SYS_NtFlushBuffersFile:
    case SYS_NtCancelIoFile:
        if (spoil != 1)
            a[1] = (uint64_t)&V.iosb;
        break;
    /* The port services: fx_port only (the one port), and a remove never
     * waits longer than 1 ms - a NULL timeout would wait for ever on an
     * empty port (the timing rule above covers a spoiled one). */
    case SYS_NtCreateIoCompletion:
        if (spoil != 0)
            a[0] = (uint64_t)&V.handle;
        a[1] = chance(80) ? IO_COMPLETION_ALL_ACCESS : rnd() & 0xFFFFFFFF;
        if (spoil != 2)
            a[2] = 0;
        a[3] = rnd() & 0xFF;
        break;
    case SYS_NtSetInformationFile:
        if (spoil != 1)
            a[1] = (uint64_t)&V.iosb;
        if (spoil != 2) {
            V.assoc.Port = chance(80) ? fx_port : bad_handle();
            V.assoc.Key = (void *)rnd();
            a[2] = (uint64_t)&V.assoc;
        }
        a[3] = spoil == 3 ? rnd() & 0xFFFFFFFF : sizeof(V.assoc);
        a[4] = spoil == 4 ? rnd() & 0xFF : FileCompletionInformation;
        break;
    case SYS_NtRemoveIoCompletion:
    case SYS_NtRemoveIoCompletionEx: {
        int ex = svc->number == SYS_NtRemoveIoCompletionEx;
        if (spoil != 1)
            a[1] = ex ? (uint64_t)scratch : (uint64_t)&V.ret;   /* scratch holds 64 entries */
        if (ex) {
            a[2] = spoil == 2 ? rnd() & 0xFFFFFFFF : 1 + below(IO_COMPLETION_REMOVE_MAX);
            if (spoil != 3)
                a[3] = (uint64_t)&V.old;
            a[5] = rnd() & 1;
        } else {
            if (spoil != 2)
                a[2] = (uint64_t)&V.offset;
            if (spoil != 3)
                a[3] = (uint64_t)&V.iosb;
        }
        if (spoil != 4) {
            static const int64_t t[] = { 0, -1, -10000 };
            V.time = t[below(3)];
            a[4] = (uint64_t)&V.time;
        }
        break;
    }
    case SYS_NtSetIoCompletion:
        a[1] = rnd();
        a[2] = rnd();
        a[3] = rnd() & 0xFFFFFFFF;
        a[4] = rnd();
        break;
    /* The ring: sizes mostly small (each ring made is closed at once), a
     * submit of hostile entries (fill_ring) that never waits long: every
     * entry's CQE is written before the wait, so a wait for more than is
     * there ends at once. */
    case SYS_NtCreateIoRing:
        if (spoil != 0)
            a[0] = (uint64_t)&V.handle;
        a[1] = spoil == 1 ? rnd() & 0xFF : sizeof(V.ring_params);
        if (spoil != 2) {
            V.ring_params.SubmissionQueueSize = chance(80) ? 1 + below(64) : (uint32_t)rnd();
            V.ring_params.CompletionQueueSize = chance(50) ? 0 : (uint32_t)(chance(80) ? below(256) : rnd());
            a[2] = (uint64_t)&V.ring_params;
        }
        a[3] = spoil == 3 ? rnd() & 0xFF : sizeof(V.ring_info);
        if (spoil != 4)
            a[4] = (uint64_t)&V.ring_info;
        break;
    case SYS_NtSubmitIoRing:
        fill_ring();
        a[1] = spoil == 1 ? rnd() & 0xFFFFFFFF : 0;
        a[2] = chance(50) ? 0 : rnd() & (chance(80) ? 7 : 0xFFFFFFFF);
        if (spoil != 3) {
            static const int64_t t[] = { 0, -1, -10000 };
            V.time = t[below(3)];
            a[3] = chance(20) ? 0 : (uint64_t)&V.time;
        }
        break;
    case SYS_NtSetSystemInformation:
        /* The profiler's commands, a start now and then (it runs at the
         * boot's rate, bounded by the kernel) and a report rarely (it is
         * sixty console lines); the rest stops and clears. */
        a[0] = spoil == 0 ? rnd() % 512 : SystemProfileControl;
        if (spoil != 1) {
            V.key = chance(5) ? (uint32_t)rnd() : chance(3) ? PROFILE_START : chance(1) ? PROFILE_REPORT
                  : chance(50) ? PROFILE_STOP : PROFILE_CLEAR;
            a[1] = (uint64_t)&V.key;
        }
        a[2] = spoil == 2 ? rnd() >> below(64) : chance(10) ? below(4) : sizeof(V.key);
        break;
    }
    /* A buffer of length 0 is never touched nor probed: no pointer is
     * surely bad then (a straddling one included). */
    if (*hostile_ptr >= 0 && svc->arg[*hostile_ptr].len_arg >= 0 && !a[svc->arg[*hostile_ptr].len_arg] &&
        hostile_line && surely_bad == hostile_line)
        surely_bad = hostile_was;
}

/* Keep what the fuzzer owns in step with what the call did. */
static void account(const SERVICE *svc, const uint64_t a[], NTSTATUS st)
{
    if (!NT_SUCCESS(st))
        return;
    /* The results are where the kernel wrote them: a "bad" pointer that
     * turned out good (a consumed guard page) got them, not V. Having been
     * written by this call, they can be read. */
    if (svc->number >= SYS_NtAllocateVirtualMemory && svc->number <= SYS_NtProtectVirtualMemory) {
        V.base = *(volatile uint64_t *)a[1];
        V.size = *(volatile uint64_t *)a[svc->number == SYS_NtAllocateVirtualMemory ? 3 : 2];
    } else if (svc->number == SYS_NtCreateProcess) {
        V.handle = *(volatile uint64_t *)a[2];
    } else if (svc->number == SYS_NtCreateIoCompletion || svc->number == SYS_NtCreateIoRing) {
        NtClose(*(volatile uint64_t *)a[0]);   /* only fx_port and fx_ring are used: a new one goes at once */
    } else if (svc->number >= SYS_NtCreateEvent && svc->number <= SYS_NtOpenFile &&
               svc->number != SYS_NtSetEvent && svc->number != SYS_NtResetEvent) {
        int slot = object_slot();
        if (slot < 0) {
            printf("[fuzz] FAIL a handle was opened with no slot to track it\n");
            NtTerminateCurrentProcess(1);
        }
        objects[slot] = *(volatile uint64_t *)a[0];
        object_is_file[slot] = svc->number == SYS_NtCreateFile || svc->number == SYS_NtOpenFile;
    }
    switch (svc->number) {
    case SYS_NtAllocateVirtualMemory: {
        REGION *r = NULL;
        for (int i = 0; i < MAX_REGIONS; i++)
            if (regions[i].size && V.base >= regions[i].base && V.base < regions[i].base + regions[i].size)
                r = &regions[i];
        if (r) {   /* a commit inside a region we own */
            r->touchable = 0;
            break;
        }
        r = free_region_slot();
        if (!r) {
            printf("[fuzz] FAIL an allocation succeeded with no slot to track it\n");
            NtTerminateCurrentProcess(1);
        }
        r->base = V.base;
        r->size = V.size;
        if (V.size >= (1ULL << 30))
            huge_allocations++;
        r->touchable = (a[4] & MEM_COMMIT) && (a[4] & MEM_RESERVE) && a[5] == PAGE_READWRITE;
        break;
    }
    case SYS_NtFreeVirtualMemory:
        for (int i = 0; i < MAX_REGIONS; i++) {
            REGION *r = &regions[i];
            if (!r->size || V.base < r->base || V.base >= r->base + r->size)
                continue;
            if (a[3] == MEM_RELEASE)
                r->size = 0;
            else
                r->touchable = 0;
        }
        break;
    case SYS_NtProtectVirtualMemory:
        for (int i = 0; i < MAX_REGIONS; i++) {
            REGION *r = &regions[i];
            if (!r->size || V.base < r->base || V.base >= r->base + r->size)
                continue;
            /* all committed (or it fails); touchable again only when all of it is read/write */
            r->touchable = V.base == r->base && V.size == r->size && a[3] == PAGE_READWRITE;
        }
        break;
    case SYS_NtCreateProcess: {
        int slot = child_slot();
        if (slot < 0) {
            printf("[fuzz] FAIL a process was created with no slot to track it\n");
            NtTerminateCurrentProcess(1);
        }
        children[slot] = V.handle;
        break;
    }
    case SYS_NtClose:
        for (int i = 0; i < MAX_CHILDREN; i++)
            if (children[i] == a[0])
                children[i] = 0;
        for (int i = 0; i < MAX_OBJECTS; i++)
            if (objects[i] == a[0])
                objects[i] = 0;
        break;
    }
}

/* The guard page fires once; a service that was handed it may have
 * consumed it. Arm it again - and since a hostile call can have freed or
 * re-protected it (a consumed guard page is an ordinary page, and a base
 * read from it can name it), make it again if need be. Its contents do
 * not matter: while armed, a probe of it fails before reading them. */
static void rearm_guard(void)
{
    MEMORY_BASIC_INFORMATION_T m;
    guard_armed = 0;
    if (!NT_SUCCESS(NtQueryVirtualMemory(SELF, (void *)fx_guard, MemoryBasicInformation, &m, sizeof(m), NULL)))
        return;
    if (m.State == MEM_COMMIT && (m.Protect & PAGE_GUARD)) {
        guard_armed = 1;
        return;
    }
    void *b = (void *)fx_guard;
    size_t size = P;
    uint32_t old;
    if (m.State == MEM_FREE)
        guard_armed = NT_SUCCESS(NtAllocateVirtualMemory(SELF, &b, 0, &size, MEM_RESERVE | MEM_COMMIT,
                                                         PAGE_READWRITE | PAGE_GUARD));
    else if (m.State == MEM_COMMIT)
        guard_armed = NT_SUCCESS(NtProtectVirtualMemory(SELF, &b, &size, PAGE_READWRITE | PAGE_GUARD, &old));
}

static void touch_memory(void)
{
    REGION *r = any_region();
    if (!r || !r->touchable)
        return;
    volatile uint8_t *p = (volatile uint8_t *)(r->base + below(r->size));
    if (chance(50))
        *p = (uint8_t)rnd();
    else
        (void)*p;
}

int main(int argc, char **argv)
{
    uint64_t seed = 0x5EED, n = 1000;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "seed=", 5) == 0)
            seed = strtoull(argv[i] + 5, NULL, 0);
        else if (strncmp(argv[i], "n=", 2) == 0)
            n = strtoull(argv[i] + 2, NULL, 0);
        else if (strcmp(argv[i], "huge=1") == 0)
            huge_ok = 1;
        else if (strncmp(argv[i], "trace=", 6) == 0)
            trace_from = strtoull(argv[i] + 6, NULL, 0);
    }
    printf("[fuzz] seed %#llx, %llu calls (replay: make fuzz SEED=%#llx N=%llu)\n", (unsigned long long)seed,
           (unsigned long long)n, (unsigned long long)seed, (unsigned long long)n);
    rng = seed ? seed : 1;
    fx_reserved = alloc(0, 8 * P, MEM_RESERVE, PAGE_READWRITE);
    fx_noaccess = alloc(0, P, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS);
    fx_guard = alloc(0, P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD);
    guard_armed = 1;
    memset(scratch, 0, sizeof(scratch));
    if (!NT_SUCCESS(NtCreateEvent(&fx_event, EVENT_ALL_ACCESS, NULL, 0, 0)) ||
        !NT_SUCCESS(OpenDevice("\\Device\\Null", FILE_READ_DATA | FILE_WRITE_DATA, FILE_SYNCHRONOUS_IO_NONALERT,
                               &fx_null)) ||
        !NT_SUCCESS(OpenDevice("\\Device\\IoTestBuffered", FILE_READ_DATA | FILE_WRITE_DATA, 0, &fx_buffered)) ||
        !NT_SUCCESS(NtCreateIoCompletion(&fx_port, IO_COMPLETION_ALL_ACCESS, NULL, 0)) ||
        !NT_SUCCESS(CreateIoRing(8, 0, &fx_ring))) {
        printf("[fuzz] FAIL set-up: could not create the event or open \\Device\\Null and \\Device\\IoTestBuffered\n");
        return 1;
    }
    if (!NT_SUCCESS(OpenDevice("\\Device\\Harddisk0\\DR0", FILE_READ_DATA | FILE_WRITE_DATA, 0, &fx_disk)))
        fx_disk = 0;   /* no disk: the ring's entries move no bytes */
    disk_counters(&disk0);
    if (trace_from == 0)
        printf("[fuzz] event %#llx, \\Device\\Null %#llx, \\Device\\IoTestBuffered %#llx\n",
               (unsigned long long)fx_event, (unsigned long long)fx_null, (unsigned long long)fx_buffered);
    uint64_t failed = 0, ok = 0, made = 0;
    for (uint64_t i = 0; i < n && failed == 0; i++, made++) {
        if (chance(10)) {
            touch_memory();
            continue;
        }
        if (chance(2))
            rearm_guard();
        uint64_t a[MAX_ARGS + 1];
        int hostile;
        surely_bad = 0;
        const SERVICE *svc;
        uint64_t number;
        if (chance(1)) {
            number = SYS_COUNT + (chance(50) ? below(16) : rnd() >> 1);
            svc = NULL;
            memset(a, 0, sizeof(a));
            a[0] = 0x1234;   /* harmless to any service, were the number truncated */
            surely_bad = __LINE__;
        } else {
            svc = &services[below(SERVICE_COUNT)];
            number = svc->number;
            make_args(svc, a, &hostile);
        }
        if (i >= trace_from)
            printf("[fuzz] call %llu: %s(%#llx, %#llx, %#llx, %#llx, %#llx, %#llx | %#llx, %#llx, %#llx, %#llx, %#llx)\n",
                   (unsigned long long)i, svc ? svc->name : "(no such service)", (unsigned long long)a[0],
                   (unsigned long long)a[1], (unsigned long long)a[2], (unsigned long long)a[3],
                   (unsigned long long)a[4], (unsigned long long)a[5], (unsigned long long)a[6],
                   (unsigned long long)a[7], (unsigned long long)a[8], (unsigned long long)a[9],
                   (unsigned long long)a[10]);
        NTSTATUS st = (NTSTATUS)(uint32_t)NtSystemCallN(number, a);
        if (i >= trace_from)
            printf("[fuzz]   -> %#x\n", (unsigned)st);
        if (NT_SUCCESS(st))
            ok++;
        if (surely_bad && NT_SUCCESS(st)) {
            printf("[fuzz] FAIL call %llu: %s(%#llx, %#llx, %#llx, %#llx, %#llx, %#llx | %#llx, %#llx, %#llx, %#llx, "
                   "%#llx) returned %#x although an argument can never be valid (chosen at fuzz.c:%d; replay: make fuzz "
                   "SEED=%#llx N=%llu)\n",
                   (unsigned long long)i, svc ? svc->name : "(no such service)", (unsigned long long)a[0],
                   (unsigned long long)a[1], (unsigned long long)a[2], (unsigned long long)a[3],
                   (unsigned long long)a[4], (unsigned long long)a[5], (unsigned long long)a[6],
                   (unsigned long long)a[7], (unsigned long long)a[8], (unsigned long long)a[9],
                   (unsigned long long)a[10], (unsigned)st, surely_bad, (unsigned long long)seed,
                   (unsigned long long)i + 1);
            failed++;
        }
        if (!svc && st != STATUS_INVALID_SYSTEM_SERVICE) {
            printf("[fuzz] FAIL call %llu: system call number %#llx returned %#x, not STATUS_INVALID_SYSTEM_SERVICE\n",
                   (unsigned long long)i, (unsigned long long)number, (unsigned)st);
            failed++;
        }
        if (svc)
            account(svc, a, st);
        if (i && i % 100000 == 0)
            printf("[fuzz] %llu calls\n", (unsigned long long)i);
    }
    /* Every child ends by itself (they exit or sleep 20 ms); wait for each. */
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (!children[i])
            continue;
        int64_t t = -50000000LL;   /* 5 s */
        NTSTATUS w = NtWaitForSingleObject(children[i], 0, &t);
        if (w != STATUS_WAIT_0) {
            printf("[fuzz] FAIL a child did not end: wait returned %#x\n", (unsigned)w);
            failed++;
        }
        NtClose(children[i]);
    }
    printf("[fuzz] %s: %llu calls made, %llu succeeded, %llu allocations of 1 GiB or more\n",
           failed ? "FAILED" : "done", (unsigned long long)made, (unsigned long long)ok,
           (unsigned long long)huge_allocations);
    disk_report(&disk0);
    return failed ? 1 : 0;
}
