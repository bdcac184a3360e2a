/*
 * The system services that are not about virtual memory (mm/virtual.c
 * has those). Each captures its arguments from user memory inside ExTry
 * and writes results back the same way, so a bad pointer is a status
 * returned to the caller, never a kernel fault. "The caller" is the
 * thread's own process (PsGetCurrentThreadProcess: its handles, its
 * command line), even if the service attached to another one.
 *
 * A process handle is checked for the right NT asks of each service:
 * PROCESS_TERMINATE to end it, PROCESS_QUERY_INFORMATION to query it,
 * PROCESS_SET_INFORMATION to change it (mm/virtual.c checks
 * PROCESS_VM_OPERATION and, for a query, PROCESS_QUERY_INFORMATION).
 * NtClose and NtWaitForSingleObject are the object manager's (kernel/ob).
 */
#include "kernel/ps/psp.h"
#include "kernel/ex/ex.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"
#include "io/io.h"
#include "drivers/pci/pci.h"   /* SystemPciList */

#define TAG_SNAPSHOT POOL_TAG('P', 's', 'S', 'n')

/* A NUL-terminated user string of at most MAX-1 characters. A NULL string
 * is probed like any other pointer: STATUS_ACCESS_VIOLATION, as NT's probe
 * of a required pointer answers. */
static NTSTATUS copy_string(char *dst, const char *user, SIZE_T max)
{
    for (SIZE_T i = 0; i < max; i++) {
        NTSTATUS s = ExCaptureUser(&dst[i], user + i, 1, 1);
        if (!NT_SUCCESS(s))
            return s;
        if (!dst[i])
            return STATUS_SUCCESS;
    }
    return STATUS_INVALID_PARAMETER;   /* too long */
}

static NTSTATUS NtTerminateProcess(ULONG64 h, ULONG64 status, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a3, (void)a4, (void)a5, (void)a6;
    PEPROCESS me = PsGetCurrentThreadProcess(), p;
    NTSTATUS s = ObReferenceObjectByHandle(h, PROCESS_TERMINATE, PsProcessType, UserMode, (PVOID *)&p, NULL);
    if (!NT_SUCCESS(s))
        return s;
    if (p == me) {
        ObDereferenceObject(p);   /* the process's own references keep it until its exit is done */
        PsExitCurrentProcess((NTSTATUS)status);
    }
    s = PsTerminateProcess(p, (NTSTATUS)status);
    ObDereferenceObject(p);
    return s;
}

static NTSTATUS NtDisplayString(ULONG64 text, ULONG64 len, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a3, (void)a4, (void)a5, (void)a6;
    char buf[256];
    if (len > 64 * 1024)
        return STATUS_INVALID_PARAMETER;
    /* The whole range first: a string running past user space prints
     * nothing (an unmapped page further on can still end it part-way). */
    volatile NTSTATUS range = STATUS_SUCCESS;
    ExTry {
        ProbeForRead((const void *)text, len, 1);
    } ExExcept(status) {
        range = status;
    } ExEndTry;
    if (!NT_SUCCESS(range))
        return range;
    for (ULONG64 off = 0; off < len; off += sizeof(buf)) {
        SIZE_T n = len - off < sizeof(buf) ? len - off : sizeof(buf);
        NTSTATUS s = ExCaptureUser(buf, (const char *)text + off, n, 1);
        if (!NT_SUCCESS(s))
            return s;
        HalConsoleLock();
        for (SIZE_T i = 0; i < n; i++)
            HalConsolePutChar(buf[i]);
        HalConsoleUnlock();
    }
    return STATUS_SUCCESS;
}

static NTSTATUS NtAllocateVirtualMemory_(ULONG64 a1, ULONG64 a2, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    return NtAllocateVirtualMemory(a1, (PVOID *)a2, a3, (PSIZE_T)a4, (ULONG)a5, (ULONG)a6);
}
static NTSTATUS NtFreeVirtualMemory_(ULONG64 a1, ULONG64 a2, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a5, (void)a6;
    return NtFreeVirtualMemory(a1, (PVOID *)a2, (PSIZE_T)a3, (ULONG)a4);
}
static NTSTATUS NtProtectVirtualMemory_(ULONG64 a1, ULONG64 a2, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a6;
    return NtProtectVirtualMemory(a1, (PVOID *)a2, (PSIZE_T)a3, (ULONG)a4, (PULONG)a5);
}
static NTSTATUS NtQueryVirtualMemory_(ULONG64 a1, ULONG64 a2, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    return NtQueryVirtualMemory(a1, (PVOID)a2, (ULONG)a3, (PVOID)a4, a5, (PSIZE_T)a6);
}

static NTSTATUS NtCreateProcess(ULONG64 uimage, ULONG64 ucmd, ULONG64 uhandle, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a4, (void)a5, (void)a6;
    char image[32], cmd[256];
    NTSTATUS s = copy_string(image, (const char *)uimage, sizeof(image));
    if (!NT_SUCCESS(s))
        return s;
    if (ucmd) {
        if (!NT_SUCCESS(s = copy_string(cmd, (const char *)ucmd, sizeof(cmd))))
            return s;
    } else {
        cmd[0] = 0;
    }
    /* Check the out-handle before creating anything, without writing it: a
     * call that fails leaves the caller's variable as it was. */
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)uhandle, sizeof(HANDLE_T), sizeof(HANDLE_T), 8)))
        return s;
    /* Take the handle slot first: a process refused for want of a handle
     * must never have started (it would run on with nobody to wait for it). */
    PEPROCESS me = PsGetCurrentThreadProcess(), child;
    HANDLE h;
    if (!NT_SUCCESS(s = ObpReserveHandle(me, &h)))
        return s;
    if (!NT_SUCCESS(s = PsCreateProcess(image, cmd, me, &child))) {
        ObpFreeReservedHandle(me, h);
        return s;
    }
    ObpFillReservedHandle(me, h, child, PROCESS_ALL_ACCESS);   /* the creation reference becomes the handle */
    return ObReturnNewHandle(uhandle, h, STATUS_SUCCESS);
}

static NTSTATUS NtQueryInformationProcess(ULONG64 h, ULONG64 cls, ULONG64 ubuf, ULONG64 len, ULONG64 uret,
                                          ULONG64 a6)
{
    (void)a6;
    PEPROCESS p;
    NTSTATUS s = ObReferenceObjectByHandle(h, PROCESS_QUERY_INFORMATION, PsProcessType, UserMode, (PVOID *)&p, NULL);
    if (!NT_SUCCESS(s))
        return s;
    union {
        PROCESS_BASIC_INFORMATION_T basic;
        PROCESS_FAULT_COUNTERS_T faults;
    } u;
    SIZE_T n;
    memset(&u, 0, sizeof(u));
    if (cls == ProcessBasicInformation) {
        u.basic.ExitStatus = p->ExitStatus;
        u.basic.UniqueProcessId = p->UniqueProcessId;
        u.basic.ParentProcessId = p->ParentId;
        n = sizeof(u.basic);
    } else if (cls == ProcessFaultCounters) {
        u.faults = p->Vm.Counters;
        u.faults.LockedPages = (ULONG64)p->LockedPages;
        n = sizeof(u.faults);
    } else {
        ObDereferenceObject(p);
        return STATUS_INVALID_INFO_CLASS;
    }
    ObDereferenceObject(p);   /* what was read is in U */
    if (len < n)
        return STATUS_INFO_LENGTH_MISMATCH;
    /* Both outputs checked before either is written. */
    s = ExProbeUserOutput((void *)ubuf, len, n, 8);
    if (NT_SUCCESS(s) && uret)
        s = ExProbeUserOutput((void *)uret, sizeof(SIZE_T), sizeof(SIZE_T), 8);
    if (NT_SUCCESS(s))
        s = ExReturnToUser((void *)ubuf, &u, n, 8);
    if (NT_SUCCESS(s) && uret)
        s = ExReturnToUser((void *)uret, &n, sizeof(n), 8);
    return s;
}

static NTSTATUS NtSetInformationProcess(ULONG64 h, ULONG64 cls, ULONG64 ubuf, ULONG64 len, ULONG64 a5, ULONG64 a6)
{
    (void)ubuf, (void)len, (void)a5, (void)a6;
    PEPROCESS p;
    NTSTATUS s = ObReferenceObjectByHandle(h, PROCESS_SET_INFORMATION, PsProcessType, UserMode, (PVOID *)&p, NULL);
    if (!NT_SUCCESS(s))
        return s;
    BOOLEAN mine = p == PsGetCurrentThreadProcess();
    ObDereferenceObject(p);
    if (!mine)
        return STATUS_INVALID_HANDLE;   /* only the caller's own working set */
    if (cls != ProcessTrimWorkingSet)
        return STATUS_INVALID_INFO_CLASS;
    MmTrimProcessWorkingSet(PsGetCurrentThreadProcess());
    return STATUS_SUCCESS;
}

static NTSTATUS NtDelayExecution(ULONG64 alertable, ULONG64 uinterval, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a3, (void)a4, (void)a5, (void)a6;
    LARGE_INTEGER t;
    NTSTATUS s = ExCaptureUser(&t, (const void *)uinterval, sizeof(t), 8);
    if (!NT_SUCCESS(s))
        return s;
    return KeDelayExecutionThread(UserMode, (BOOLEAN)alertable, &t);
}

/* One line from COM1, echoed, polled every millisecond. */
static NTSTATUS NtReadConsole(ULONG64 ubuf, ULONG64 len, ULONG64 uread, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a4, (void)a5, (void)a6;
    char line[256];
    SIZE_T n = 0;
    if (len == 0)
        return STATUS_INVALID_PARAMETER;
    /* Check the output pointers before waiting for a line that may never come. */
    volatile NTSTATUS bad = STATUS_SUCCESS;
    ExTry {
        ProbeForRead((void *)ubuf, len, 1);   /* the whole range is user space */
        ProbeForWrite((void *)ubuf, len < sizeof(line) ? len : sizeof(line), 1);
        ProbeForWrite((void *)uread, sizeof(SIZE_T), 8);   /* required */
    } ExExcept(status) {
        bad = status;
    } ExEndTry;
    if (!NT_SUCCESS(bad))
        return bad;
    for (;;) {
        if (PsGetCurrentThreadProcess()->TerminateRequested)
            return STATUS_PROCESS_IS_TERMINATING;
        int c = HalSerialGetChar();
        if (c < 0) {
            LARGE_INTEGER d = { -KI_MS(1) };
            KeDelayExecutionThread(UserMode, FALSE, &d);
            continue;
        }
        if (c == '\r' || c == '\n') {
            kprintf("\n");
            break;
        }
        if ((c == 0x7F || c == 8) && n) {
            n--;
            kprintf("\b \b");
        } else if (c >= ' ' && c < 0x7F && n + 1 < sizeof(line) && n + 1 < len) {
            line[n++] = (char)c;
            kprintf("%c", c);
        }
    }
    line[n] = 0;
    NTSTATUS s = ExReturnToUser((void *)ubuf, line, n + 1, 1);
    if (NT_SUCCESS(s))
        s = ExReturnToUser((void *)uread, &n, sizeof(n), 8);
    return s;
}

static NTSTATUS NtQuerySystemInformation(ULONG64 cls, ULONG64 ubuf, ULONG64 len, ULONG64 uret, ULONG64 a5,
                                         ULONG64 a6)
{
    (void)a5, (void)a6;
    SIZE_T need;
    NTSTATUS s;
    if (cls == SystemHandleList)
        return ObpQuerySystemHandles((PVOID)ubuf, len, (PSIZE_T)uret);   /* every process's handles (kernel/ob) */
    if (cls != SystemMemoryInformation && cls != SystemProcessList && cls != SystemDeviceList &&
        cls != SystemInterruptTime && cls != SystemPciList && cls != SystemIoInformation &&
        cls != SystemProfileInformation)
        return STATUS_INVALID_INFO_CLASS;
    /* Both outputs checked before either is written: the whole buffer is
     * user space and aligned, what can be written is writable. */
    SIZE_T most = cls == SystemMemoryInformation ? sizeof(SYSTEM_MEMORY_T)
                : cls == SystemInterruptTime   ? sizeof(SYSTEM_INTERRUPT_TIME_T)
                : cls == SystemIoInformation   ? sizeof(SYSTEM_IO_T)
                : cls == SystemProfileInformation ? sizeof(SYSTEM_PROFILE_T)
                : cls == SystemDeviceList      ? 64 * sizeof(SYSTEM_DEVICE_T)
                : cls == SystemPciList         ? PCI_MAX_DEVICES * sizeof(SYSTEM_PCI_T)
                                               : 64 * sizeof(SYSTEM_PROCESS_T);
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)ubuf, len, most, 8)) ||
        (uret && !NT_SUCCESS(s = ExProbeUserOutput((void *)uret, sizeof(SIZE_T), sizeof(SIZE_T), 8))))
        return s;
    if (cls == SystemMemoryInformation) {
        SYSTEM_MEMORY_T m;
        memset(&m, 0, sizeof(m));
        m.PhysicalPages = MmNumberOfPhysicalPages;
        m.AvailablePages = MmAvailablePages;
        m.ZeroedPages = MmZeroedPageListHead.Total;
        m.FreePages = MmFreePageListHead.Total;
        m.StandbyPages = MmStandbyPageListHead.Total;
        m.ModifiedPages = MmModifiedPageListHead.Total;
        m.DemandZeroFaults = MiSystemFaults[0];
        m.SoftFaults = MiSystemFaults[1];
        m.CopyOnWriteFaults = MiSystemFaults[2];
        m.ImageFaults = MiSystemFaults[3];
        m.HardFaults = MiSystemFaults[4];
        extern ULONG64 MiPoolBytesInUse(int paged);
        m.NonPagedPoolBytes = MiPoolBytesInUse(0);
        m.PagedPoolBytes = MiPoolBytesInUse(1);
        m.CommittedPages = MmTotalCommittedPages;
        m.CommitLimitPages = MiCommitLimit();
        m.PeakCommitmentPages = MmPeakCommitment;
        m.PagingFilePages = MiPageFileTotalSlots;
        m.PagingFileInUse = MiPageFileSlotsInUse;
        m.PagesWritten = MiMpwPagesWritten;
        m.WriteClusters = MiMpwClusters;
        m.WriteErrors = MiMpwWriteErrors;
        m.InPageReads = MiInPageReads;
        m.InPageErrors = MiInPageErrors;
        m.CollidedFaults = MiCollidedFaults;
        m.PagesInFlight = MiPagesInFlight;
        m.InPagePrefetched = MiInPagePrefetched;
        for (int i = 0; i <= MI_WRITE_CLUSTER_PAGES; i++)
            m.ClusterSizes[i] = MiMpwClusterSizes[i];
        need = sizeof(m);
        if (len < need)
            s = STATUS_INFO_LENGTH_MISMATCH;
        else
            s = ExReturnToUser((void *)ubuf, &m, need, 8);
    } else if (cls == SystemProcessList) {
        /* A snapshot, so that nothing is copied to user memory (which may
         * fault) under the process-list lock. Its buffer is allocated
         * BEFORE the lock is taken: the allocator may need a frame and,
         * with memory low, signal the working-set manager, which takes the
         * dispatcher lock - nothing may be allocated under a spin lock
         * that the allocator's own path can want (docs/mm.md §6). */
        SYSTEM_PROCESS_T *snap = NULL;
        ULONG cap = 64, k = 0;   /* 64 entries: a whole-page allocation */
        for (int tries = 0;; tries++) {
            snap = ExAllocatePoolWithTag(NonPagedPoolNx, cap * sizeof(*snap), TAG_SNAPSHOT);
            if (!snap)
                return STATUS_INSUFFICIENT_RESOURCES;
            k = PsSnapshotProcessList(snap, cap);
            if (k <= cap)
                break;
            /* Processes were created meanwhile: a bigger buffer, a few times at most. */
            ExFreePoolWithTag(snap, TAG_SNAPSHOT);
            if (tries == 3)
                return STATUS_INSUFFICIENT_RESOURCES;
            cap = k + 8;
        }
        s = STATUS_SUCCESS;
        need = (SIZE_T)k * sizeof(SYSTEM_PROCESS_T);
        if (len < need)
            s = STATUS_INFO_LENGTH_MISMATCH;
        for (ULONG i = 0; i < k && NT_SUCCESS(s); i++)
            s = ExReturnToUser((PUCHAR)ubuf + (SIZE_T)i * sizeof(SYSTEM_PROCESS_T), &snap[i], sizeof(SYSTEM_PROCESS_T),
                               8);
        ExFreePoolWithTag(snap, TAG_SNAPSHOT);
    } else if (cls == SystemInterruptTime) {
        /* NT's user mode reads the interrupt time from KUSER_SHARED_DATA;
         * mdlos has no shared page, so it is a query (dd's MiB/s). */
        SYSTEM_INTERRUPT_TIME_T t = { KeQueryInterruptTime(), KeQueryIdleCycles() };
        need = len >= sizeof(t) ? sizeof(t) : sizeof(t.InterruptTime);   /* the first field alone is enough */
        s = len < need ? STATUS_INFO_LENGTH_MISMATCH : ExReturnToUser((void *)ubuf, &t, need, 8);
    } else if (cls == SystemIoInformation) {
        SYSTEM_IO_T io = { IopCancelWaitMs, __atomic_load_n(&IopIrpsDisassociated, __ATOMIC_RELAXED) };
        need = sizeof(io);
        s = len < need ? STATUS_INFO_LENGTH_MISMATCH : ExReturnToUser((void *)ubuf, &io, need, 8);
    } else if (cls == SystemProfileInformation) {
        SYSTEM_PROFILE_T t;
        KeQueryProfile(&t);
        need = sizeof(t);
        s = len < need ? STATUS_INFO_LENGTH_MISMATCH : ExReturnToUser((void *)ubuf, &t, need, 8);
    } else if (cls == SystemDeviceList) {
        /* The same shape: a snapshot (copied under the I/O manager's
         * locks into pool allocated first), then copied out. */
        ULONG cap = 64, k;
        SYSTEM_DEVICE_T *snap = ExAllocatePoolWithTag(NonPagedPoolNx, cap * sizeof(*snap), TAG_SNAPSHOT);
        if (!snap)
            return STATUS_INSUFFICIENT_RESOURCES;
        k = IopSnapshotDevices(snap, cap);
        if (k > cap)
            k = cap;   /* more than 64 devices: the first 64 (a bound, not a loop ring 3 sizes) */
        need = (SIZE_T)k * sizeof(SYSTEM_DEVICE_T);
        s = len < need ? STATUS_INFO_LENGTH_MISMATCH : ExReturnToUser((void *)ubuf, snap, need, 8);
        ExFreePoolWithTag(snap, TAG_SNAPSHOT);
    } else if (cls == SystemPciList) {
        /* The PCI bus driver's table (drivers/pci): filled at boot, then
         * only read, so a snapshot needs no lock; pool first, then copy out. */
        SYSTEM_PCI_T *snap = ExAllocatePoolWithTag(NonPagedPoolNx, PCI_MAX_DEVICES * sizeof(*snap), TAG_SNAPSHOT);
        if (!snap)
            return STATUS_INSUFFICIENT_RESOURCES;
        ULONG k = PciSnapshotDevices(snap, PCI_MAX_DEVICES);
        if (k > PCI_MAX_DEVICES)
            k = PCI_MAX_DEVICES;
        need = (SIZE_T)k * sizeof(SYSTEM_PCI_T);
        s = len < need ? STATUS_INFO_LENGTH_MISMATCH : ExReturnToUser((void *)ubuf, snap, need, 8);
        ExFreePoolWithTag(snap, TAG_SNAPSHOT);
    } else {
        return STATUS_INVALID_INFO_CLASS;
    }
    if (uret) {
        NTSTATUS r = ExReturnToUser((void *)uret, &need, sizeof(need), 8);
        if (!NT_SUCCESS(r))
            return r;
    }
    return s;
}

/* NT's NtSetSystemInformation, with one class of mdlos's own: a command
 * to the sampling profiler (kernel/ke/profile.c). The buffer is one
 * uint32_t, read once, whatever the length says beyond "at least that". */
static NTSTATUS NtSetSystemInformation(ULONG64 cls, ULONG64 ubuf, ULONG64 len, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a4, (void)a5, (void)a6;
    if (cls != SystemProfileControl)
        return STATUS_INVALID_INFO_CLASS;
    if (len < sizeof(uint32_t))
        return STATUS_INFO_LENGTH_MISMATCH;
    uint32_t cmd;
    NTSTATUS s = ExCaptureUser(&cmd, (const void *)ubuf, sizeof(cmd), 4);
    if (!NT_SUCCESS(s))
        return s;
    switch (cmd) {
    case PROFILE_START: return KeStartProfile(0);
    case PROFILE_STOP: KeStopProfile(); return STATUS_SUCCESS;
    case PROFILE_CLEAR: KeClearProfile(); return STATUS_SUCCESS;
    case PROFILE_REPORT: KePrintProfile(40, 24); return STATUS_SUCCESS;
    default: return STATUS_INVALID_PARAMETER;
    }
}

static NTSTATUS NtYieldExecution(ULONG64 a1, ULONG64 a2, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a1, (void)a2, (void)a3, (void)a4, (void)a5, (void)a6;
    KeYieldExecution();
    return STATUS_SUCCESS;
}

static NTSTATUS NtGetCommandLine(ULONG64 ubuf, ULONG64 len, ULONG64 uneed, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a4, (void)a5, (void)a6;
    PEPROCESS p = PsGetCurrentThreadProcess();
    SIZE_T need = strlen(p->CommandLine) + 1;
    /* Both outputs checked before either is written. */
    NTSTATUS s = ExProbeUserOutput((void *)ubuf, len, len < need ? len : need, 1);
    if (NT_SUCCESS(s) && uneed)
        s = ExProbeUserOutput((void *)uneed, sizeof(SIZE_T), sizeof(SIZE_T), 8);
    if (!NT_SUCCESS(s))
        return s;
    if (uneed && !NT_SUCCESS(s = ExReturnToUser((void *)uneed, &need, sizeof(need), 8)))
        return s;
    if (len < need)
        return STATUS_BUFFER_TOO_SMALL;
    return ExReturnToUser((void *)ubuf, p->CommandLine, need, 1);
}

void PsRegisterNtServices(void)
{
    KiRegisterService(SYS_NtTerminateProcess, NtTerminateProcess);
    KiRegisterService(SYS_NtDisplayString, NtDisplayString);
    KiRegisterService(SYS_NtAllocateVirtualMemory, NtAllocateVirtualMemory_);
    KiRegisterService(SYS_NtFreeVirtualMemory, NtFreeVirtualMemory_);
    KiRegisterService(SYS_NtProtectVirtualMemory, NtProtectVirtualMemory_);
    KiRegisterService(SYS_NtQueryVirtualMemory, NtQueryVirtualMemory_);
    KiRegisterService(SYS_NtCreateProcess, NtCreateProcess);
    KiRegisterService(SYS_NtQueryInformationProcess, NtQueryInformationProcess);
    KiRegisterService(SYS_NtDelayExecution, NtDelayExecution);
    KiRegisterService(SYS_NtReadConsole, NtReadConsole);
    KiRegisterService(SYS_NtQuerySystemInformation, NtQuerySystemInformation);
    KiRegisterService(SYS_NtYieldExecution, NtYieldExecution);
    KiRegisterService(SYS_NtGetCommandLine, NtGetCommandLine);
    KiRegisterService(SYS_NtSetInformationProcess, NtSetInformationProcess);
    KiRegisterService(SYS_NtSetSystemInformation, NtSetSystemInformation);
}
