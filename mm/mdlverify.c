/*
 * The MDL verifier. With `verifier=1` on the command line (make test sets
 * it) every MDL routine checks its rules (the WDK's, listed in docs/mdl.md §5) and stops with
 * DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4) and NT's sub-code in P1. A
 * report says the rule in one sentence, dumps the MDL, and names the call
 * sites that allocated, built/locked and mapped it - recorded here, in a
 * table beside the MDLs, since an MDL has no room for them.
 */
#include "mm/mdl.h"
#include "kernel/kd/kd.h"

BOOLEAN MiVerifierEnabled;

#define TRACK_SLOTS 512
static MI_MDL_TRACK track[TRACK_SLOTS];
static KSPIN_LOCK track_lock;

void MiInitializeMdlVerifier(void)
{
    MiVerifierEnabled = KeOptionEnabled("verifier");
    KeInitializeSpinLock(&track_lock);
}

/* The tracking entry of MDL (created if CREATE), or NULL. */
MI_MDL_TRACK *MiTrackMdl(PMDL mdl, BOOLEAN create)
{
    ULONG h = (ULONG)(((ULONG_PTR)mdl >> 4) * 2654435761u) % TRACK_SLOTS;
    MI_MDL_TRACK *free_slot = NULL;
    for (ULONG i = 0; i < TRACK_SLOTS; i++) {
        MI_MDL_TRACK *t = &track[(h + i) % TRACK_SLOTS];
        if (t->Mdl == mdl)
            return t;
        if (!t->Mdl && !free_slot)
            free_slot = t;
    }
    if (!create || !free_slot)
        return NULL;
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->Mdl = mdl;
    return free_slot;
}

void MiForgetMdl(PMDL mdl)
{
    MI_MDL_TRACK *t = MiTrackMdl(mdl, FALSE);
    if (t)
        memset(t, 0, sizeof(*t));
}

void MiNoteMdlSite(PMDL mdl, int which, ULONG_PTR site)
{
    KIRQL old;
    KeAcquireSpinLock(&track_lock, &old);
    MI_MDL_TRACK *t = MiTrackMdl(mdl, TRUE);
    if (t) {
        t->Site[which] = site;
        if (which == MI_SITE_LOCK) {
            t->EverLocked = TRUE;
            t->Process = mdl->Process;
        }
    }
    KeReleaseSpinLock(&track_lock, old);
}

void MiNoteMdlUserView(PMDL mdl, LONG delta)
{
    KIRQL old;
    KeAcquireSpinLock(&track_lock, &old);
    MI_MDL_TRACK *t = MiTrackMdl(mdl, delta > 0);
    /* A record forgotten meanwhile (MmInitializeMdl on reused storage)
     * has nothing to count down. */
    if (t && (delta > 0 || t->UserViews >= (ULONG)-delta))
        t->UserViews += delta;
    KeReleaseSpinLock(&track_lock, old);
}

ULONG MiMdlUserViews(PMDL mdl)
{
    MI_MDL_TRACK *t = MiTrackMdl(mdl, FALSE);
    return t ? t->UserViews : 0;
}

/* An MDL locked in process P that is still locked, or NULL. */
PMDL MiFindMdlLockedInProcess(struct _EPROCESS *p, ULONG_PTR *site)
{
    for (ULONG i = 0; i < TRACK_SLOTS; i++) {
        if (track[i].Mdl && track[i].Process == p && (track[i].Mdl->MdlFlags & MDL_PAGES_LOCKED) &&
            track[i].Mdl->Process == p) {
            *site = track[i].Site[MI_SITE_LOCK];
            return track[i].Mdl;
        }
    }
    return NULL;
}

static const char *const flag_names[16] = {
    "MAPPED_TO_SYSTEM_VA", "PAGES_LOCKED", "SOURCE_IS_NONPAGED_POOL", "ALLOCATED_FIXED_SIZE", "PARTIAL",
    "PARTIAL_HAS_BEEN_MAPPED", "IO_PAGE_READ", "WRITE_OPERATION", "0x100", "FREE_EXTRA_PTES", "0x400",
    "IO_SPACE", "0x1000", "MAPPING_CAN_FAIL", "0x4000", "0x8000",
};

static void print_site(const char *what, ULONG_PTR site)
{
    if (!site)
        return;
    ULONG_PTR off;
    const char *name = KdLookupSymbol(site - 1, &off);
    kprintf("    %-10s by %s+%#lx (%p)\n", what, name ? name : "?", (unsigned long)(off + 1), (void *)site);
}

void MmDumpMdl(PMDL m)
{
    kprintf("MDL %p: Size %d, ByteCount %u, ByteOffset %u, StartVa %p, MappedSystemVa %p, Process %p\n", m,
            m->Size, m->ByteCount, m->ByteOffset, m->StartVa, m->MappedSystemVa, m->Process);
    kprintf("    MdlFlags %#06x:", (unsigned)(USHORT)m->MdlFlags);
    for (int b = 0; b < 16; b++)
        if (m->MdlFlags & (1 << b))
            kprintf(" %s", flag_names[b]);
    kprintf("\n");
    ULONG pages = ADDRESS_AND_SIZE_TO_SPAN_PAGES(m->ByteOffset, m->ByteCount);
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    for (ULONG i = 0; i < pages && i < 8; i++) {
        if (pfn[i] == (PFN_NUMBER)-1)
            break;
        if (MiIsPfnRam(pfn[i])) {
            PMMPFN e = MI_PFN_ELEMENT(pfn[i]);
            kprintf("    [%u] PFN %#llx  %s, refs %u, shares %u\n", i, (unsigned long long)pfn[i],
                    MiListName(e->PageLocation), e->ReferenceCount, e->ShareCount);
        } else {
            kprintf("    [%u] PFN %#llx  (not RAM)\n", i, (unsigned long long)pfn[i]);
        }
    }
    if (pages > 8)
        kprintf("    ... %u pages in all\n", pages);
    MI_MDL_TRACK *t = MiTrackMdl(m, FALSE);
    if (t) {
        print_site("allocated", t->Site[MI_SITE_ALLOC]);
        print_site("built", t->Site[MI_SITE_BUILD]);
        print_site("locked", t->Site[MI_SITE_LOCK]);
        print_site("mapped", t->Site[MI_SITE_MAP]);
    }
}

void MiMdlViolation(ULONG sub, PMDL mdl, ULONG_PTR p3, ULONG_PTR p4, const char *rule)
{
    kprintf("\n*** Driver Verifier: MDL rule broken (0xC4, sub-code %#x)\n", sub);
    if (mdl)
        MmDumpMdl(mdl);
    KeBugCheckRule(DRIVER_VERIFIER_DETECTED_VIOLATION, sub, (ULONG_PTR)mdl, p3, p4, "%s", rule);
}
