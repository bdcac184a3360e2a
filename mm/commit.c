/*
 * Commit: NT's promise that memory handed out can always be backed.
 *
 * Committing a page does not take a frame (the first touch does), but it
 * is a promise: when the page is touched, a frame must be there, because a
 * page fault has nobody to return an error to. NT keeps the promise by
 * counting: the commit charge (MmTotalCommittedPages) is every page
 * promised, the commit limit is what can be made available for them, and
 * a request that would pass the limit fails up front with
 * STATUS_COMMITMENT_LIMIT. The limit is the frames that are free (zeroed,
 * free, standby) plus those already backing charged pages, minus a reserve
 * for the kernel's own must-succeed frames (kernel page tables), plus the
 * slots of every paging file (mm/pagefile.c): RAM plus the pagefiles.
 *
 * What charges (and why):
 *   - committed private pages (NtAllocateVirtualMemory MEM_COMMIT, the
 *     stack's committed pages and each page the stack grows by): touched
 *     later, so promised now;
 *   - user page tables, PML4 included: each private commit charges the
 *     tables it builds (counted exactly before anything is built), process
 *     creation charges the PML4 and the tables its image and stack will
 *     need (TableReserve, used up as the image faults them in);
 *   - the writable pages of an image, at map time (NT does the same): a
 *     write to any of them makes a private copy;
 *   - the image cache: every page of every boot image, once, since the
 *     image's frames stay in memory for the next process that runs it.
 * What does not: nonpaged and paged pool, kernel stacks, driver pages
 * (MmAllocatePagesForMdlEx). They take a frame at once, so they need no
 * promise - but they must not take a frame promised to somebody else:
 * MiAllocatePfn refuses them when the frames left would not cover what is
 * promised (MiUnchargedFrameAllowed), and they fail with a status.
 *
 * The charge is given back exactly: decommit/release return the pages they
 * remove, a freed page table its page, process exit the rest, and a process
 * whose charge is not 0 at its end is a memory-manager bug (0x1A).
 */
#include "kernel/ps/psp.h"

volatile ULONG64 MmTotalCommittedPages, MmPeakCommitment;
volatile ULONG64 MiUserPageTables;
/* Guards the charge, the peak, MiUserPageTables and each process's
 * CommitCharge and TableReserve, so that checking the headroom and taking
 * the charge are one step. A leaf (docs/mm.md §6): it may be taken under
 * the PFN lock, and nothing is taken under it. The headroom reads
 * MmAvailablePages and MiUsageCount without the PFN lock: a value a frame
 * off at worst, which the reserve absorbs. A zeroed KSPIN_LOCK is free. */
static KSPIN_LOCK commit_lock;

/* Frames now backing something that was charged: private and image pages
 * and user page tables. A private frame on the standby list is not one of
 * them: it is available (counted in MmAvailablePages), and its page lives
 * in its pagefile slot. Promised but not yet backed = charge - this. */
static ULONG64 backed_charged_frames(void)
{
    return MiUsageCount[MiUsageUser] - MiStandbyUserPages + MiUsageCount[MiUsageImage] + MiUserPageTables;
}

/* How many more pages may be promised (negative: already over). With
 * paging files, every slot can hold a charged page too - except those
 * holding paged pool, which is not charged (its frame came back to the
 * available count when it went out, so it is counted once). A charged page
 * is then in a frame, or in a slot (out, or on standby: the frame there is
 * available), or only promised; a resident page never keeps a slot (mm/pfn.c,
 * mm/pagefault.c), so no page is counted twice but for the few whose write
 * is in flight, which the reserve absorbs. */
static LONG64 headroom(void)
{
    LONG64 promised = (LONG64)MmTotalCommittedPages - (LONG64)backed_charged_frames();
    if (promised < 0)
        promised = 0;
    return (LONG64)MmAvailablePages - (LONG64)MI_COMMIT_RESERVE_PAGES - promised +
           (LONG64)(MiPageFileTotalSlots - MiPageFileSystemSlots);
}

ULONG64 MiCommitLimit(void)
{
    LONG64 l = (LONG64)MmTotalCommittedPages + headroom();
    return l < 0 ? 0 : (ULONG64)l;
}

BOOLEAN MiUnchargedFrameAllowed(void)
{
    return headroom() >= 1;
}

static void add_charge(PEPROCESS p, ULONG64 pages)
{
    MmTotalCommittedPages += pages;
    if (MmTotalCommittedPages > MmPeakCommitment)
        MmPeakCommitment = MmTotalCommittedPages;
    if (p)
        p->CommitCharge += pages;
}

BOOLEAN MiChargeCommitment(PEPROCESS p, ULONG64 pages)
{
    KIRQL old;
    KeAcquireSpinLock(&commit_lock, &old);
    LONG64 room = headroom();
    BOOLEAN ok = room >= 0 && pages <= (ULONG64)room;
    if (ok)
        add_charge(p, pages);
    KeReleaseSpinLock(&commit_lock, old);
    return ok;
}

void MiForceChargeCommitment(PEPROCESS p, ULONG64 pages)
{
    KIRQL old;
    KeAcquireSpinLock(&commit_lock, &old);
    add_charge(p, pages);
    KeReleaseSpinLock(&commit_lock, old);
}

void MiReturnCommitment(PEPROCESS p, ULONG64 pages)
{
    KIRQL old;
    KeAcquireSpinLock(&commit_lock, &old);
    if (pages > MmTotalCommittedPages || (p && pages > p->CommitCharge))
        KeBugCheckRule(MEMORY_MANAGEMENT, 0x41701, pages, MmTotalCommittedPages, p ? p->CommitCharge : 0,
                       "%llu pages of commit were given back by %s, more than was charged (%llu)",
                       (unsigned long long)pages, p ? p->ImageName : "the system",
                       (unsigned long long)(p ? p->CommitCharge : MmTotalCommittedPages));
    MmTotalCommittedPages -= pages;
    if (p)
        p->CommitCharge -= pages;
    KeReleaseSpinLock(&commit_lock, old);
}

void MiUserPageTableCreated(PEPROCESS p)
{
    KIRQL old;
    KeAcquireSpinLock(&commit_lock, &old);
    MiUserPageTables++;
    if (p->TableReserve)
        p->TableReserve--;   /* promised at commit or process creation: already charged */
    else
        add_charge(p, 1);    /* outside any promise (an MDL's user view): charged as it comes */
    KeReleaseSpinLock(&commit_lock, old);
}

void MiUserPageTableFreed(PEPROCESS p)
{
    KIRQL old;
    KeAcquireSpinLock(&commit_lock, &old);
    MiUserPageTables--;
    KeReleaseSpinLock(&commit_lock, old);
    MiReturnCommitment(p, 1);
}

/* ---- counting what a range still lacks, exactly, at the cost of what is mapped ----
 * Page numbers: bits 35..27 index the PML4, 26..18 the PDPT, 17..9 the PD. */
#define SPAN_PXE (1ULL << 27)
#define SPAN_PPE (1ULL << 18)
#define SPAN_PDE (1ULL << 9)

static ULONG64 tables_spanned(ULONG64 first, ULONG64 last, ULONG64 span)
{
    return last / span - first / span + 1;
}

static PMMPTE pxe_of(ULONG64 vpn) { return MiGetPxeAddress((PVOID)(vpn << PAGE_SHIFT)); }
static PMMPTE ppe_of(ULONG64 vpn) { return MiGetPpeAddress((PVOID)(vpn << PAGE_SHIFT)); }
static PMMPTE pde_of(ULONG64 vpn) { return MiGetPdeAddress((PVOID)(vpn << PAGE_SHIFT)); }

void MiCountUncommitted(ULONG64 first, ULONG64 last, ULONG64 *pages, ULONG64 *tables)
{
    ULONG64 np = 0, nt = 0;
    for (ULONG64 vpn = first; vpn <= last;) {
        ULONG64 end;
        if (!(pxe_of(vpn)->u.Long & MI_PTE_VALID)) {
            end = (vpn | (SPAN_PXE - 1)) < last ? (vpn | (SPAN_PXE - 1)) : last;
            nt += 1 + tables_spanned(vpn, end, SPAN_PPE) + tables_spanned(vpn, end, SPAN_PDE);
        } else if (!(ppe_of(vpn)->u.Long & MI_PTE_VALID)) {
            end = (vpn | (SPAN_PPE - 1)) < last ? (vpn | (SPAN_PPE - 1)) : last;
            nt += 1 + tables_spanned(vpn, end, SPAN_PDE);
        } else if (!(pde_of(vpn)->u.Long & MI_PTE_VALID)) {
            end = (vpn | (SPAN_PDE - 1)) < last ? (vpn | (SPAN_PDE - 1)) : last;
            nt += 1;
        } else {
            end = vpn;
            if (MiGetPteAddress((PVOID)(vpn << PAGE_SHIFT))->u.Long != 0) {
                vpn++;
                continue;   /* already committed (or mapped): nothing new to charge */
            }
        }
        np += end - vpn + 1;
        if (end == last)
            break;
        vpn = end + 1;
    }
    *pages = np;
    *tables = nt;
}

/* ---- processes ---- */

NTSTATUS MiChargeImageAndStack(PEPROCESS p, PMI_IMAGE im, ULONG64 stack_first_vpn, ULONG64 stack_last_vpn)
{
    ULONG64 writable = 0, pages, tables = 0, t;
    for (ULONG i = 0; i < im->SegmentCount; i++) {
        ULONG64 first = im->Segment[i].Vaddr >> PAGE_SHIFT;
        ULONG64 last = (im->Segment[i].Vaddr + im->Segment[i].Memsz - 1) >> PAGE_SHIFT;
        ULONG prot = im->Segment[i].Protection;
        if (prot == PAGE_WRITECOPY || prot == PAGE_EXECUTE_WRITECOPY || prot == PAGE_READWRITE ||
            prot == PAGE_EXECUTE_READWRITE)
            writable += last - first + 1;
    }
    /* The tables the whole image and the stack may need (the address space
     * is empty but for them, so counting them one after the other counts
     * a shared table twice at worst: an over-promise, never an under one). */
    MiCountUncommitted(im->BaseVpn, im->BaseVpn + im->Pages - 1, &pages, &t);
    tables += t;
    MiCountUncommitted(stack_first_vpn, stack_last_vpn, &pages, &t);
    tables += t;
    if (!MiChargeCommitment(p, writable + tables))
        return STATUS_COMMITMENT_LIMIT;
    p->ImageCharge += writable;
    p->TableReserve += tables;
    return STATUS_SUCCESS;
}

void MiReturnProcessCommitment(PEPROCESS p)
{
    ULONG64 n = p->TableReserve + p->ImageCharge;
    p->TableReserve = p->ImageCharge = 0;
    if (n)
        MiReturnCommitment(p, n);
}

void MmPrintCommit(void)
{
    kprintf("  commit %llu pages (%llu KiB) of a %llu-page limit, peak %llu; %llu user page tables; "
            "%llu waits for a frame\n", (unsigned long long)MmTotalCommittedPages,
            (unsigned long long)MmTotalCommittedPages * 4, (unsigned long long)MiCommitLimit(),
            (unsigned long long)MmPeakCommitment, (unsigned long long)MiUserPageTables,
            (unsigned long long)MiFrameWaits);
}
