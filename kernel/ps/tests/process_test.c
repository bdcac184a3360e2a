/*
 * Processes seen from the kernel: they start from GRUB modules built from
 * user/, run in ring 3, end, and leave nothing behind. (The user-mode
 * side of these behaviours is tested from ring 3 by user/tests.)
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

static NTSTATUS run(const char *image, const char *cmdline, PEPROCESS *keep)
{
    PEPROCESS p;
    NTSTATUS s = PsCreateProcess(image, cmdline, NULL, &p);
    if (!NT_SUCCESS(s))
        return s;
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    s = p->ExitStatus;
    if (keep)
        *keep = p;
    else
        PsDereferenceProcess(p);
    return s;
}

KTEST(process, runs_in_ring3_and_exits_cleanly)
{
    ULONG64 calls = 0;
    extern ULONG64 KiSystemCalls;
    calls = KiSystemCalls;
    KT_EQ((ULONG)run("hello", "hello from-a-ktest", NULL), 0);
    KT_GT(KiSystemCalls, calls);              /* it made system calls */
    KT_EQ((ULONG)run("no-such-image", "", NULL), (ULONG)STATUS_OBJECT_NAME_NOT_FOUND);
}

KTEST(process, a_fault_ends_only_that_process)
{
    KT_EQ((ULONG)run("crasher", "crasher null_write", NULL), (ULONG)STATUS_ACCESS_VIOLATION);
    KT_EQ((ULONG)run("crasher", "crasher kernel_read", NULL), (ULONG)STATUS_ACCESS_VIOLATION);
    KT_EQ((ULONG)run("crasher", "crasher write_text", NULL), (ULONG)STATUS_ACCESS_VIOLATION);
    KT_EQ((ULONG)run("crasher", "crasher exec_data", NULL), (ULONG)STATUS_ACCESS_VIOLATION);
    KT_EQ((ULONG)run("hello", "hello still-alive", NULL), 0);   /* and the system carries on */
}

KTEST(process, attach_sees_the_process_address_space)
{
    PEPROCESS p;
    KT_EQ((ULONG)PsCreateProcess("hello", "hello attach", NULL, &p), 0);
    /* Before its thread runs: attach, and read its entry point through
     * its own page tables (an image fault brings the page in). */
    PEPROCESS saved;
    UCHAR code[16];
    KeStackAttachProcess(p, &saved);
    KT_EQ(read_cr3(), p->DirectoryTableBase);
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        ExCopyFromUser(code, (const void *)p->Image->Entry, sizeof(code));
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    KeUnstackDetachProcess(&saved);
    KT_EQ((ULONG)s, 0);
    KT_NE(read_cr3(), p->DirectoryTableBase);
    /* Those bytes are the image file's bytes at the entry point. */
    const typeof(p->Image->Segment[0]) *seg = &p->Image->Segment[0];
    for (ULONG i = 0; i < p->Image->SegmentCount; i++)
        if (p->Image->Entry >= p->Image->Segment[i].Vaddr &&
            p->Image->Entry < p->Image->Segment[i].Vaddr + p->Image->Segment[i].Memsz)
            seg = &p->Image->Segment[i];
    KT_MEMEQ(code, p->Image->File + seg->Offset + (p->Image->Entry - seg->Vaddr), sizeof(code));
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    KT_EQ((ULONG)p->ExitStatus, 0);
    PsDereferenceProcess(p);
}

KTEST(process, two_hundred_processes_leak_nothing)
{
    PFN_NUMBER avail = MmAvailablePages;
    for (int i = 0; i < 200; i++) {
        NTSTATUS s = run("crasher", "crasher none", NULL);   /* a process that just exits */
        if (s != 0)
            KT_EQ((ULONG)s, 0);
    }
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    KT_GE(MmAvailablePages + 64, avail);   /* exact accounting is the leak check after this test */
}

KTEST_BUGCHECK(process, kernel_touching_user_memory_directly_is_caught, PAGE_FAULT_IN_NONPAGED_AREA, KT_ANY,
               KT_ANY, KT_ANY, 0)
{
    PEPROCESS p, saved;
    /* A process that stays (asleep): one that ran to its end meanwhile -
     * hello did, on a loaded machine - would take its pages with it, and
     * the read below would fault on a missing page (P4 2), not on SMAP. */
    PsCreateProcess("child", "child sleep 600000", NULL, &p);
    KeStackAttachProcess(p, &saved);
    UCHAR b;
    ExCopyFromUser(&b, (const void *)p->Image->Entry, 1);   /* the proper way: brings the page in */
    KtExpectParam(1, p->Image->Entry);
    volatile UCHAR direct = *(volatile UCHAR *)p->Image->Entry;   /* SMAP: a bug, not an exception */
    kprintf("read %u\n", direct);
}

/* PsGetCurrentProcess is the process whose address space the thread is in,
 * as on NT: the attached one (issue 8, item 12c; it returned the thread's
 * own). The thread's own stays PsGetCurrentThreadProcess. */
KTEST(process, current_process_while_attached)
{
    PEPROCESS p, saved;
    KT_EQ((ULONG)PsCreateProcess("hello", "hello attach-current", NULL, &p), 0);
    KT_EQ(PsGetCurrentProcess(), &PsInitialSystemProcess);
    KeStackAttachProcess(p, &saved);
    PEPROCESS attached = PsGetCurrentProcess(), own = PsGetCurrentThreadProcess();
    KeUnstackDetachProcess(&saved);
    KT_EQ(attached, p);
    KT_EQ(own, &PsInitialSystemProcess);
    KT_EQ(PsGetCurrentProcess(), &PsInitialSystemProcess);
    KT_EQ(PsGetCurrentThreadProcess(), &PsInitialSystemProcess);
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    PsDereferenceProcess(p);
}
