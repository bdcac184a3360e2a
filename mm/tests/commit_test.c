/* Commit (mm/commit.c) and frames for committed memory (mm/pfn.c): the
 * limit refuses, promised frames stay promised, a charged allocation waits
 * for a frame instead of failing, and a frame that never comes is a
 * bugcheck naming the rule, not a hang. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "mm/tests/frames_test_util.h"

#define TAG_TEST POOL_TAG('C', 'm', 't', 'T')

static MT_HELD_FRAMES drained_frames;
static KEVENT drained;

static void give_one_back_later(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    KeWaitForSingleObject(&drained, Executive, KernelMode, FALSE, NULL);
    LARGE_INTEGER d = { -KI_MS(200) };
    KeDelayExecutionThread(KernelMode, FALSE, &d);
    MtReleaseFrame(&drained_frames);   /* one frame back; the test gives back the rest */
}

/* Item 4: a fault that needs a frame when there is none waits for one
 * (here another thread frees one 200 ms later) instead of failing with
 * STATUS_NO_MEMORY and killing the process. */
KTEST(commit, charged_allocation_waits_for_a_frame)
{
    KeInitializeEvent(&drained, NotificationEvent, FALSE);
    PKTHREAD t = KeCreateSystemThread(give_one_back_later, NULL, KI_DEFAULT_PRIORITY, "giver");
    KT_ASSERT(t != NULL);
    ULONG64 waits = MiFrameWaits;
    drained_frames = (MT_HELD_FRAMES){ 0 };
    MtHoldFramesWhileAvailable(&drained_frames, 0);
    PFN_NUMBER n = drained_frames.Count;
    ULONG64 avail_then = MmAvailablePages;   /* nothing left for the allocation below */
    KeSetEvent(&drained, 0, FALSE);
    KT_GT(n, 1000);
    PFN_NUMBER got = MiAllocatePfn(MiUsageUser, TRUE);   /* waits for the giver */
    MtReleaseFrames(&drained_frames);
    KT_NE(got, 0);
    KT_EQ(avail_then, 0);
    KT_EQ(MiFrameWaits, waits + 1);
    MiFreePfn(got);
    KT_EQ(KeWaitForSingleObject(t, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
    KeDereferenceThread(t);
    LARGE_INTEGER d = { -KI_MS(1) };   /* let the giver's stack be reaped */
    KeDelayExecutionThread(KernelMode, FALSE, &d);
}

/* ... and when no frame can ever come (an accounting bug), the wait ends
 * in NO_PAGES_AVAILABLE (0x4D) with the rule in words: P2 = 0 available. */
KTEST_BUGCHECK(commit, frame_that_never_comes_is_0x4d, NO_PAGES_AVAILABLE, KT_ANY, 0, KT_ANY, KT_ANY)
{
    MT_HELD_FRAMES held = { 0 };
    MiFrameWaitLimitMs = 300;   /* the rule, sooner */
    MtHoldFramesWhileAvailable(&held, 0);
    MiAllocatePfn(MiUsageUser, TRUE);
}

/* Item 3: the limit refuses the charge that would pass it, and the frames
 * promised are not handed to uncharged users (pool, kernel stacks) either -
 * while charged users still get theirs. Everything comes back. */
KTEST(commit, promised_frames_are_kept_for_committed_memory)
{
    ULONG64 c0 = MmTotalCommittedPages;
    ULONG64 room = MiCommitLimit() - MmTotalCommittedPages;
    KT_GT(room, 1000);
    KT_LT(MiCommitLimit(), MmNumberOfPhysicalPages);
    KT_ASSERT(!MiChargeCommitment(NULL, room + 1));
    KT_EQ(MmTotalCommittedPages, c0);
    KT_ASSERT(MiChargeCommitment(NULL, room));
    KT_ASSERT(!MiChargeCommitment(NULL, 1));
    KT_EQ(MiAllocatePfn(MiUsageKernelStack, TRUE), 0);
    PVOID big = ExAllocatePoolWithTag(NonPagedPoolNx, 3 * PAGE_SIZE, TAG_TEST);
    PFN_NUMBER user = MiAllocatePfn(MiUsageUser, TRUE);   /* a promise being kept: no wait, no refusal */
    ULONG64 waits = MiFrameWaits;
    MiReturnCommitment(NULL, room);
    KT_ASSERT(big == NULL);
    KT_NE(user, 0);
    KT_EQ(MiFrameWaits, waits);
    MiFreePfn(user);
    KT_EQ(MmTotalCommittedPages, c0);
    big = ExAllocatePoolWithTag(NonPagedPoolNx, 3 * PAGE_SIZE, TAG_TEST);
    KT_ASSERT(big != NULL);
    ExFreePoolWithTag(big, TAG_TEST);
}

/* Item 2: counting (or walking) a user range costs what is mapped: the
 * whole empty user half of the system process is a handful of steps, and
 * the table count is exact (one PDPT per 512 GiB, one PD per GiB, one PT
 * per 2 MiB). */
KTEST(commit, count_of_a_huge_empty_range_is_exact)
{
    ULONG64 first = 0x10, last = (0x00007FFFFFFEFFFFULL >> PAGE_SHIFT), pages, tables;
    KT_EQ(MiGetPxeAddress((PVOID)0)->u.Long & MI_PTE_VALID, 0);   /* the system process has no user tables */
    MiCountUncommitted(first, last, &pages, &tables);
    KT_EQ(pages, last - first + 1);
    KT_EQ(tables, (last >> 27) + 1 + (last >> 18) + 1 + (last >> 9) + 1);
    ULONG64 same;
    KT_EQ(MiReadUserPte(first, &same), 0);
    KT_EQ(same, (1ULL << 27) - 1);   /* the whole first 512 GiB read as nothing, in one step */
}
