/*
 * user.badinput.*: the bad-input matrix. Every system service of
 * user/tests/svctable.h is called from a harmless valid set of arguments
 * with exactly one argument made bad, for every kind of bad pointer,
 * handle and length, and must answer with NT's exact status:
 *
 *   NULL (required), a kernel address, the kernel image, non-canonical,
 *   unmapped, reserved-but-uncommitted, PAGE_NOACCESS, read-only (.rodata
 *   and .text, for what the kernel writes), an address range that wraps
 *   around, one that straddles MmUserProbeAddress (0x7FFFFFFF0000)
 *      -> STATUS_ACCESS_VIOLATION
 *   a PAGE_GUARD page -> STATUS_GUARD_PAGE_VIOLATION, and the guard is gone
 *      afterwards (as on NT: a one-shot alarm, consumed by the kernel's probe)
 *   a pointer not aligned for its type -> STATUS_DATATYPE_MISALIGNMENT
 *   a length running past the end of user space -> the probe's
 *      STATUS_ACCESS_VIOLATION (or the service's own limit)
 *   a handle that is not one -> STATUS_INVALID_HANDLE
 *   a handle of the wrong type (an event for a file, a file for an event,
 *      either for a process, the process pseudo-handle for a file)
 *      -> STATUS_OBJECT_TYPE_MISMATCH
 *   inside an OBJECT_ATTRIBUTES: ObjectName and its Buffer get the same
 *      bad pointers; a bad Length, a RootDirectory (a relative name), a
 *      name too long, empty, with a NUL, not from the root, naming nothing
 *      or an object of another type -> NT's status for each
 *   a bad value (class, flag, size) -> the service's NT status
 *
 * After each bad call nothing may have changed: the other output buffers
 * hold what they held, no pool was allocated or freed, the process's
 * private pages and its whole address-space map (NtQueryVirtualMemory
 * from 0 to the top) are the same, no process was created, the highest
 * region a process can have was not written half-way. The table grows with
 * every new service (svctable.h); the statuses per kind are here.
 */
#include <nt.h>
#include <stdio.h>
#include <string.h>
#include <utest.h>
#include "user/tests/svctable.h"
#include "drivers/iotest/iotest_ioctl.h"

#define P PAGE_SIZE
#define SELF NtCurrentProcess()
#define KERNEL_VA 0xFFFFF80000000000ULL
#define KERNEL_IMAGE 0xFFFFFFFF80100000ULL
/* The last 64 KiB a region can hold: NT keeps the 64 KiB above it (up to
 * MM_HIGHEST_USER_ADDRESS) out of every VAD, so nothing is ever mapped
 * between it and MmUserProbeAddress. */
#define TOP_REGION (MM_HIGHEST_VAD_ADDRESS + 1 - 0x10000)

/* ---- the address space the bad pointers come from ---- */

static const uint8_t ro_page[P] __attribute__((aligned(4096))) = { 1, 2, 3 };
static uint64_t live;        /* 16 committed read/write pages (the valid target of the VM services) */
static uint64_t reserved;    /* reserved, not committed */
static uint64_t noaccess;    /* committed PAGE_NOACCESS */
static uint64_t guard;       /* committed PAGE_READWRITE | PAGE_GUARD */
static uint64_t unmapped;    /* free address space */
static uint64_t top;         /* committed, ends at MM_HIGHEST_VAD_ADDRESS + 1 */
static HANDLE exited;        /* a child that has ended (signaled) */
static HANDLE closed;        /* a handle value that was closed */
static HANDLE ev;            /* an unnamed notification event */
static HANDLE named_ev;      /* the event EVENT_NAME */
static HANDLE fnull;         /* \Device\Null, synchronous, read and write */
static HANDLE fbuf;          /* BUFFERED_DEVICE, synchronous, read and write */
static HANDLE fasync;        /* BUFFERED_DEVICE, asynchronous: what a completion port takes */
static HANDLE port;          /* an empty I/O completion port */
static HANDLE ring;          /* an I/O ring with nothing in it */

#define EVENT_NAME "\\BaseNamedObjects\\badinput"
#define NEW_EVENT_NAME "\\BaseNamedObjects\\badinput_new"
/* The file services' templates use a DO_BUFFERED_IO device: the I/O
 * manager itself probes and copies every byte of the buffer, so each bad
 * pointer is the kernel's status, not a driver's choice. */
#define BUFFERED_DEVICE "\\Device\\IoTestBuffered"
#define BUFFERED_IOCTL IOCTL_IOTEST_ECHO   /* output[i] = input[i] + 1 */

static uint64_t alloc_at(uint64_t base, size_t size, uint32_t type, uint32_t protect)
{
    void *b = (void *)base;
    NTSTATUS st = NtAllocateVirtualMemory(SELF, &b, 0, &size, type, protect);
    UT_ASSERT_MSG(NT_SUCCESS(st), "set-up: NtAllocateVirtualMemory(%#llx, type %#x, protect %#x): %s",
                  (unsigned long long)base, type, protect, UtStatusText(st));
    return (uint64_t)b;
}

static void arm_guard(void)
{
    void *b = (void *)guard;
    size_t size = P;
    uint32_t old;
    UT_SUCCESS(NtProtectVirtualMemory(SELF, &b, &size, PAGE_READWRITE | PAGE_GUARD, &old));
}

static uint32_t protection_of(uint64_t va)
{
    MEMORY_BASIC_INFORMATION_T m;
    UT_SUCCESS(NtQueryVirtualMemory(SELF, (void *)va, MemoryBasicInformation, &m, sizeof(m), NULL));
    return m.Protect;
}

/* Grow the stack once, so that later calls never commit a new stack page
 * (which would show as an address-space change). */
__attribute__((noinline)) static void grow_stack(void)
{
    volatile uint8_t big[48 * 1024];
    for (size_t i = 0; i < sizeof(big); i += 512)
        big[i] = (uint8_t)i;
}

static void setup(void)
{
    grow_stack();
    live = alloc_at(0, 16 * P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    memset((void *)live, 0x5A, 16 * P);
    reserved = alloc_at(0, 16 * P, MEM_RESERVE, PAGE_READWRITE) + 4 * P;
    noaccess = alloc_at(0, P, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS);
    guard = alloc_at(0, P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    arm_guard();
    top = alloc_at(TOP_REGION, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    UT_EQ(top, TOP_REGION);
    memset((void *)top, 0xC3, 0x10000);
    unmapped = 0x100000000ULL;   /* 4 GiB: nothing is reserved there */
    MEMORY_BASIC_INFORMATION_T m;
    UT_SUCCESS(NtQueryVirtualMemory(SELF, (void *)unmapped, MemoryBasicInformation, &m, sizeof(m), NULL));
    UT_EQ(m.State, MEM_FREE);
    UT_SUCCESS(NtCreateProcess("child", "child exit 0", &exited));
    UT_SUCCESS(NtWaitForSingleObject(exited, 0, NULL));
    /* The handles the templates use, before CLOSED: a handle value is
     * reused, so nothing may be opened after it is closed. */
    UT_SUCCESS(NtCreateEvent(&ev, EVENT_ALL_ACCESS, NULL, 0, 0));
    STRING_T n;
    OBJECT_ATTRIBUTES_T oa;
    RtlInitString(&n, EVENT_NAME);
    InitializeObjectAttributes(&oa, &n, 0);
    UT_SUCCESS(NtCreateEvent(&named_ev, EVENT_ALL_ACCESS, &oa, 0, 0));
    UT_SUCCESS(OpenDevice("\\Device\\Null", FILE_READ_DATA | FILE_WRITE_DATA, FILE_SYNCHRONOUS_IO_NONALERT, &fnull));
    UT_SUCCESS(OpenDevice(BUFFERED_DEVICE, FILE_READ_DATA | FILE_WRITE_DATA, FILE_SYNCHRONOUS_IO_NONALERT, &fbuf));
    UT_SUCCESS(OpenDevice(BUFFERED_DEVICE, FILE_READ_DATA | FILE_WRITE_DATA, 0, &fasync));
    UT_SUCCESS(NtCreateIoCompletion(&port, IO_COMPLETION_ALL_ACCESS, NULL, 0));
    IORING_CREATE_T rp = { 4, 0 };
    IORING_INFO_T ri;
    UT_SUCCESS(NtCreateIoRing(&ring, sizeof(rp), &rp, sizeof(ri), &ri));
    UT_SUCCESS(NtCreateProcess("child", "child exit 0", &closed));
    UT_SUCCESS(NtWaitForSingleObject(closed, 0, NULL));
    UT_SUCCESS(NtClose(closed));
}

/* ---- a valid call of each service: the template one argument is spoiled in ---- */

static struct {
    uint64_t base, size;
    uint32_t old, key;
    int64_t time, offset;
    HANDLE handle;
    uint64_t ret, old64;
    IO_STATUS_BLOCK_T iosb;
    FILE_COMPLETION_INFORMATION_T assoc;
    IORING_CREATE_T ring_params __attribute__((aligned(8)));   /* INDIRECT(2) writes 8 bytes over it */
    IORING_INFO_T ring_info;
    OBJECT_ATTRIBUTES_T oa;
    STRING_T name;
    char text[320];
    uint8_t buf[1024] __attribute__((aligned(64)));
} V;

/* V.oa names TEXT (V.name and V.text hold it). */
static uint64_t attributes(const char *text)
{
    strlcpy(V.text, text, sizeof(V.text));
    RtlInitString(&V.name, V.text);
    InitializeObjectAttributes(&V.oa, &V.name, 0);
    return (uint64_t)&V.oa;
}

static const char text[] = "badinput\n";

static void template(uint32_t n, uint64_t a[MAX_ARGS + 1])
{
    memset(a, 0, (MAX_ARGS + 1) * sizeof(a[0]));
    memset(&V, 0xEE, sizeof(V));
    V.time = 0;
    switch (n) {
    case SYS_NtTerminateProcess: a[0] = exited; a[1] = 0x1234; break;   /* never made valid */
    case SYS_NtDisplayString: a[0] = (uint64_t)text; a[1] = sizeof(text) - 1; break;
    case SYS_NtAllocateVirtualMemory:
        V.base = 0; V.size = P;
        a[0] = SELF; a[1] = (uint64_t)&V.base; a[3] = (uint64_t)&V.size; a[4] = MEM_RESERVE | MEM_COMMIT;
        a[5] = PAGE_READWRITE;
        break;
    case SYS_NtFreeVirtualMemory:
        V.base = live; V.size = P;
        a[0] = SELF; a[1] = (uint64_t)&V.base; a[2] = (uint64_t)&V.size; a[3] = MEM_DECOMMIT;
        break;
    case SYS_NtProtectVirtualMemory:
        V.base = live; V.size = P;
        a[0] = SELF; a[1] = (uint64_t)&V.base; a[2] = (uint64_t)&V.size; a[3] = PAGE_READONLY;
        a[4] = (uint64_t)&V.old;
        break;
    case SYS_NtQueryVirtualMemory:
        a[0] = SELF; a[1] = live; a[2] = MemoryBasicInformation; a[3] = (uint64_t)V.buf;
        a[4] = sizeof(MEMORY_BASIC_INFORMATION_T); a[5] = (uint64_t)&V.ret;
        break;
    case SYS_NtCreateProcess: a[0] = (uint64_t)"child"; a[1] = (uint64_t)"child exit 0"; a[2] = (uint64_t)&V.handle; break;
    case SYS_NtWaitForSingleObject: a[0] = exited; a[2] = (uint64_t)&V.time; break;
    case SYS_NtClose: a[0] = exited; break;   /* never made valid */
    case SYS_NtQueryInformationProcess:
        a[0] = SELF; a[1] = ProcessBasicInformation; a[2] = (uint64_t)V.buf; a[3] = sizeof(PROCESS_BASIC_INFORMATION_T);
        a[4] = (uint64_t)&V.ret;
        break;
    case SYS_NtDelayExecution: a[1] = (uint64_t)&V.time; break;
    case SYS_NtReadConsole: a[0] = (uint64_t)V.buf; a[1] = 64; a[2] = (uint64_t)&V.ret; break;
    case SYS_NtQuerySystemInformation:
        a[0] = SystemMemoryInformation; a[1] = (uint64_t)V.buf; a[2] = sizeof(SYSTEM_MEMORY_T); a[3] = (uint64_t)&V.ret;
        break;
    case SYS_NtYieldExecution: break;
    case SYS_NtGetCommandLine: a[0] = (uint64_t)V.buf; a[1] = 512; a[2] = (uint64_t)&V.ret; break;
    case SYS_NtSetInformationProcess: a[0] = SELF; a[1] = ProcessTrimWorkingSet; break;
    case SYS_NtCreateEvent:
        a[0] = (uint64_t)&V.handle; a[1] = EVENT_ALL_ACCESS; a[2] = attributes(NEW_EVENT_NAME);
        break;
    case SYS_NtOpenEvent: a[0] = (uint64_t)&V.handle; a[1] = EVENT_ALL_ACCESS; a[2] = attributes(EVENT_NAME); break;
    case SYS_NtSetEvent:
    case SYS_NtResetEvent: a[0] = ev; a[1] = (uint64_t)&V.old; break;
    case SYS_NtCreateFile:
        a[0] = (uint64_t)&V.handle; a[1] = GENERIC_READ; a[2] = attributes("\\Device\\Null");
        a[3] = (uint64_t)&V.iosb; a[4] = (uint64_t)&V.time; a[6] = FILE_SHARE_READ | FILE_SHARE_WRITE;
        a[7] = FILE_OPEN; a[8] = FILE_SYNCHRONOUS_IO_NONALERT;
        break;
    case SYS_NtOpenFile:
        a[0] = (uint64_t)&V.handle; a[1] = GENERIC_READ; a[2] = attributes("\\Device\\Null");
        a[3] = (uint64_t)&V.iosb; a[4] = FILE_SHARE_READ | FILE_SHARE_WRITE; a[5] = FILE_SYNCHRONOUS_IO_NONALERT;
        break;
    case SYS_NtReadFile:
    case SYS_NtWriteFile:
        V.offset = 0; V.key = 0;
        a[0] = fbuf; a[1] = ev; a[4] = (uint64_t)&V.iosb; a[5] = (uint64_t)V.buf; a[6] = 64;
        a[7] = (uint64_t)&V.offset; a[8] = (uint64_t)&V.key;
        break;
    case SYS_NtDeviceIoControlFile:
        a[0] = fbuf; a[1] = ev; a[4] = (uint64_t)&V.iosb; a[5] = BUFFERED_IOCTL;
        a[6] = (uint64_t)V.buf; a[7] = 16; a[8] = (uint64_t)V.buf + 512; a[9] = 16;
        break;
    case SYS_NtFlushBuffersFile: a[0] = fnull; a[1] = (uint64_t)&V.iosb; break;   /* Null flushes; IoTest does not */
    case SYS_NtCancelIoFile: a[0] = fbuf; a[1] = (uint64_t)&V.iosb; break;
    case SYS_NtCreateIoCompletion:
        a[0] = (uint64_t)&V.handle; a[1] = IO_COMPLETION_ALL_ACCESS; a[2] = attributes(NEW_EVENT_NAME);
        break;
    case SYS_NtSetInformationFile:
        V.assoc.Port = port; V.assoc.Key = (void *)0x4B;
        a[0] = fasync; a[1] = (uint64_t)&V.iosb; a[2] = (uint64_t)&V.assoc; a[3] = sizeof(V.assoc);
        a[4] = FileCompletionInformation;
        break;
    case SYS_NtRemoveIoCompletion:   /* the port is empty and the timeout 0: STATUS_TIMEOUT */
        V.time = 0;
        a[0] = port; a[1] = (uint64_t)&V.ret; a[2] = (uint64_t)&V.old64; a[3] = (uint64_t)&V.iosb;
        a[4] = (uint64_t)&V.time;
        break;
    case SYS_NtRemoveIoCompletionEx:
        V.time = 0;
        a[0] = port; a[1] = (uint64_t)V.buf; a[2] = 1; a[3] = (uint64_t)&V.old; a[4] = (uint64_t)&V.time;
        break;
    case SYS_NtSetIoCompletion: a[0] = port; a[1] = 1; a[2] = 2; a[3] = STATUS_SUCCESS; a[4] = 3; break;
    case SYS_NtCreateIoRing:
        V.ring_params.SubmissionQueueSize = 2; V.ring_params.CompletionQueueSize = 0;
        a[0] = (uint64_t)&V.handle; a[1] = sizeof(V.ring_params); a[2] = (uint64_t)&V.ring_params;
        a[3] = sizeof(V.ring_info); a[4] = (uint64_t)&V.ring_info;
        break;
    case SYS_NtSubmitIoRing:   /* nothing in the SQ, nothing to wait for */
        V.time = 0;
        a[0] = ring; a[1] = 0; a[2] = 1; a[3] = (uint64_t)&V.time;
        break;
    case SYS_NtSetSystemInformation:   /* clear the profiler's counts: harmless, running or not */
        V.key = PROFILE_CLEAR;
        a[0] = SystemProfileControl; a[1] = (uint64_t)&V.key; a[2] = sizeof(V.key);
        break;
    default: UT_FAIL("service %u has no valid template in utest_badinput.c", n);
    }
}

/* ---- "nothing changed" ---- */

#define MAX_REGIONS 64
typedef struct {
    uint64_t pool_np, pool_paged, private_pages, locked_pages;
    uint32_t processes, regions;
    MEMORY_BASIC_INFORMATION_T map[MAX_REGIONS];
    uint8_t out[MAX_ARGS][64];   /* the first bytes of each valid output argument */
    uint64_t top_sum;
} STATE;

static uint64_t sum(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = s * 31 + b[i];
    return s;
}

static uint32_t count_processes(void)
{
    static SYSTEM_PROCESS_T list[64];
    size_t need = 0;
    UT_SUCCESS(NtQuerySystemInformation(SystemProcessList, list, sizeof(list), &need));
    return (uint32_t)(need / sizeof(SYSTEM_PROCESS_T));
}

static void memory_counters(STATE *s)
{
    SYSTEM_MEMORY_T m;
    PROCESS_FAULT_COUNTERS_T f;
    UT_SUCCESS(NtQuerySystemInformation(SystemMemoryInformation, &m, sizeof(m), NULL));
    UT_SUCCESS(NtQueryInformationProcess(SELF, ProcessFaultCounters, &f, sizeof(f), NULL));
    s->pool_np = m.NonPagedPoolBytes;
    s->pool_paged = m.PagedPoolBytes;
    s->private_pages = f.PrivatePages;
    s->locked_pages = f.LockedPages;
}

static void address_map(STATE *s)
{
    uint64_t a = 0;
    s->regions = 0;
    while (a < MM_USER_PROBE_ADDRESS && s->regions < MAX_REGIONS) {
        MEMORY_BASIC_INFORMATION_T *m = &s->map[s->regions++];
        UT_SUCCESS(NtQueryVirtualMemory(SELF, (void *)a, MemoryBasicInformation, m, sizeof(*m), NULL));
        a = m->BaseAddress + m->RegionSize;
    }
}

static void snapshot(STATE *s, const SERVICE *svc, const uint64_t a[], int bad)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < MAX_ARGS; i++)
        if (i != bad && arg_is_written(&svc->arg[i]) && a[i])
            memcpy(s->out[i], (const void *)a[i], svc->arg[i].len_arg >= 0 ? 64 : svc->arg[i].size);
    s->top_sum = sum((const void *)top, 0x10000);
    s->processes = count_processes();
    address_map(s);
    memory_counters(s);   /* last before the call, first after it: nothing else runs in between */
}

/* EXEMPT: a mask of output arguments the failed call may have written (a
 * request that reached its driver and failed there has its status block
 * written, as every completed request does). */
static void check_unchanged(const STATE *before, const SERVICE *svc, const uint64_t a[], int bad, const char *what,
                            uint32_t exempt)
{
    STATE now;
    memset(&now, 0, sizeof(now));
    memory_counters(&now);
    UT_ASSERT_MSG(now.pool_np == before->pool_np && now.pool_paged == before->pool_paged,
                  "%s (%s): pool changed: nonpaged %llu -> %llu, paged %llu -> %llu bytes", svc->name, what,
                  (unsigned long long)before->pool_np, (unsigned long long)now.pool_np,
                  (unsigned long long)before->pool_paged, (unsigned long long)now.pool_paged);
    UT_ASSERT_MSG(now.private_pages == before->private_pages, "%s (%s): private pages %llu -> %llu", svc->name, what,
                  (unsigned long long)before->private_pages, (unsigned long long)now.private_pages);
    UT_ASSERT_MSG(now.locked_pages == 0, "%s (%s): %llu pages left locked", svc->name, what,
                  (unsigned long long)now.locked_pages);
    for (int i = 0; i < MAX_ARGS; i++)
        if (i != bad && !(exempt & (1u << i)) && arg_is_written(&svc->arg[i]) && a[i])
            UT_ASSERT_MSG(memcmp(before->out[i], (const void *)a[i],
                                 svc->arg[i].len_arg >= 0 ? 64 : svc->arg[i].size) == 0,
                          "%s (%s): the valid output argument %s was written by a call that failed", svc->name,
                          what, svc->arg[i].name);
    UT_ASSERT_MSG(sum((const void *)top, 0x10000) == before->top_sum,
                  "%s (%s): the highest region (below MM_HIGHEST_VAD_ADDRESS) was written by a call that failed", svc->name, what);
    address_map(&now);
    UT_ASSERT_MSG(now.regions == before->regions, "%s (%s): the address space has %u regions, had %u", svc->name,
                  what, now.regions, before->regions);
    for (uint32_t r = 0; r < now.regions; r++) {
        const MEMORY_BASIC_INFORMATION_T *x = &before->map[r], *y = &now.map[r];
        UT_ASSERT_MSG(x->BaseAddress == y->BaseAddress && x->RegionSize == y->RegionSize && x->State == y->State &&
                          x->Protect == y->Protect && x->Type == y->Type,
                      "%s (%s): region %#llx (+%#llx, state %#x, protect %#x) is now %#llx (+%#llx, state %#x, "
                      "protect %#x)", svc->name, what, (unsigned long long)x->BaseAddress,
                      (unsigned long long)x->RegionSize, x->State, x->Protect, (unsigned long long)y->BaseAddress,
                      (unsigned long long)y->RegionSize, y->State, y->Protect);
    }
    UT_ASSERT_MSG(count_processes() == before->processes, "%s (%s): a process was created or ended", svc->name, what);
}

/* ---- the bad pointers ---- */

typedef enum {
    K_NULL, K_KERNEL, K_KERNEL_IMAGE, K_NONCANONICAL, K_NONCANONICAL_HIGH, K_UNMAPPED, K_RESERVED, K_NOACCESS,
    K_READONLY, K_CODE, K_GUARD, K_WRAP, K_STRADDLE, K_MISALIGNED, K_HUGE_LENGTH, K_COUNT
} BADKIND;

static const char *const kind_name[K_COUNT] = {
    "NULL", "a kernel address", "the kernel image", "a non-canonical address", "a non-canonical high address",
    "an unmapped user address", "a reserved, uncommitted page", "a PAGE_NOACCESS page", "a read-only .rodata page",
    "the program's code", "a PAGE_GUARD page", "a range that wraps around", "a range straddling MmUserProbeAddress",
    "a misaligned pointer", "a length past the end of user space",
};

/* Spoil the pointer *P described by D with bad kind K; LEN is the length
 * argument of its buffer (NULL: a fixed size), LEN32 when that is a ULONG,
 * PAST the status of a length past user space. Returns 0 when K does not
 * apply, else 1 and the status NT answers in *WANT. */
static int spoil_pointer(const ARGDESC *d, uint64_t *p, uint64_t *len, int len32, NTSTATUS past, BADKIND k,
                         NTSTATUS *want)
{
    int has_len = len != NULL;
    uint64_t size = has_len ? *len : d->size;
    *want = STATUS_ACCESS_VIOLATION;
    switch (k) {
    case K_NULL:
        if (d->optional)
            return 0;
        *p = 0;
        return 1;
    case K_KERNEL: *p = KERNEL_VA; return 1;
    case K_KERNEL_IMAGE: *p = KERNEL_IMAGE; return 1;
    case K_NONCANONICAL: *p = 0x0000800000000000ULL; return 1;
    case K_NONCANONICAL_HIGH: *p = 0x8000000000000000ULL; return 1;
    case K_UNMAPPED: *p = unmapped; return 1;
    case K_RESERVED: *p = reserved; return 1;
    case K_NOACCESS: *p = noaccess; return 1;
    case K_READONLY:
        if (!arg_is_written(d))
            return 0;
        *p = (uint64_t)ro_page;
        return 1;
    case K_CODE:
        if (!arg_is_written(d))
            return 0;
        *p = (uint64_t)&utest_main & ~(uint64_t)(d->align - 1);
        return 1;
    case K_GUARD:
        *p = guard;
        *want = STATUS_GUARD_PAGE_VIOLATION;
        return 1;
    case K_WRAP:
        if (has_len && len32) {   /* a ULONG cannot reach 2^64 from a user address: start near the top */
            *p = 0 - 0x800ULL;
            if (*len < 0x1000)
                *len = 0x1000;
        } else if (has_len) {     /* a valid start, a length that wraps past 2^64 */
            *len = ~0ULL - *p + 0x1001;
            *want = past;
        } else {                  /* the last SIZE bytes of the address space */
            *p = (0 - size) & ~(uint64_t)(d->align - 1);
        }
        return 1;
    case K_STRADDLE:
        if (has_len) {
            *p = MM_USER_PROBE_ADDRESS - 8;
            if (*len < 16)
                *len = 16;
        } else if (size > d->align) {
            *p = MM_USER_PROBE_ADDRESS - ((size / 2 + d->align - 1) & ~(uint64_t)(d->align - 1));
        } else {
            *p = MM_USER_PROBE_ADDRESS;   /* an aligned scalar cannot straddle: the first byte past */
        }
        return 1;
    case K_MISALIGNED:
        if (d->align <= 1 || !*p)
            return 0;
        *p += d->align / 2;
        *want = STATUS_DATATYPE_MISALIGNMENT;
        return 1;
    case K_HUGE_LENGTH:
        if (!has_len)
            return 0;
        /* start + length > MmUserProbeAddress, no wrap; a ULONG length
         * stays in user space from a low buffer: the service's own limit */
        *len = len32 ? 0xFFFFFFFFULL : MM_USER_PROBE_ADDRESS;
        *want = past;
        return 1;
    default: return 0;
    }
}

/* Spoil argument I of A with bad kind K. */
static int spoil(const SERVICE *svc, int i, BADKIND k, uint64_t a[], NTSTATUS *want)
{
    const ARGDESC *d = &svc->arg[i];
    uint64_t *len = d->len_arg >= 0 ? &a[d->len_arg] : NULL;
    int len32 = len && svc->arg[d->len_arg].size == 4;
    NTSTATUS past = svc->length_past_user_space ? svc->length_past_user_space : STATUS_ACCESS_VIOLATION;
    if (len32 && k == K_WRAP)
        past = STATUS_ACCESS_VIOLATION;
    return spoil_pointer(d, &a[i], len, len32, past, k, want);
}

/* Every service through NtSystemCallN: arguments 7.. go on the stack. */
static NTSTATUS call(const SERVICE *svc, const uint64_t a[MAX_ARGS + 1])
{
    return (NTSTATUS)(uint32_t)NtSystemCallN(svc->number, a);
}

/* One bad call: the exact status, the guard consumed, nothing else changed. */
/* One bad call: the exact status, the guard consumed, nothing else changed.
 * BAD is the spoiled argument (-1 for a bad value), ARGNAME what to call
 * it, VALUE what it was set to. */
static void try_bad_ex(const SERVICE *svc, uint64_t a[], int bad, const char *argname, uint64_t value, NTSTATUS want,
                       const char *what, int guarded, uint32_t exempt)
{
    STATE before;
    snapshot(&before, svc, a, bad);
    NTSTATUS st = call(svc, a);
    if (st != want) {
        char w[48];
        snprintf(w, sizeof(w), "%s", UtStatusText(want));
        if (!argname)
            UT_FAIL("%s with %s: returned %s, expected %s", svc->name, what, UtStatusText(st), w);
        UT_FAIL("%s with %s = %s (%#llx): returned %s, expected %s", svc->name, argname, what,
                (unsigned long long)value, UtStatusText(st), w);
    }
    if (guarded) {
        /* NT: the guard fired once and is gone; the map is compared with it re-armed. */
        uint32_t prot = protection_of(guard);
        UT_ASSERT_MSG(prot == PAGE_READWRITE, "%s with %s = a guard page: the page's protection is %#x afterwards, "
                      "expected the guard cleared (PAGE_READWRITE)", svc->name, argname, prot);
        arm_guard();
    }
    check_unchanged(&before, svc, a, bad, what, exempt);
}

static void try_bad(const SERVICE *svc, uint64_t a[], int bad, NTSTATUS want, const char *what, int guarded)
{
    try_bad_ex(svc, a, bad, bad >= 0 ? svc->arg[bad].name : NULL, bad >= 0 ? a[bad] : 0, want, what, guarded, 0);
}

/* The pointers inside an OBJECT_ATTRIBUTES (the template's, in V): its
 * ObjectName (a STRING_T, 8-aligned) and the name's Buffer (characters).
 * A NULL ObjectName is a value (an unnamed object, or no name), in
 * oa_matrix; a NULL Buffer with a length is a bad pointer. */
static void nested_matrix(const SERVICE *svc, int i)
{
    static const ARGDESC name_desc = { A_IN, 8, 1, -1, sizeof(STRING_T), "ObjectName" };
    for (int field = 0; field < 2; field++) {
        for (int k = 0; k < K_COUNT; k++) {
            uint64_t a[MAX_ARGS + 1];
            NTSTATUS want;
            template(svc->number, a);
            ARGDESC buf_desc = { A_IN, 1, 0, -1, V.name.Length, "ObjectName->Buffer" };
            const ARGDESC *d = field ? &buf_desc : &name_desc;
            uint64_t p = field ? (uint64_t)V.name.Buffer : (uint64_t)V.oa.ObjectName;
            if (!spoil_pointer(d, &p, NULL, 0, STATUS_ACCESS_VIOLATION, (BADKIND)k, &want))
                continue;
            if (field)
                V.name.Buffer = (char *)p;
            else
                V.oa.ObjectName = (STRING_T *)p;
            char argname[64];
            snprintf(argname, sizeof(argname), "%s->%s", svc->arg[i].name, d->name);
            try_bad_ex(svc, a, -1, argname, p, want, kind_name[k], k == K_GUARD, 0);
        }
    }
}

static void pointer_matrix(const SERVICE *svc)
{
    for (int i = 0; i < MAX_ARGS; i++) {
        if (!arg_is_pointer(&svc->arg[i]))
            continue;
        for (int k = 0; k < K_COUNT; k++) {
            uint64_t a[MAX_ARGS + 1];
            NTSTATUS want;
            template(svc->number, a);
            if (!spoil(svc, i, (BADKIND)k, a, &want))
                continue;
            try_bad(svc, a, i, want, kind_name[k], k == K_GUARD);
        }
        if (svc->arg[i].kind == A_OBJATTR)
            nested_matrix(svc, i);
    }
}

static void handle_matrix(const SERVICE *svc)
{
    const struct { uint64_t h; const char *what; } bad[] = {
        { 0, "0" }, { closed, "a closed handle" }, { 0x1234, "a handle never opened" },
        { 0x5, "a misaligned handle value" }, { 0x7FFFFFFFFFFFFFFCULL, "a huge handle value" },
        { 0xFFFFFFFF00000004ULL, "a handle with high bits set" }, { KERNEL_VA, "a kernel address as a handle" },
    };
    for (int i = 0; i < MAX_ARGS; i++) {
        const ARGDESC *d = &svc->arg[i];
        if (!arg_is_handle(d))
            continue;
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
            if (!bad[b].h && d->optional)
                continue;   /* no event: allowed */
            uint64_t a[MAX_ARGS + 1];
            template(svc->number, a);
            a[i] = bad[b].h;
            try_bad(svc, a, i, STATUS_INVALID_HANDLE, bad[b].what, 0);
        }
        /* Handles of another type: the object manager's type check. */
        const struct { uint64_t h; const char *what; ARGKIND not_for; } other[] = {
            { ev, "an event handle", A_EVENT }, { fnull, "a file handle", A_FILE },
            { port, "a completion port handle", A_PORT }, { ring, "an I/O ring handle", A_RING },
            { exited, "a process handle", A_HANDLE }, { SELF, "NtCurrentProcess()", A_HANDLE },
        };
        for (size_t b = 0; b < sizeof(other) / sizeof(other[0]) && d->kind != A_ANY_HANDLE; b++) {
            if (other[b].not_for == d->kind)
                continue;
            uint64_t a[MAX_ARGS + 1];
            template(svc->number, a);
            a[i] = other[b].h;
            try_bad(svc, a, i, STATUS_OBJECT_TYPE_MISMATCH, other[b].what, 0);
        }
    }
}

/* ---- bad values: per service, NT's status for each ---- */

typedef struct {
    uint32_t service;
    int8_t arg;          /* 0..10: the argument; INDIRECT(n): the 8-byte value argument n points to */
    uint64_t value;
    NTSTATUS want;
    const char *what;
} BADVALUE;

#define INDIRECT(n) (20 + (n))
static const BADVALUE bad_values[] = {
    { SYS_NtAllocateVirtualMemory, 2, 22, STATUS_INVALID_PARAMETER_3, "zero_bits 22" },
    { SYS_NtAllocateVirtualMemory, 4, 0, STATUS_INVALID_PARAMETER_5, "type 0" },
    { SYS_NtAllocateVirtualMemory, 4, MEM_DECOMMIT, STATUS_INVALID_PARAMETER_5, "type MEM_DECOMMIT" },
    { SYS_NtAllocateVirtualMemory, 4, MEM_COMMIT | 0x80000000u, STATUS_INVALID_PARAMETER_5, "an unknown type bit" },
    { SYS_NtAllocateVirtualMemory, 5, 0, STATUS_INVALID_PAGE_PROTECTION, "protect 0" },
    { SYS_NtAllocateVirtualMemory, 5, 3, STATUS_INVALID_PAGE_PROTECTION, "protect 3 (two protections)" },
    { SYS_NtAllocateVirtualMemory, 5, PAGE_NOACCESS | PAGE_GUARD, STATUS_INVALID_PAGE_PROTECTION, "PAGE_NOACCESS|PAGE_GUARD" },
    { SYS_NtAllocateVirtualMemory, INDIRECT(3), 0, STATUS_INVALID_PARAMETER_4, "*size 0" },
    { SYS_NtAllocateVirtualMemory, INDIRECT(3), 1ULL << 47, STATUS_INVALID_PARAMETER_4, "*size 2^47" },
    { SYS_NtAllocateVirtualMemory, INDIRECT(3), ~0ULL, STATUS_INVALID_PARAMETER_4, "*size 2^64-1" },
    { SYS_NtAllocateVirtualMemory, INDIRECT(1), 0x1000, STATUS_INVALID_PARAMETER_2, "*base below 64 KiB" },
    { SYS_NtAllocateVirtualMemory, INDIRECT(1), MM_USER_PROBE_ADDRESS, STATUS_INVALID_PARAMETER_2, "*base = MmUserProbeAddress" },
    { SYS_NtAllocateVirtualMemory, INDIRECT(1), MM_HIGHEST_VAD_ADDRESS + 1, STATUS_INVALID_PARAMETER_2, "*base in the top 64 KiB kept out of every VAD" },
    { SYS_NtAllocateVirtualMemory, INDIRECT(1), KERNEL_VA, STATUS_INVALID_PARAMETER_2, "*base in kernel space" },
    { SYS_NtFreeVirtualMemory, 3, 0, STATUS_INVALID_PARAMETER_4, "type 0" },
    { SYS_NtFreeVirtualMemory, 3, MEM_RELEASE | MEM_DECOMMIT, STATUS_INVALID_PARAMETER_4, "MEM_RELEASE|MEM_DECOMMIT" },
    { SYS_NtFreeVirtualMemory, INDIRECT(1), KERNEL_VA, STATUS_INVALID_PARAMETER_2, "*base in kernel space" },
    { SYS_NtFreeVirtualMemory, INDIRECT(2), ~0ULL - 0x1000, STATUS_INVALID_PARAMETER_3, "*size wrapping" },
    { SYS_NtFreeVirtualMemory, INDIRECT(1), 0x100000000ULL, STATUS_MEMORY_NOT_ALLOCATED, "*base free" },
    { SYS_NtFreeVirtualMemory, INDIRECT(1), 0x400000, STATUS_UNABLE_TO_FREE_VM, "*base in the image" },
    { SYS_NtProtectVirtualMemory, 3, 0, STATUS_INVALID_PAGE_PROTECTION, "protect 0" },
    { SYS_NtProtectVirtualMemory, 3, 0x11, STATUS_INVALID_PAGE_PROTECTION, "protect 0x11" },
    { SYS_NtProtectVirtualMemory, INDIRECT(1), KERNEL_VA, STATUS_INVALID_PARAMETER_2, "*base in kernel space" },
    { SYS_NtProtectVirtualMemory, INDIRECT(2), ~0ULL - 0x1000, STATUS_INVALID_PARAMETER_3, "*size wrapping" },
    { SYS_NtProtectVirtualMemory, INDIRECT(1), 0x100000000ULL, STATUS_MEMORY_NOT_ALLOCATED, "*base free" },
    { SYS_NtProtectVirtualMemory, INDIRECT(1), 0x400000, STATUS_CONFLICTING_ADDRESSES, "*base in the image" },
    { SYS_NtQueryVirtualMemory, 2, 99, STATUS_INVALID_INFO_CLASS, "class 99" },
    { SYS_NtQueryVirtualMemory, 4, 47, STATUS_INFO_LENGTH_MISMATCH, "length 47" },
    { SYS_NtQueryVirtualMemory, 4, 0, STATUS_INFO_LENGTH_MISMATCH, "length 0" },
    { SYS_NtQueryVirtualMemory, 1, KERNEL_VA, STATUS_INVALID_PARAMETER, "address in kernel space" },
    { SYS_NtQueryVirtualMemory, 1, MM_USER_PROBE_ADDRESS, STATUS_INVALID_PARAMETER, "address MmUserProbeAddress" },
    { SYS_NtCreateProcess, 0, (uint64_t)"no_such_program", STATUS_OBJECT_NAME_NOT_FOUND, "an image that does not exist" },
    { SYS_NtQueryInformationProcess, 1, 99, STATUS_INVALID_INFO_CLASS, "class 99" },
    { SYS_NtQueryInformationProcess, 3, 8, STATUS_INFO_LENGTH_MISMATCH, "length 8" },
    { SYS_NtReadConsole, 1, 0, STATUS_INVALID_PARAMETER, "length 0" },
    { SYS_NtQuerySystemInformation, 0, 99, STATUS_INVALID_INFO_CLASS, "class 99" },
    { SYS_NtSetInformationProcess, 1, 99, STATUS_INVALID_INFO_CLASS, "class 99" },
    { SYS_NtCreateEvent, 3, 2, STATUS_INVALID_PARAMETER, "type 2" },
    { SYS_NtCreateFile, 1, 0x04000000, STATUS_ACCESS_DENIED, "an access bit no file has" },
    { SYS_NtCreateFile, 1, FILE_READ_DATA, STATUS_INVALID_PARAMETER, "synchronous without SYNCHRONIZE" },
    { SYS_NtCreateFile, 6, 0x8, STATUS_INVALID_PARAMETER, "share_access 8" },
    { SYS_NtCreateFile, 7, FILE_OVERWRITE_IF + 1, STATUS_INVALID_PARAMETER, "disposition 6" },
    { SYS_NtCreateFile, 8, 0x01000000, STATUS_INVALID_PARAMETER, "an option bit past FILE_VALID_OPTION_FLAGS" },
    { SYS_NtCreateFile, 8, FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT, STATUS_INVALID_PARAMETER,
      "both synchronous modes" },
    { SYS_NtCreateFile, 9, 0x1000, STATUS_INVALID_PARAMETER, "an EA buffer" },
    { SYS_NtCreateFile, 10, 16, STATUS_INVALID_PARAMETER, "an EA length" },
    { SYS_NtOpenFile, 5, 0x01000000, STATUS_INVALID_PARAMETER, "an option bit past FILE_VALID_OPTION_FLAGS" },
    { SYS_NtOpenFile, 5, FILE_DIRECTORY_FILE | FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT,
      STATUS_INVALID_PARAMETER, "both directory and non-directory" },
    { SYS_NtOpenFile, 4, 0x10, STATUS_INVALID_PARAMETER, "share_access 0x10" },
    { SYS_NtReadFile, 2, 0x401000, STATUS_NOT_SUPPORTED, "an APC routine" },
    { SYS_NtReadFile, INDIRECT(7), (uint64_t)-5, STATUS_INVALID_PARAMETER, "*byte_offset -5" },
    { SYS_NtWriteFile, 2, 0x401000, STATUS_NOT_SUPPORTED, "an APC routine" },
    { SYS_NtWriteFile, INDIRECT(7), (uint64_t)-5, STATUS_INVALID_PARAMETER, "*byte_offset -5" },
    { SYS_NtDeviceIoControlFile, 2, 0x401000, STATUS_NOT_SUPPORTED, "an APC routine" },
    { SYS_NtSetInformationFile, 4, 1, STATUS_INVALID_INFO_CLASS, "class 1 (FileDirectoryInformation)" },
    { SYS_NtSetInformationFile, 3, 8, STATUS_INFO_LENGTH_MISMATCH, "length 8" },
    { SYS_NtSetInformationFile, 3, 0, STATUS_INFO_LENGTH_MISMATCH, "length 0" },
    { SYS_NtRemoveIoCompletionEx, 2, 0, STATUS_INVALID_PARAMETER, "count 0" },
    { SYS_NtCreateIoRing, 1, 4, STATUS_INFO_LENGTH_MISMATCH, "params_length 4" },
    { SYS_NtCreateIoRing, 3, 8, STATUS_INFO_LENGTH_MISMATCH, "info_length 8" },
    { SYS_NtCreateIoRing, INDIRECT(2), 0, STATUS_INVALID_PARAMETER, "an SQ of 0" },
    { SYS_NtCreateIoRing, INDIRECT(2), 8192, STATUS_INVALID_PARAMETER, "an SQ of 8192" },
    { SYS_NtCreateIoRing, INDIRECT(2), 1 | (3ULL << 32), STATUS_INVALID_PARAMETER, "a CQ of 3 for an SQ of 1" },
    { SYS_NtCreateIoRing, INDIRECT(2), 4 | (2ULL << 32), STATUS_INVALID_PARAMETER, "a CQ smaller than the SQ" },
    { SYS_NtSubmitIoRing, 1, 1, STATUS_INVALID_PARAMETER, "flags 1" },
    { SYS_NtSetSystemInformation, 0, SystemProfileInformation, STATUS_INVALID_INFO_CLASS, "a query's class" },
    { SYS_NtSetSystemInformation, 0, 99, STATUS_INVALID_INFO_CLASS, "class 99" },
    { SYS_NtSetSystemInformation, 2, 3, STATUS_INFO_LENGTH_MISMATCH, "length 3" },
    { SYS_NtSetSystemInformation, 2, 0, STATUS_INFO_LENGTH_MISMATCH, "length 0" },
    { SYS_NtSetSystemInformation, INDIRECT(1), 99, STATUS_INVALID_PARAMETER, "command 99" },
    { SYS_NtSetSystemInformation, INDIRECT(1), 0, STATUS_INVALID_PARAMETER, "command 0" },
};

static void value_matrix(const SERVICE *svc)
{
    for (size_t b = 0; b < sizeof(bad_values) / sizeof(bad_values[0]); b++) {
        const BADVALUE *v = &bad_values[b];
        if (v->service != svc->number)
            continue;
        uint64_t a[MAX_ARGS + 1];
        template(svc->number, a);
        if (v->arg >= 20)
            *(uint64_t *)a[v->arg - 20] = v->value;
        else
            a[v->arg] = v->value;
        try_bad(svc, a, -1, v->want, v->what, 0);
    }
}

/* ---- bad OBJECT_ATTRIBUTES: a value inside it, for each service that takes one ---- */

typedef struct {
    const char *what;
    int field;             /* what is changed */
    uint64_t value;
    const char *text;      /* OA_TEXT: the name */
    NTSTATUS file, open_event, create_event;   /* the status of each kind of service; 0: not tried */
} BADATTR;

enum { OA_LENGTH, OA_ROOT, OA_ATTRIBUTES, OA_SD, OA_NAME_NULL, OA_NAME_LENGTH, OA_NAME_MAX, OA_TEXT, OA_LONG };

static const BADATTR bad_attributes[] = {
    { "Length 0", OA_LENGTH, 0, NULL, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER },
    { "Length 47", OA_LENGTH, 47, NULL, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER },
    { "Length 0xFFFFFFFF", OA_LENGTH, 0xFFFFFFFF, NULL, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER,
      STATUS_INVALID_PARAMETER },
    { "a RootDirectory (a relative name)", OA_ROOT, 0, NULL, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER,
      STATUS_INVALID_PARAMETER },
    { "an unknown attribute bit", OA_ATTRIBUTES, 0x1, NULL, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER,
      STATUS_INVALID_PARAMETER },
    { "a security descriptor", OA_SD, 0, NULL, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER,
      STATUS_INVALID_PARAMETER },
    { "no ObjectName", OA_NAME_NULL, 0, NULL, STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_NAME_INVALID, 0 },
    { "an empty name", OA_NAME_LENGTH, 0, NULL, STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_NAME_INVALID,
      STATUS_OBJECT_NAME_INVALID },
    { "Length > MaximumLength", OA_NAME_MAX, 1, NULL, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER,
      STATUS_INVALID_PARAMETER },
    { "a name of 256 bytes", OA_LONG, 256, NULL, STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_NAME_INVALID,
      STATUS_OBJECT_NAME_INVALID },
    { "a NUL inside the name", OA_TEXT, 0, "\\Device\\Null\0x", STATUS_OBJECT_NAME_INVALID,
      STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_NAME_INVALID },
    { "a name not from the root", OA_TEXT, 0, "Device\\Null", STATUS_OBJECT_NAME_INVALID,
      STATUS_OBJECT_NAME_INVALID, 0 },
    { "a device that does not exist", OA_TEXT, 0, "\\Device\\NoSuchDevice", STATUS_OBJECT_NAME_NOT_FOUND, 0, 0 },
    { "an event that does not exist", OA_TEXT, 0, "\\BaseNamedObjects\\no_such_event", 0,
      STATUS_OBJECT_NAME_NOT_FOUND, 0 },
    { "a directory that does not exist", OA_TEXT, 0, "\\NoSuchDirectory\\x", STATUS_OBJECT_PATH_NOT_FOUND,
      STATUS_OBJECT_PATH_NOT_FOUND, 0 },
    { "an event's name", OA_TEXT, 0, EVENT_NAME, STATUS_OBJECT_TYPE_MISMATCH, 0, STATUS_OBJECT_NAME_COLLISION },
    { "a device's name", OA_TEXT, 0, "\\Device\\Null", 0, STATUS_OBJECT_TYPE_MISMATCH, 0 },
    { "a directory's name", OA_TEXT, 0, "\\Device", STATUS_OBJECT_TYPE_MISMATCH, STATUS_OBJECT_TYPE_MISMATCH, 0 },
};

static void oa_matrix(const SERVICE *svc)
{
    int oa_arg = -1;
    for (int i = 0; i < MAX_ARGS; i++)
        if (svc->arg[i].kind == A_OBJATTR)
            oa_arg = i;
    if (oa_arg < 0)
        return;
    for (size_t b = 0; b < sizeof(bad_attributes) / sizeof(bad_attributes[0]); b++) {
        const BADATTR *c = &bad_attributes[b];
        NTSTATUS want = svc->number == SYS_NtOpenEvent ? c->open_event
                      : svc->number == SYS_NtCreateEvent || svc->number == SYS_NtCreateIoCompletion ? c->create_event
                                                                                                : c->file;
        if (!want)
            continue;
        uint64_t a[MAX_ARGS + 1];
        template(svc->number, a);
        switch (c->field) {
        case OA_LENGTH: V.oa.Length = (uint32_t)c->value; break;
        case OA_ROOT: V.oa.RootDirectory = ev; break;
        case OA_ATTRIBUTES: V.oa.Attributes = (uint32_t)c->value; break;
        case OA_SD: V.oa.SecurityDescriptor = V.buf; break;
        case OA_NAME_NULL: V.oa.ObjectName = NULL; break;
        case OA_NAME_LENGTH: V.name.Length = (uint16_t)c->value; break;
        case OA_NAME_MAX: V.name.MaximumLength = (uint16_t)(V.name.Length - c->value); break;
        case OA_LONG:
            memset(V.text, 'a', sizeof(V.text));
            memcpy(V.text, "\\Device\\", 8);
            V.name.Length = V.name.MaximumLength = (uint16_t)c->value;
            break;
        case OA_TEXT:
            /* the text may hold a NUL: its length is the whole literal */
            memset(V.text, 0, sizeof(V.text));
            V.name.Length = V.name.MaximumLength = (uint16_t)strlen(c->text);
            memcpy(V.text, c->text, V.name.Length);
            if (strcmp(c->what, "a NUL inside the name") == 0)
                V.name.Length = V.name.MaximumLength = sizeof("\\Device\\Null\0x") - 1;
            break;
        }
        char what[96];
        snprintf(what, sizeof(what), "%s->%s", svc->arg[oa_arg].name, c->what);
        try_bad(svc, a, -1, want, what, 0);
    }
}

/* The valid template itself works, for the services that may be called so
 * (a matrix of failures proves nothing if the service always fails). */
static void valid_call(const SERVICE *svc)
{
    if (svc->flags & SVC_NEVER_VALID)
        return;
    uint64_t a[MAX_ARGS + 1];
    template(svc->number, a);
    NTSTATUS st = call(svc, a);
    UT_ASSERT_MSG(NT_SUCCESS(st), "%s with valid arguments returned %s", svc->name, UtStatusText(st));
    if (svc->number == SYS_NtCreateEvent || svc->number == SYS_NtOpenEvent || svc->number == SYS_NtCreateFile ||
        svc->number == SYS_NtOpenFile || svc->number == SYS_NtCreateIoCompletion ||
        svc->number == SYS_NtCreateIoRing) {   /* a new handle */
        UT_SUCCESS(NtClose(V.handle));
        return;
    }
    if (svc->number == SYS_NtAllocateVirtualMemory) {   /* give it back */
        size_t size = 0;
        void *b = (void *)V.base;
        UT_SUCCESS(NtFreeVirtualMemory(SELF, &b, &size, MEM_RELEASE));
    } else if (svc->number == SYS_NtCreateProcess) {
        UT_SUCCESS(NtWaitForSingleObject(V.handle, 0, NULL));
        UT_SUCCESS(NtClose(V.handle));
    } else if (svc->number == SYS_NtProtectVirtualMemory) {
        void *b = (void *)live;
        size_t size = P;
        uint32_t old;
        UT_SUCCESS(NtProtectVirtualMemory(SELF, &b, &size, PAGE_READWRITE, &old));
        UT_EQ(old, PAGE_READONLY);
    } else if (svc->number == SYS_NtFreeVirtualMemory) {   /* it decommitted live's first page: commit it again */
        UT_EQ(alloc_at(live, P, MEM_COMMIT, PAGE_READWRITE), live);
        memset((void *)live, 0x5A, P);
    }
}

static void run_matrix(uint32_t number)
{
    const SERVICE *svc = &services[number];
    UT_EQ(svc->number, number);
    valid_call(svc);
    pointer_matrix(svc);
    handle_matrix(svc);
    value_matrix(svc);
    oa_matrix(svc);
    /* and the process is fine: it can still allocate, touch and free */
    uint64_t b = alloc_at(0, P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    *(volatile uint64_t *)b = 42;
    void *pb = (void *)b;
    size_t size = 0;
    UT_SUCCESS(NtFreeVirtualMemory(SELF, &pb, &size, MEM_RELEASE));
}

/* One test per service, so a failure names it. */
#define MATRIX(svc)                         \
    UTEST(badinput, svc)                    \
    {                                       \
        setup();                            \
        run_matrix(SYS_##svc);              \
    }
MATRIX(NtTerminateProcess)
MATRIX(NtDisplayString)
MATRIX(NtAllocateVirtualMemory)
MATRIX(NtFreeVirtualMemory)
MATRIX(NtProtectVirtualMemory)
MATRIX(NtQueryVirtualMemory)
MATRIX(NtCreateProcess)
MATRIX(NtWaitForSingleObject)
MATRIX(NtClose)
MATRIX(NtQueryInformationProcess)
MATRIX(NtDelayExecution)
MATRIX(NtReadConsole)
MATRIX(NtQuerySystemInformation)
MATRIX(NtYieldExecution)
MATRIX(NtGetCommandLine)
MATRIX(NtSetInformationProcess)
MATRIX(NtCreateEvent)
MATRIX(NtOpenEvent)
MATRIX(NtSetEvent)
MATRIX(NtResetEvent)
MATRIX(NtCreateFile)
MATRIX(NtOpenFile)
MATRIX(NtReadFile)
MATRIX(NtWriteFile)
MATRIX(NtDeviceIoControlFile)
MATRIX(NtFlushBuffersFile)
MATRIX(NtCancelIoFile)
MATRIX(NtCreateIoCompletion)
MATRIX(NtSetInformationFile)
MATRIX(NtRemoveIoCompletion)
MATRIX(NtRemoveIoCompletionEx)
MATRIX(NtSetIoCompletion)
MATRIX(NtCreateIoRing)
MATRIX(NtSubmitIoRing)
MATRIX(NtSetSystemInformation)

/* 12d, on its own: a guard page handed to a service is NT's
 * STATUS_GUARD_PAGE_VIOLATION, the guard is consumed (one shot), and the
 * same call then goes through. */
UTEST(badinput, guard_page_fires_once_in_a_service)
{
    setup();
    MEMORY_BASIC_INFORMATION_T *m = (MEMORY_BASIC_INFORMATION_T *)guard;
    UT_STATUS(NtQueryVirtualMemory(SELF, (void *)live, MemoryBasicInformation, m, sizeof(*m), NULL),
              STATUS_GUARD_PAGE_VIOLATION);
    UT_EQ(protection_of(guard), PAGE_READWRITE);
    UT_SUCCESS(NtQueryVirtualMemory(SELF, (void *)live, MemoryBasicInformation, m, sizeof(*m), NULL));
    UT_EQ(m->BaseAddress, live);
    arm_guard();   /* in-parameters too: a timeout read from a guard page */
    UT_STATUS(NtDelayExecution(0, (int64_t *)guard), STATUS_GUARD_PAGE_VIOLATION);
    UT_SUCCESS(NtDelayExecution(0, (int64_t *)guard));   /* now an ordinary page holding 0 */
}

/* 12e, on its own: each pointer is probed with its type's alignment. */
UTEST(badinput, misaligned_pointers_are_refused)
{
    setup();
    static uint64_t q[4];
    static uint32_t l[2];
    uint8_t *b = (uint8_t *)q;
    size_t size = P;
    void *base = (void *)live;
    UT_STATUS(NtProtectVirtualMemory(SELF, &base, &size, PAGE_READWRITE, (uint32_t *)((uint8_t *)l + 2)),
              STATUS_DATATYPE_MISALIGNMENT);
    UT_STATUS(NtProtectVirtualMemory(SELF, (void **)(b + 4), &size, PAGE_READWRITE, l), STATUS_DATATYPE_MISALIGNMENT);
    UT_STATUS(NtQueryVirtualMemory(SELF, (void *)live, MemoryBasicInformation, (uint8_t *)V.buf + 4,
                                   sizeof(MEMORY_BASIC_INFORMATION_T), NULL), STATUS_DATATYPE_MISALIGNMENT);
    UT_STATUS(NtQueryVirtualMemory(SELF, (void *)live, MemoryBasicInformation, V.buf,
                                   sizeof(MEMORY_BASIC_INFORMATION_T), (size_t *)(b + 1)), STATUS_DATATYPE_MISALIGNMENT);
    UT_STATUS(NtCreateProcess("child", "child exit 0", (HANDLE *)(b + 4)), STATUS_DATATYPE_MISALIGNMENT);
    UT_STATUS(NtDelayExecution(0, (int64_t *)(b + 4)), STATUS_DATATYPE_MISALIGNMENT);
    UT_EQ(count_processes(), count_processes());
}

/* Every service has its test above (a new one fails here until added). */
UTEST(badinput, every_service_is_in_the_matrix)
{
    UT_EQ(SERVICE_COUNT, 35);
    for (uint32_t n = 0; n < SERVICE_COUNT; n++)
        UT_EQ(services[n].number, n);
}

/* Numbers that are no service. */
UTEST(badinput, unknown_service_numbers)
{
    static const uint64_t numbers[] = { SYS_COUNT, SYS_COUNT + 1, 0xFFFF, 0xFFFFFFFFULL, 1ULL << 32,
                                        0x8000000000000000ULL, ~0ULL };
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        /* arguments that would be harmless to service 0 (NtTerminateProcess) if the number were truncated */
        NTSTATUS st = (NTSTATUS)(uint32_t)NtSystemCall6(numbers[i], 0x1234, 0, 0, 0, 0, 0);
        UT_ASSERT_MSG(st == STATUS_INVALID_SYSTEM_SERVICE, "system call %#llx returned %s",
                      (unsigned long long)numbers[i], UtStatusText(st));
    }
}

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}
