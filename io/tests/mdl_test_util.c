/* Helpers shared by the MDL tests: see mdl_test_util.h. */
#include "io/tests/mdl_test_util.h"

static PEPROCESS attached;
static PEPROCESS attach_saved;

void MdlTestSleep(ULONG Ms)
{
    LARGE_INTEGER d = { -KI_MS(Ms) };
    KeDelayExecutionThread(KernelMode, FALSE, &d);
}

void MdlTestAttach(PEPROCESS Process)
{
    ASSERT(!attached);
    KeStackAttachProcess(Process, &attach_saved);
    attached = Process;
}

void MdlTestDetach(void)
{
    ASSERT(attached);
    KeUnstackDetachProcess(&attach_saved);
    attached = NULL;
}

void MdlTestUnwind(void)
{
    if (attached)
        MdlTestDetach();
}

NTSTATUS MdlTestReadUser(PVOID Dst, ULONG64 UserVa, SIZE_T Bytes)
{
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        ExCopyFromUser(Dst, (const void *)UserVa, Bytes);
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    return s;
}

NTSTATUS MdlTestWriteUser(ULONG64 UserVa, const void *Src, SIZE_T Bytes)
{
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        ExCopyToUser((void *)UserVa, Src, Bytes);
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    return s;
}

NTSTATUS MdlTestWaitProcess(PEPROCESS Process, ULONG Ms)
{
    LARGE_INTEGER t = { -KI_MS(Ms) };
    NTSTATUS s = KeWaitForSingleObject(Process, Executive, KernelMode, FALSE, &t);
    return s == STATUS_TIMEOUT ? STATUS_TIMEOUT : STATUS_SUCCESS;
}

NTSTATUS MdlTestStartTarget(PEPROCESS *Out, MT_CONTROL *Ctl)
{
    PEPROCESS p;
    NTSTATUS s = PsCreateProcess("mdltarget", "mdltarget", NULL, &p);
    if (!NT_SUCCESS(s))
        return s;
    for (int i = 0; i < 1000; i++) {
        MdlTestSleep(10);   /* it runs while we sleep */
        if (p->Exiting || p->ExitStatus != STATUS_PENDING)
            break;          /* it failed its set-up: its exit status says which step */
        MT_CONTROL c;
        memset(&c, 0, sizeof(c));
        MdlTestAttach(p);
        NTSTATUS r = MdlTestReadUser(&c, MT_CTL_BASE, sizeof(c));
        MdlTestDetach();
        if (NT_SUCCESS(r) && c.Magic == MT_READY_MAGIC) {
            *Ctl = c;
            *Out = p;
            return STATUS_SUCCESS;
        }
    }
    kprintf("mdltest: mdltarget did not get ready (exit status %#x)\n", (unsigned)p->ExitStatus);
    NTSTATUS e = p->ExitStatus;
    MdlTestStopTarget(p);
    return e == STATUS_PENDING ? STATUS_TIMEOUT : STATUS_UNSUCCESSFUL;
}

NTSTATUS MdlTestStopTarget(PEPROCESS Process)
{
    PsTerminateProcess(Process, STATUS_SUCCESS);
    NTSTATUS s = MdlTestWaitProcess(Process, 10000);
    if (s == STATUS_SUCCESS)
        s = Process->ExitStatus;
    PsDereferenceProcess(Process);
    MdlTestSleep(2);   /* let its thread's stack be reaped before the leak check */
    return s;
}

NTSTATUS MdlTestProbe(PMDL Mdl, KPROCESSOR_MODE Mode, LOCK_OPERATION Op)
{
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        MmProbeAndLockPages(Mdl, Mode, Op);
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    return s;
}

NTSTATUS MdlTestMap(PMDL Mdl, KPROCESSOR_MODE Mode, MEMORY_CACHING_TYPE Cache, PVOID Requested, ULONG Priority,
                    PVOID *Out)
{
    volatile NTSTATUS s = STATUS_SUCCESS;
    PVOID volatile va = NULL;
    ExTry {
        va = MmMapLockedPagesSpecifyCache(Mdl, Mode, Cache, Requested, FALSE, Priority);
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    *Out = va;
    return s;
}

ULONG64 MdlTestPteOf(const void *Va)
{
    if (!MiIsPteAccessible(Va))
        return 0;
    return MiGetPteAddress(Va)->u.Long;
}

PFN_NUMBER MdlTestPfnOf(const void *Va)
{
    ULONG64 v = MdlTestPteOf(Va);
    return (v & MI_PTE_VALID) ? MI_PTE_PFN(v) : 0;
}
