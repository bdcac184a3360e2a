/*
 * Processes: an address space (mm/), one thread, a handle table, an image.
 * An EPROCESS is an object of type PsProcessType (kernel/ob): its
 * references are the object's, and it is deleted (the address space's
 * root last) when the last one goes - its "alive" reference, its
 * creator's, and one per handle.
 * A process is created from a GRUB module; its thread starts in the kernel
 * (KiUserThreadStart) and drops to ring 3 at the image's entry point. It
 * ends by NtTerminateProcess or by a fault nobody handles - which ends
 * only that process: the kernel and the others carry on.
 */
#include "kernel/ps/psp.h"
#include "io/io.h"
#include "kernel/hal/x86.h"
#include "mm/mdl.h"

EPROCESS PsInitialSystemProcess;
POBJECT_TYPE PsProcessType;
/* Every live process but the system one. Guarded by one lock, always
 * this one, for readers and writers alike: a spin lock, so it may be
 * taken at DISPATCH_LEVEL (PsCreateProcess inserts there). Nothing else
 * is taken, allocated or signalled while holding it (docs/mm.md §6). */
LIST_ENTRY PsActiveProcessHead;
static KSPIN_LOCK process_list_lock;

KIRQL PsAcquireProcessListLock(void)
{
    KIRQL old;
    KeAcquireSpinLock(&process_list_lock, &old);
    return old;
}

void PsReleaseProcessListLock(KIRQL old)
{
    KeReleaseSpinLock(&process_list_lock, old);
}

BOOLEAN PsProcessListLockHeld(void)
{
    return KiSpinLockHeldByMe(&process_list_lock);
}

/* Copy up to MAX entries of the process list into OUT (nonpaged, given by
 * the caller: nothing may be allocated under the lock); returns how many
 * processes there are, which may be more than MAX. */
ULONG PsSnapshotProcessList(SYSTEM_PROCESS_T *out, ULONG max)
{
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    ULONG n = 0;
    KIRQL old = PsAcquireProcessListLock();
    for (PLIST_ENTRY l = PsActiveProcessHead.Flink; l != &PsActiveProcessHead; l = l->Flink, n++) {
        if (n >= max)
            continue;
        PEPROCESS p = CONTAINING_RECORD(l, EPROCESS, ProcessListEntry);
        SYSTEM_PROCESS_T *e = &out[n];
        memset(e, 0, sizeof(*e));
        e->ProcessId = p->UniqueProcessId;
        e->ParentId = p->ParentId;
        e->WorkingSetSize = p->Vm.Count;
        e->PrivatePages = p->Vm.Counters.PrivatePages;
        e->SoftFaults = p->Vm.Counters.SoftFaults;
        e->HardFaults = p->Vm.Counters.HardFaults;
        e->Threads = 1;
        e->State = p->Exiting;
        strlcpy(e->ImageName, p->ImageName, sizeof(e->ImageName));
    }
    PsReleaseProcessListLock(old);
    return n;
}
static volatile ULONG64 next_pid = 4;

/* As on NT: the process whose address space the thread is in now - the
 * one it attached to with KeStackAttachProcess, if it did (NT reads it
 * from the thread's ApcState). Code that wants the thread's own process
 * (its handle table, the process a system service was called from, the
 * one a user-mode fault ends) asks PsGetCurrentThreadProcess. */
PEPROCESS PsGetCurrentProcess(void)
{
    return KeGetCurrentThread()->ActiveProcess;
}

PEPROCESS PsGetCurrentThreadProcess(void)
{
    return KeGetCurrentThread()->Process;
}

/* The last reference is gone (PASSIVE_LEVEL: the object manager defers a
 * delete from DISPATCH_LEVEL). The PML4 goes last: a thread that attached
 * while holding a reference still has a valid CR3 (its kernel half) to
 * run on. */
static void delete_process(PVOID Object)
{
    PEPROCESS p = Object;
    ObpDeleteHandleTable(p);
    if (p->Pml4Pfn)
        MmFreeAddressSpaceRoot(p);
}

void PsInitialize(void)
{
    /* NT's process rights: GENERIC_READ queries and reads memory,
     * GENERIC_WRITE changes it and the process, GENERIC_EXECUTE waits. */
    OBJECT_TYPE_INITIALIZER init = {
        .GenericMapping = { STANDARD_RIGHTS_READ | PROCESS_VM_READ | PROCESS_QUERY_INFORMATION,
                            STANDARD_RIGHTS_WRITE | PROCESS_TERMINATE | PROCESS_VM_OPERATION | PROCESS_VM_WRITE |
                                PROCESS_SET_INFORMATION,
                            STANDARD_RIGHTS_EXECUTE | SYNCHRONIZE, PROCESS_ALL_ACCESS },
        .ValidAccessMask = PROCESS_ALL_ACCESS,
        .DispatcherHeaderOffset = 0,   /* EPROCESS starts with its DISPATCHER_HEADER */
        .DeleteProcedure = delete_process,
    };
    NTSTATUS s = ObCreateObjectType("Process", &init, &PsProcessType);
    ASSERT(NT_SUCCESS(s));
    ObpInitializeSystemProcessObject(PsProcessType);
    ObpInitializeHandleTable(&PsInitialSystemProcess.ObjectTable);
    InitializeListHead(&PsActiveProcessHead);
    KeInitializeSpinLock(&process_list_lock);
    PsInitialSystemProcess.UniqueProcessId = 0;
    strlcpy(PsInitialSystemProcess.ImageName, "System", sizeof(PsInitialSystemProcess.ImageName));
    InitializeListHead(&PsInitialSystemProcess.VadListHead);
    MiLoadBootImages();
    MiStartWorkingSetManager();
    MiStartZeroPageThread();
}

void PsDereferenceProcess(PEPROCESS p)
{
    ObDereferenceObject(p);
}

/* The kernel-mode start of every user thread: enter ring 3 at the image's
 * entry point, on the user stack, with interrupts on. */
static void KiUserThreadStart(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    PKTHREAD t = KeGetCurrentThread();
    /* On this thread's kernel stack: KiExitToUser calls C code on the
     * stack below the frame, so the frame must have free stack under it
     * (a frame inside the KTHREAD had its neighbours overwritten). */
    KTRAP_FRAME frame, *f = &frame;
    memset(f, 0, sizeof(*f));
    f->rip = t->UserEntry;
    f->cs = KGDT64_R3_CODE | 3;
    f->rflags = 0x202;                 /* IF */
    f->rsp = t->UserStack - 16;        /* 16-byte aligned, as the ABI wants at _start */
    f->ss = KGDT64_R3_DATA | 3;
    KiStartUserThread(f);
}

/* A new process is refused while fewer than MmProcessCreateReservePages
 * are available: the processes already running need frames for their next
 * faults, and without a paging file (it is optional) nothing can make
 * room. NT likewise refuses to create an address space
 * (STATUS_INSUFFICIENT_RESOURCES) when resident available memory is short.
 * The memory manager sizes the reserve from the RAM at boot (half of it, at
 * most 16 MiB: mm/thresholds.c), twice its trimming threshold, so a 16 MiB
 * machine can start processes too. */

NTSTATUS PsCreateProcess(const char *image, const char *cmdline, PEPROCESS parent, PEPROCESS *out)
{
    if (MmAvailablePages < MmProcessCreateReservePages)
        return STATUS_INSUFFICIENT_RESOURCES;
    PEPROCESS p;
    NTSTATUS s = ObCreateObject(PsProcessType, NULL, sizeof(*p), (PVOID *)&p);   /* zeroed; the caller's reference */
    if (!NT_SUCCESS(s))
        return s;
    ObReferenceObject(p);   /* and its own "alive" one, dropped when it has ended */
    p->Header.Type = KeProcessObject;
    InitializeListHead(&p->Header.WaitListHead);
    ObpInitializeHandleTable(&p->ObjectTable);
    p->ExitStatus = STATUS_PENDING;
    p->UniqueProcessId = __atomic_fetch_add(&next_pid, 4, __ATOMIC_RELAXED);
    p->ParentId = parent ? parent->UniqueProcessId : 0;
    strlcpy(p->ImageName, image, sizeof(p->ImageName));
    strlcpy(p->CommandLine, cmdline ? cmdline : "", sizeof(p->CommandLine));
    s = MmCreateAddressSpace(p);
    if (!NT_SUCCESS(s)) {
        ObDereferenceObject(p);
        ObDereferenceObject(p);
        return s;
    }
    /* Build the address space from inside it. */
    PEPROCESS saved;
    ULONG64 entry = 0, stack = 0;
    KeStackAttachProcess(p, &saved);
    s = MmMapImage(p, image, &entry, &stack);
    if (!NT_SUCCESS(s))
        MmDeleteAddressSpace(p);
    KeUnstackDetachProcess(&saved);
    if (!NT_SUCCESS(s)) {
        ObDereferenceObject(p);   /* both references: the delete frees the root */
        ObDereferenceObject(p);
        return s;
    }
    /* At DISPATCH_LEVEL the new (ready) thread cannot run before its entry
     * point and stack are filled in below. */
    KIRQL dispatch = KeRaiseIrqlToDpcLevel();
    PKTHREAD t = KiCreateThread(KiUserThreadStart, NULL, KI_DEFAULT_PRIORITY, image, p);
    if (!t) {
        KeLowerIrql(dispatch);
        KeStackAttachProcess(p, &saved);
        MmDeleteAddressSpace(p);
        KeUnstackDetachProcess(&saved);
        ObDereferenceObject(p);
        ObDereferenceObject(p);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    t->UserEntry = entry;
    t->UserStack = stack;
    p->Thread = t;
    KeAcquireSpinLockAtDpcLevel(&process_list_lock);
    InsertTailList(&PsActiveProcessHead, &p->ProcessListEntry);
    KeReleaseSpinLockFromDpcLevel(&process_list_lock);
    *out = p;
    KeLowerIrql(dispatch);
    return STATUS_SUCCESS;
}

/* ---- the end of a process ---- */

void PsExitCurrentProcess(NTSTATUS status)
{
    PKTHREAD t = KeGetCurrentThread();
    PEPROCESS p = t->Process;
    ASSERT(p != &PsInitialSystemProcess);
    p->Exiting = TRUE;
    p->ExitStatus = status;
    /* Its I/O first, as NT's thread rundown does: every request still
     * outstanding is cancelled and waited for (bounded), so the drivers
     * give back the pages they hold locked before they are checked. Then
     * its handles, while the process and its address space are still
     * whole (a file's CloseProcedure sends IRP_MJ_CLEANUP in the closing
     * process). */
    IoCancelThreadIo(t);
    ObKillProcess(p);
    /* A driver still holding this process's pages locked is a bug the
     * driver would otherwise turn into memory corruption later. */
    ULONG_PTR site;
    PMDL still = p->LockedPages && MiVerifierEnabled ? MiFindMdlLockedInProcess(p, &site) : NULL;
    if (still) {
        /* With the verifier's tracking, name the MDL and who locked it. */
        MmDumpMdl(still);
        /* NT's 0xCB: P1 the lock-tracking record, P3 the MDL, P4 its locked pages. */
        KeBugCheckRule(DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS, (ULONG_PTR)MiTrackMdl(still, FALSE), 0,
                       (ULONG_PTR)still, ADDRESS_AND_SIZE_TO_SPAN_PAGES(still->ByteOffset, still->ByteCount),
                       "process %s (pid %llu) ended while MDL %p (locked by %p) still locks %d of its pages; "
                       "every MmProbeAndLockPages needs its MmUnlockPages before the process can go", p->ImageName,
                       (unsigned long long)p->UniqueProcessId, still, (void *)site, (int)p->LockedPages);
    }
    if (p->LockedPages)
        KeBugCheckRule(PROCESS_HAS_LOCKED_PAGES, 0, (ULONG_PTR)p, (ULONG_PTR)p->LockedPages, 0,
                       "process %s (pid %llu) ended with %d pages still locked by an MDL; every "
                       "MmProbeAndLockPages needs its MmUnlockPages first", p->ImageName,
                       (unsigned long long)p->UniqueProcessId, (int)p->LockedPages);
    KeEnterGuardedRegion();   /* no APC once the address space goes: KeTerminateThread runs the queue down */
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    MmDeleteAddressSpace(p);
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    KIRQL old = KeRaiseIrqlToDpcLevel();
    t->ActiveProcess = &PsInitialSystemProcess;
    write_cr3(PsInitialSystemProcess.DirectoryTableBase);
    KeLowerIrql(old);
    old = PsAcquireProcessListLock();
    RemoveEntryList(&p->ProcessListEntry);
    PsReleaseProcessListLock(old);
    t->Process = &PsInitialSystemProcess;
    old = KiAcquireDispatcherLock();
    p->Header.SignalState = 1;
    KiWaitTest(&p->Header);
    KiReleaseDispatcherLock(old);
    PsDereferenceProcess(p);           /* the process's own "alive" reference */
    KeDereferenceThread(t);            /* nobody joins a user thread: drop the creator's reference */
    PsTerminateSystemThread(status);
}

/* A user-mode exception nobody handles ends the process, with a line that
 * says what happened. */
void PsRaiseUserException(PKTRAP_FRAME f, NTSTATUS status, ULONG64 address)
{
    PEPROCESS p = PsGetCurrentThreadProcess();
    const char *what = status == STATUS_ACCESS_VIOLATION ? "access violation"
                       : status == STATUS_STACK_OVERFLOW ? "stack overflow"
                       : status == STATUS_ILLEGAL_INSTRUCTION ? "illegal instruction"
                       : status == STATUS_INTEGER_DIVIDE_BY_ZERO ? "divide by zero"
                       : status == STATUS_GUARD_PAGE_VIOLATION ? "guard page"
                       : status == STATUS_SINGLE_STEP ? "single step"
                       : status == STATUS_BREAKPOINT ? "breakpoint" : "exception";
    kprintf("process %s (pid %llu) ended: %s (%#x) at address %p, RIP %p\n", p->ImageName,
            (unsigned long long)p->UniqueProcessId, what, (unsigned)status, (void *)address, (void *)f->rip);
    sti();
    PsExitCurrentProcess(status);
}

/* Ending another process: its thread may be running user code, or waiting
 * in the kernel. Either way it must end itself, in its own address space:
 * we set the request, wake it if it waits, and it exits at its next
 * return towards ring 3 (the clock interrupt guarantees one comes). */
NTSTATUS PsTerminateProcess(PEPROCESS p, NTSTATUS status)
{
    if (p->Exiting)
        return STATUS_PROCESS_IS_TERMINATING;
    KIRQL old = KiAcquireDispatcherLock();
    if (!p->TerminateRequested) {
        p->TerminateStatus = status;
        p->TerminateRequested = TRUE;
        PKTHREAD t = p->Thread;
        if (t) {
            t->AbortUserWait = TRUE;
            if (t->State == ThreadWaiting && t->UserWait)
                KiUnwaitThread(t, STATUS_PROCESS_IS_TERMINATING);   /* a wait on behalf of user mode ends */
        }
    }
    KiReleaseDispatcherLock(old);
    return STATUS_SUCCESS;
}

void PsCheckTermination(PKTRAP_FRAME f)
{
    PKTHREAD t = KeGetCurrentThread();
    PEPROCESS p = t->Process;
    if (!(f->cs & 3) || p == &PsInitialSystemProcess || !p->TerminateRequested || p->Exiting)
        return;
    sti();
    PsExitCurrentProcess(p->TerminateStatus);
}

/* Long kernel work on behalf of ring 3 (walks over a user-sized range)
 * asks this in its loop: a process being ended must not stay in the kernel
 * for as long as the range it named, since termination itself only acts on
 * the way back to ring 3. */
BOOLEAN PsTerminationPending(void)
{
    PEPROCESS p = PsGetCurrentThreadProcess();   /* the thread's own, not one it is attached to */
    return p != &PsInitialSystemProcess && p->TerminateRequested && !p->Exiting;
}

/* A system thread ends: nothing of a process to tear down (it belongs to
 * the System process), so the kernel ends the thread. */
void PsTerminateSystemThread(NTSTATUS status)
{
    KeTerminateThread(status);
}
