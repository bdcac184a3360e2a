/*
 * child: a helper process for user/tests/utest_proc.c (and the shell).
 *   child                      exit 0
 *   child exit N               exit with status N (0x... accepted)
 *   child sleep MS [N]         sleep MS milliseconds, then exit N (0)
 *   child spin                 loop in ring 3 for ever, with no system call (until terminated):
 *                              the kernel can reach it only through interrupts (kernel/ke/tests/apc_test.c)
 *   child argc ARGS...         exit with argc (argv[0] included)
 *   child cmdline_hash         exit with child_hash() of the raw command line (child.h)
 *   child cow VALUE MS         copy-on-write check (see cow())
 *   child cow_count            copy-on-write fault accounting (see cow_count())
 *   child set_event NAME       open the event \BaseNamedObjects\NAME, set it, exit 0
 *   child hold_events N MS     create N unnamed events, sleep MS, exit without closing them
 *   child hold_io DEVICE       open an IoTest DEVICE, make it hold requests (IOT_PEND_HOLD), start
 *                              an asynchronous read into a 3-page unaligned buffer and exit with
 *                              the read still held: exit status = the pages it had locked then
 *                              (ProcessFaultCounters.LockedPages), for utest_io.c
 *   child hold_io_nocancel DEVICE   the same with IOT_PEND_HOLD_IGNORING_CANCEL (a driver that
 *                              ignores cancel)
 *   child disk_inflight DISK N [PAGES] send N (at most 64) asynchronous reads of PAGES pages (default
 *                              128, at most 128) to the disk DISK and exit at once with them on the
 *                              device: exit status = the pages it had locked then, for
 *                              drivers/virtio/tests/vblk_exit_test.c
 *   child disk_inflight DISK N PAGES port   the same with the disk's file associated with a completion
 *                              port first: the reads end as packets on it (drivers/virtio/tests/vblk_port_test.c)
 *   child disk_inflight DISK N PAGES ring   the same through an I/O ring: the reads' region
 *                              registered as one buffer and all N reads on it in one NtSubmitIoRing
 *                              (drivers/virtio/tests/vblk_ioring_test.c)
 *   child disk_port_close DISK N PAGES   associate the disk with a port, send N reads, wait (20 s at most)
 *                              for the event \BaseNamedObjects\vblkport (which it creates) to be set, close
 *                              the port with the packets in it, and exit 0 if none of the reads' status blocks
 *                              was written (1 if one was), for vblk_port_test.c
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "user/tests/child.h"
#include "drivers/iotest/iotest_ioctl.h"

/* One page of initialized data of its own, so no other write (the stack
 * cookie, stdio) has touched it before the test does. */
static volatile uint64_t cow_page[PAGE_SIZE / 8] __attribute__((aligned(4096))) = { CHILD_COW_MAGIC, 1, 2, 3 };
static volatile uint64_t bss_value;

/* Reads the image's value, writes VALUE, sleeps so the other instance runs
 * meanwhile, and checks that VALUE is still there (and the other instance's
 * value never showed up here). */
static int cow(uint64_t value, uint64_t ms)
{
    if (cow_page[0] != CHILD_COW_MAGIC || cow_page[1] != 1 || cow_page[3] != 3)
        return CHILD_COW_NOT_PRISTINE;   /* another process's write leaked into the image */
    if (bss_value != 0)
        return CHILD_COW_BSS_NOT_ZERO;
    cow_page[0] = value;
    bss_value = value;
    for (uint64_t slept = 0; slept < ms; slept += 50) {
        SleepMs(50);
        if (cow_page[0] != value || bss_value != value)
            return CHILD_COW_CHANGED;
    }
    if (cow_page[1] != 1 || cow_page[2] != 2 || cow_page[3] != 3)
        return CHILD_COW_CHANGED;
    return 0;
}

static int counters(PROCESS_FAULT_COUNTERS_T *c)
{
    size_t len = 0;
    memset(c, 0, sizeof(*c));
    return NT_SUCCESS(NtQueryInformationProcess(NtCurrentProcess(), ProcessFaultCounters, c, sizeof(*c), &len));
}

/* A read of the pristine image page, then a write to it: the write must be
 * a copy-on-write fault. */
static int cow_count(void)
{
    PROCESS_FAULT_COUNTERS_T before, after;
    if (!counters(&before))
        return CHILD_COW_NO_COUNTERS;
    if (cow_page[0] != CHILD_COW_MAGIC)
        return CHILD_COW_NOT_PRISTINE;
    cow_page[0] = 0x1234;
    if (!counters(&after))
        return CHILD_COW_NO_COUNTERS;
    if (cow_page[0] != 0x1234)
        return CHILD_COW_CHANGED;
    return after.CopyOnWriteFaults > before.CopyOnWriteFaults ? 0 : CHILD_COW_NOT_COUNTED;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 0;
    const char *c = argv[1];
    if (strcmp(c, "exit") == 0)
        return argc > 2 ? (int)strtoul(argv[2], NULL, 0) : 0;
    if (strcmp(c, "sleep") == 0) {
        SleepMs(argc > 2 ? strtoul(argv[2], NULL, 0) : 100);
        return argc > 3 ? (int)strtoul(argv[3], NULL, 0) : 0;
    }
    if (strcmp(c, "spin") == 0)
        for (;;)
            __asm__ volatile("pause");
    if (strcmp(c, "argc") == 0)
        return argc;
    if (strcmp(c, "cmdline_hash") == 0)
        return (int)child_hash(GetCommandLine());
    if (strcmp(c, "cow") == 0 && argc > 3)
        return cow(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
    if (strcmp(c, "cow_count") == 0)
        return cow_count();
    if (strcmp(c, "set_event") == 0 && argc > 2) {
        char name[128];
        snprintf(name, sizeof(name), "\\BaseNamedObjects\\%s", argv[2]);
        STRING_T n;
        OBJECT_ATTRIBUTES_T oa;
        RtlInitString(&n, name);
        InitializeObjectAttributes(&oa, &n, OBJ_CASE_INSENSITIVE);
        HANDLE h = 0;
        NTSTATUS st = NtOpenEvent(&h, EVENT_MODIFY_STATE, &oa);
        if (!NT_SUCCESS(st))
            return st;
        st = NtSetEvent(h, NULL);
        NtClose(h);
        return NT_SUCCESS(st) ? 0 : st;
    }
    if (strcmp(c, "hold_events") == 0 && argc > 3) {
        unsigned long n = strtoul(argv[2], NULL, 0);
        for (unsigned long i = 0; i < n; i++) {
            HANDLE h;
            NTSTATUS st = NtCreateEvent(&h, EVENT_ALL_ACCESS, NULL, 0, 0);
            if (!NT_SUCCESS(st))
                return st;
        }
        SleepMs(strtoul(argv[3], NULL, 0));
        return 0;   /* the handles are the kernel's to close */
    }
    if ((strcmp(c, "hold_io") == 0 || strcmp(c, "hold_io_nocancel") == 0) && argc > 2) {
        HANDLE f, ev;
        IO_STATUS_BLOCK_T iosb;
        NTSTATUS st = OpenDevice(argv[2], FILE_READ_DATA | FILE_WRITE_DATA, 0, &f);
        if (!NT_SUCCESS(st))
            return st;
        IOT_PEND pend = { strcmp(c, "hold_io") == 0 ? IOT_PEND_HOLD : IOT_PEND_HOLD_IGNORING_CANCEL, 0 };
        st = NtDeviceIoControlFile(f, 0, NULL, NULL, &iosb, IOCTL_IOTEST_SET_PEND, &pend, sizeof(pend), NULL, 0);
        if (!NT_SUCCESS(st) || !NT_SUCCESS(st = CreateEventHandle(&ev, 0, 0)))
            return st;
        static uint8_t buf[4 * PAGE_SIZE] __attribute__((aligned(4096)));
        int64_t offset = 0;
        st = NtReadFile(f, ev, NULL, NULL, &iosb, buf + 0x123, 2 * PAGE_SIZE + 100, &offset, NULL);
        if (st != STATUS_PENDING)
            return NT_SUCCESS(st) ? CHILD_BAD_USAGE : st;
        PROCESS_FAULT_COUNTERS_T fc;
        if (!NT_SUCCESS(st = NtQueryInformationProcess(NtCurrentProcess(), ProcessFaultCounters, &fc, sizeof(fc), NULL)))
            return st;
        /* Exit with the read held: the kernel must cancel it and wait
         * for it before the address space goes (NT's thread rundown). */
        return (int)fc.LockedPages;
    }
    int port_close = strcmp(c, "disk_port_close") == 0;
    if ((strcmp(c, "disk_inflight") == 0 || port_close) && argc > 3) {
        enum { MAX = 64, MAX_PAGES = 128, SENTINEL = 0x7777 };
        static IO_STATUS_BLOCK_T iosb[MAX];
        unsigned long n = strtoul(argv[3], NULL, 0);
        unsigned long pages = argc > 4 ? strtoul(argv[4], NULL, 0) : MAX_PAGES;
        int with_port = port_close || (argc > 5 && strcmp(argv[5], "port") == 0);
        int with_ring = !port_close && argc > 5 && strcmp(argv[5], "ring") == 0;
        static IORING_T ring;
        size_t EACH = pages * PAGE_SIZE;
        HANDLE f, ev, port = 0, go = 0;
        if (n == 0 || n > MAX || pages == 0 || pages > MAX_PAGES)
            return CHILD_BAD_USAGE;
        NTSTATUS st = OpenDevice(argv[2], FILE_READ_DATA | FILE_WRITE_DATA, 0, &f);
        if (!NT_SUCCESS(st) || !NT_SUCCESS(st = CreateEventHandle(&ev, 0, 0)))
            return st;
        if (with_port) {
            FILE_COMPLETION_INFORMATION_T fci;
            IO_STATUS_BLOCK_T si;
            if (!NT_SUCCESS(st = NtCreateIoCompletion(&port, IO_COMPLETION_ALL_ACCESS, NULL, 0)))
                return st;
            fci.Port = port;
            fci.Key = (void *)0x51;
            if (!NT_SUCCESS(st = NtSetInformationFile(f, &si, &fci, sizeof(fci), FileCompletionInformation)))
                return st;
            ev = 0;   /* the port says when a read is done */
        }
        if (port_close) {
            STRING_T nm;
            OBJECT_ATTRIBUTES_T oa;
            RtlInitString(&nm, "\\BaseNamedObjects\\vblkport");
            InitializeObjectAttributes(&oa, &nm, 0);
            if (!NT_SUCCESS(st = NtCreateEvent(&go, EVENT_ALL_ACCESS, &oa, 0, 0)))
                return st;
        }
        for (unsigned long i = 0; i < n; i++)
            iosb[i].Status = SENTINEL;
        void *base = NULL;
        size_t size = n * EACH;
        if (!NT_SUCCESS(st = NtAllocateVirtualMemory(NtCurrentProcess(), &base, 0, &size, MEM_RESERVE | MEM_COMMIT,
                                                     PAGE_READWRITE)))
            return st;
        /* Touched first: the reads then go out faster than the device
         * finishes them (no demand-zero faults in the probe and lock). */
        memset(base, 0x11, size);
        if (with_ring) {
            uint32_t took = 0;
            static IORING_BUFFER_INFO_T whole;
            whole = (IORING_BUFFER_INFO_T){ (uint64_t)(uintptr_t)base, (uint32_t)size, 0 };
            if (!NT_SUCCESS(st = CreateIoRing(2 * MAX, 0, &ring)))
                return st;
            if (!BuildIoRingRegisterBuffers(&ring, &whole, 1, ~0ULL))
                return CHILD_BAD_USAGE;
            for (unsigned long i = 0; i < n; i++)
                if (!BuildIoRingReadFileRegistered(&ring, f, 0, (uint32_t)(i * EACH), (uint32_t)EACH,
                                                   (int64_t)(i * EACH), i))
                    return CHILD_BAD_USAGE;
            if (!NT_SUCCESS(st = SubmitIoRing(&ring, 0, NULL, &took)) || took != n + 1)
                return NT_SUCCESS(st) ? CHILD_BAD_USAGE : st;
            n = 0;   /* no NtReadFile below */
        }
        for (unsigned long i = 0; i < n; i++) {
            int64_t offset = (int64_t)(i * EACH);
            st = NtReadFile(f, ev, NULL, NULL, &iosb[i], (uint8_t *)base + i * EACH, EACH, &offset, NULL);
            if (st != STATUS_PENDING)
                return NT_SUCCESS(st) ? CHILD_BAD_USAGE : st;
        }
        if (port_close) {
            /* The kernel test sets GO once all N are packets on the port;
             * closing the port's only handle then finishes them without
             * writing anything here. */
            if (!NT_SUCCESS(st = WaitHandle(go, 20000)) || st == STATUS_TIMEOUT)
                return st == STATUS_TIMEOUT ? CHILD_BAD_USAGE : st;
            NtClose(port);
            for (unsigned long i = 0; i < n; i++)
                if (iosb[i].Status != SENTINEL)
                    return 1;
            return 0;
        }
        PROCESS_FAULT_COUNTERS_T fc;
        if (!NT_SUCCESS(st = NtQueryInformationProcess(NtCurrentProcess(), ProcessFaultCounters, &fc, sizeof(fc), NULL)))
            return st;
        /* Exit with the reads on the device: virtio has no abort, so the
         * kernel's cancel cannot take them back; it must wait for the device
         * before the frames and the address space go. */
        return (int)fc.LockedPages;
    }
    printf("child: unknown command '%s'\n", c);
    return CHILD_BAD_USAGE;
}
