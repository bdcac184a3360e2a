/*
 * The course-staff test API (docs/testing.md, "The test API"): what a
 * hidden test needs from the memory manager and the process manager
 * without including a component's internals. Every routine here is a
 * thin, documented view of one kernel fact:
 *   - a frame's PFN entry: reference count (mappings and I/O, +1 per MDL
 *     lock), share count (valid PTEs mapping it), the list it is on;
 *   - a PTE's bits for an address in a process (read through the self-map
 *     while attached: the process's own page tables);
 *   - system PTEs in use, frames locked by MDLs;
 *   - a bare process to run code in the context of: an address space with
 *     an image mapped and no thread (what PsCreateProcess builds, without
 *     the thread), so the test alone decides when a page is touched.
 */
#include "kernel/ktest/kt_internal.h"

#define TAG_KT POOL_TAG('K', 't', 'P', 'r')

/* The processes tests made and have not deleted, and whether the test
 * thread is attached to one: kept here, not in the caller's KT_PROCESS,
 * which lives on a stack a failed assertion has already left. */
#define KT_MAX_PROCESSES 8
static struct {
    PEPROCESS Process;
    PEPROCESS Saved;
    BOOLEAN Attached;
} live[KT_MAX_PROCESSES];

static int slot_of(PEPROCESS p)
{
    for (int i = 0; i < KT_MAX_PROCESSES; i++)
        if (live[i].Process == p)
            return i;
    return -1;
}

static void delete_space(PEPROCESS p)
{
    PEPROCESS saved;
    KeStackAttachProcess(p, &saved);
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    MmDeleteAddressSpace(p);
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    KeUnstackDetachProcess(&saved);
    MmFreeAddressSpaceRoot(p);
    ExFreePoolWithTag(p, TAG_KT);
}

/* At the end of every test: detach, then delete what is left. */
static void test_ended(void)
{
    for (int i = KT_MAX_PROCESSES - 1; i >= 0; i--)
        if (live[i].Process && live[i].Attached) {
            KeUnstackDetachProcess(&live[i].Saved);
            live[i].Attached = FALSE;
        }
    for (int i = 0; i < KT_MAX_PROCESSES; i++)
        if (live[i].Process) {
            delete_space(live[i].Process);
            live[i].Process = NULL;
        }
}

BOOLEAN KtFrameInfo(ULONG64 Pfn, KT_FRAME *Out)
{
    memset(Out, 0, sizeof(*Out));
    if (Pfn > MmHighestPhysicalPage || !MiIsPfnRam(Pfn))
        return FALSE;
    /* A snapshot under the PFN lock: the fields agree with each other. */
    KIRQL old;
    old = MiAcquirePfnLock();
    PMMPFN e = MI_PFN_ELEMENT(Pfn);
    Out->ReferenceCount = e->ReferenceCount;
    Out->ShareCount = e->ShareCount;
    Out->List = e->PageLocation;
    Out->Usage = (ULONG)e->Usage;
    Out->Modified = e->Modified;
    Out->PrototypePte = e->PrototypePte;
    MiReleasePfnLock(old);
    return TRUE;
}

ULONG KtPfnShareCount(ULONG64 Pfn)
{
    KT_FRAME f;
    return KtFrameInfo(Pfn, &f) ? f.ShareCount : 0xFFFFFFFFu;
}

const char *KtFrameListName(ULONG List)
{
    static const char *const names[] = { "Zeroed", "Free", "Standby", "Modified", "ModifiedNoWrite", "Bad",
                                         "Active", "Transition" };
    return List < ARRAYSIZE(names) ? names[List] : "?";
}

ULONG KtSystemPtesInUse(void)
{
    return MiSystemPtesInUse();
}

ULONG64 KtLockedPages(void)
{
    return MiMdlLockedFrames;
}

NTSTATUS KtCreateProcess(const char *Image, KT_PROCESS *Out)
{
    memset(Out, 0, sizeof(*Out));
    KtRegisterTestEndHook(test_ended);
    int slot = slot_of(NULL);
    if (slot < 0)
        return STATUS_INSUFFICIENT_RESOURCES;   /* KT_MAX_PROCESSES at once */
    PEPROCESS p = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*p), TAG_KT);
    if (!p)
        return STATUS_INSUFFICIENT_RESOURCES;
    memset(p, 0, sizeof(*p));
    p->Header.Type = KeProcessObject;   /* what it is: GDB's vad, ws and ps accept it by address */
    strlcpy(p->ImageName, Image, sizeof(p->ImageName));
    NTSTATUS s = MmCreateAddressSpace(p);
    if (!NT_SUCCESS(s)) {
        ExFreePoolWithTag(p, TAG_KT);
        return s;
    }
    PEPROCESS saved;
    KeStackAttachProcess(p, &saved);
    s = MmMapImage(p, Image, &Out->Entry, &Out->StackTop);
    KeUnstackDetachProcess(&saved);
    Out->Process = p;
    Out->Cr3 = p->DirectoryTableBase;
    live[slot].Process = p;
    if (!NT_SUCCESS(s))
        KtDeleteProcess(Out);
    return s;
}

void KtDeleteProcess(KT_PROCESS *P)
{
    PEPROCESS p = P->Process;
    if (!p)
        return;
    if (P->Attached)
        KtDetach(P);
    int slot = slot_of(p);
    if (slot >= 0)
        live[slot].Process = NULL;
    delete_space(p);
    P->Process = NULL;
}

void KtAttach(KT_PROCESS *P)
{
    ASSERT(!P->Attached);
    int slot = slot_of(P->Process);
    ASSERT(slot >= 0);
    KeStackAttachProcess(P->Process, &live[slot].Saved);
    live[slot].Attached = TRUE;
    P->Attached = TRUE;
}

void KtDetach(KT_PROCESS *P)
{
    ASSERT(P->Attached);
    int slot = slot_of(P->Process);
    ASSERT(slot >= 0 && live[slot].Attached);
    KeUnstackDetachProcess(&live[slot].Saved);
    live[slot].Attached = FALSE;
    P->Attached = FALSE;
}

/* Run FN in P's address space: attached already, or for the call. */
#define IN_PROCESS(P, stmt)                  \
    do {                                     \
        BOOLEAN was_ = (P)->Attached;        \
        if (!was_)                           \
            KtAttach(P);                     \
        stmt;                                \
        if (!was_)                           \
            KtDetach(P);                     \
    } while (0)

static NTSTATUS copy_user(ULONG64 Va, void *Buf, SIZE_T Bytes, BOOLEAN Write)
{
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        if (Write)
            ExCopyToUser((void *)Va, Buf, Bytes);
        else
            ExCopyFromUser(Buf, (const void *)Va, Bytes);
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    return s;
}

NTSTATUS KtReadUser(KT_PROCESS *P, ULONG64 Va, void *Buf, SIZE_T Bytes)
{
    NTSTATUS s;
    IN_PROCESS(P, s = copy_user(Va, Buf, Bytes, FALSE));
    return s;
}

NTSTATUS KtWriteUser(KT_PROCESS *P, ULONG64 Va, const void *Buf, SIZE_T Bytes)
{
    NTSTATUS s;
    IN_PROCESS(P, s = copy_user(Va, (void *)Buf, Bytes, TRUE));
    return s;
}

/* NtAllocateVirtualMemory takes its in-out base and size in user memory,
 * as from ring 3: they go in the top 16 bytes of the process's stack
 * region (committed, demand zero), which nothing else uses in a process
 * without a thread. */
static NTSTATUS range_call(KT_PROCESS *P, ULONG64 *Va, SIZE_T *Size, ULONG Type, ULONG Protect, BOOLEAN Free)
{
    ULONG64 args = P->StackTop - 16, in[2] = { *Va, *Size }, out[2] = { 0, 0 };
    NTSTATUS s = copy_user(args, in, sizeof(in), TRUE);
    if (NT_SUCCESS(s))
        s = Free ? NtFreeVirtualMemory(NtCurrentProcess(), (PVOID *)args, (PSIZE_T)(args + 8), Type)
                 : NtAllocateVirtualMemory(NtCurrentProcess(), (PVOID *)args, 0, (PSIZE_T)(args + 8), Type, Protect);
    if (NT_SUCCESS(s))
        s = copy_user(args, out, sizeof(out), FALSE);
    if (NT_SUCCESS(s)) {
        *Va = out[0];
        *Size = out[1];
    }
    return s;
}

NTSTATUS KtAllocateUser(KT_PROCESS *P, SIZE_T Bytes, ULONG Protect, ULONG64 *Va)
{
    NTSTATUS s;
    SIZE_T size = Bytes;
    *Va = 0;
    IN_PROCESS(P, s = range_call(P, Va, &size, MEM_RESERVE | MEM_COMMIT, Protect, FALSE));
    return s;
}

NTSTATUS KtFreeUser(KT_PROCESS *P, ULONG64 Va)
{
    NTSTATUS s;
    SIZE_T size = 0;
    IN_PROCESS(P, s = range_call(P, &Va, &size, MEM_RELEASE, 0, TRUE));
    return s;
}

ULONG64 KtPteOf(KT_PROCESS *P, ULONG64 Va)
{
    ULONG64 v = 0;
    /* The self-map shows the page tables of the address space in CR3. */
    IN_PROCESS(P, if (MiIsPteAccessible((PVOID)Va)) v = MiGetPteAddress((PVOID)Va)->u.Long);
    return v;
}

ULONG64 KtKernelPteOf(const void *Va)
{
    return MiIsPteAccessible(Va) ? MiGetPteAddress(Va)->u.Long : 0;
}

/* ---- the PFN lab (docs/labs/pfn.md): frames a test owns outright ----
 * A test of page-list code needs real frames whose PFN entries it may set
 * to any state - on a lab list, unreferenced, with links that are wrong on
 * purpose - which no kernel list holds. KtTakeFrames hands out test frames
 * (usage "test": in use, one reference); KtReturnFrames puts every entry
 * back to that state and frees the frames, whatever the test or the code
 * under test left in them. A test that fails half way gets them back at
 * its end (the end hook), as a process it made. */
#define KT_MAX_TAKEN_FRAMES 64
static PFN_NUMBER taken[KT_MAX_TAKEN_FRAMES];
static ULONG taken_count;

static BOOLEAN frame_is_taken(ULONG64 pfn)
{
    for (ULONG i = 0; i < taken_count; i++)
        if (taken[i] == pfn)
            return TRUE;
    return FALSE;
}

void KtReturnFrames(void)
{
    KIRQL old = MiAcquirePfnLock();
    for (ULONG i = 0; i < taken_count; i++) {
        PMMPFN e = MI_PFN_ELEMENT(taken[i]);
        /* Back to exactly what MiAllocatePfn made of it; Usage stays
         * "test", which is what MiUsageCount counted it as. */
        memset(e, 0, sizeof(*e));
        e->Flink = e->Blink = MI_PFN_LIST_END;
        e->PageLocation = ActiveAndValid;
        e->ReferenceCount = 1;
        e->Usage = MiUsageTest;
        MiFreePfnLocked(taken[i]);
    }
    taken_count = 0;
    MiReleasePfnLock(old);
}

NTSTATUS KtTakeFrames(ULONG Count, ULONG64 *Pfns)
{
    KtRegisterTestEndHook(KtReturnFrames);
    if (Count > KT_MAX_TAKEN_FRAMES - taken_count)
        return STATUS_INSUFFICIENT_RESOURCES;
    for (ULONG i = 0; i < Count; i++) {
        PFN_NUMBER pfn = MiAllocatePfn(MiUsageTest, FALSE);
        if (!pfn)
            return STATUS_INSUFFICIENT_RESOURCES;   /* the ones taken so far go back with the rest */
        taken[taken_count++] = pfn;
        Pfns[i] = pfn;
    }
    return STATUS_SUCCESS;
}

BOOLEAN KtFrameLinks(ULONG64 Pfn, ULONG64 *Flink, ULONG64 *Blink)
{
    *Flink = *Blink = 0;
    if (Pfn > MmHighestPhysicalPage || !MiIsPfnRam(Pfn))
        return FALSE;
    KIRQL old = MiAcquirePfnLock();
    *Flink = MI_PFN_ELEMENT(Pfn)->Flink;
    *Blink = MI_PFN_ELEMENT(Pfn)->Blink;
    MiReleasePfnLock(old);
    return TRUE;
}

/* Through a hyperspace slot: the kernel maps no frame it does not use. */
static NTSTATUS frame_copy(ULONG64 Pfn, ULONG Offset, void *Buf, ULONG Bytes, BOOLEAN Write)
{
    if (Pfn > MmHighestPhysicalPage || !MiIsPfnRam(Pfn) || Offset > PAGE_SIZE || Bytes > PAGE_SIZE - Offset)
        return STATUS_INVALID_PARAMETER;
    if (Write && !frame_is_taken(Pfn))
        return STATUS_ACCESS_DENIED;   /* only a frame the test owns may be written */
    KIRQL old;
    PUCHAR p = MiMapPageInHyperspace(Pfn, &old);
    if (Write)
        memcpy(p + Offset, Buf, Bytes);
    else
        memcpy(Buf, p + Offset, Bytes);
    MiUnmapPageInHyperspace(p, old);
    return STATUS_SUCCESS;
}

NTSTATUS KtReadFrame(ULONG64 Pfn, ULONG Offset, void *Buf, ULONG Bytes)
{
    return frame_copy(Pfn, Offset, Buf, Bytes, FALSE);
}

NTSTATUS KtWriteFrame(ULONG64 Pfn, ULONG Offset, const void *Buf, ULONG Bytes)
{
    return frame_copy(Pfn, Offset, (void *)Buf, Bytes, TRUE);
}

/* ---- the fault lab's additions (docs/labs/fault.md) ---- */

void KtRouteFaultsToLab(KT_PROCESS *P, BOOLEAN On)
{
    /* Read by MiDispatchFault under the address-space lock: set it under it. */
    PEPROCESS p = P->Process;
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    p->Vm.LabFaults = On;
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
}

void KtFaultCounters(KT_PROCESS *P, KT_FAULTS *Out)
{
    PEPROCESS p = P->Process;
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    const PROCESS_FAULT_COUNTERS_T *c = &p->Vm.Counters;
    Out->DemandZero = c->DemandZeroFaults;
    Out->Soft = c->SoftFaults;
    Out->CopyOnWrite = c->CopyOnWriteFaults;
    Out->Image = c->ImageFaults;
    Out->Hard = c->HardFaults;
    Out->WorkingSetSize = p->Vm.Count;
    Out->PrivatePages = c->PrivatePages;
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
}

ULONG64 KtCommitCharge(KT_PROCESS *P)
{
    return __atomic_load_n(&P->Process->CommitCharge, __ATOMIC_RELAXED);
}

BOOLEAN KtInWorkingSet(KT_PROCESS *P, ULONG64 Va)
{
    /* The list holds page-aligned VAs, changed under the address-space lock. */
    PEPROCESS p = P->Process;
    PVOID page = (PVOID)(Va & ~(ULONG64)(PAGE_SIZE - 1));
    BOOLEAN found = FALSE;
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    for (ULONG i = 0; i < p->Vm.Count && !found; i++)
        found = p->Vm.List[i] == page;
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    return found;
}

ULONG64 KtImageWritablePage(KT_PROCESS *P)
{
    PMI_IMAGE im = P->Process->Image;
    for (ULONG i = 0; im && i < im->SegmentCount; i++) {
        ULONG prot = im->Segment[i].Protection;
        if (prot == PAGE_WRITECOPY || prot == PAGE_EXECUTE_WRITECOPY)
            return im->Segment[i].Vaddr & ~(ULONG64)(PAGE_SIZE - 1);
    }
    return 0;
}

NTSTATUS KtRunProgram(const char *Image, BOOLEAN LabFaults, NTSTATUS *ExitStatus, KT_FAULTS *Counters)
{
    PEPROCESS p;
    memset(Counters, 0, sizeof(*Counters));
    *ExitStatus = STATUS_PENDING;
    if (LabFaults)
        MiLabRouteNextAddressSpace(KeGetCurrentThread());
    NTSTATUS s = PsCreateProcess(Image, Image, NULL, &p);
    MiLabRouteNextAddressSpace(NULL);   /* claimed by now, or creation failed first */
    if (!NT_SUCCESS(s))
        return s;
    LARGE_INTEGER limit = { -KI_MS(30000) };
    if (KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &limit) == STATUS_TIMEOUT) {
        PsTerminateProcess(p, STATUS_TIMEOUT);
        KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
        s = STATUS_TIMEOUT;
    }
    /* Ended: its address space is gone, its counters stay with the object. */
    const PROCESS_FAULT_COUNTERS_T *c = &p->Vm.Counters;
    Counters->DemandZero = c->DemandZeroFaults;
    Counters->Soft = c->SoftFaults;
    Counters->CopyOnWrite = c->CopyOnWriteFaults;
    Counters->Image = c->ImageFaults;
    Counters->Hard = c->HardFaults;
    Counters->WorkingSetSize = c->PeakWorkingSetSize;   /* 0 at the end: the peak says how far it got */
    Counters->PrivatePages = c->PrivatePages;
    *ExitStatus = p->ExitStatus;
    PsDereferenceProcess(p);
    return s;
}
