/*
 * MDL allocation and the I/O manager's MDL routines. An MDL is a header
 * followed by one PFN per page the buffer spans; small ones come from a
 * lookaside list (MDL_ALLOCATED_FIXED_SIZE), as NT's I/O manager does,
 * because drivers allocate and free them on every request.
 */
#include "mm/mdl.h"
#include "io/iop.h"

#define TAG_MDL POOL_TAG('M', 'd', 'l', ' ')
#define FIXED_SIZE_PFNS 23   /* NT's IOP_FIXED_SIZE_MDL_PFNS */

static NPAGED_LOOKASIDE_LIST mdl_lookaside;
static BOOLEAN lookaside_ready;

void IopInitializeMdls(void)
{
    ExInitializeNPagedLookasideList(&mdl_lookaside, NULL, NULL, 0, sizeof(MDL) + FIXED_SIZE_PFNS * sizeof(PFN_NUMBER),
                                    TAG_MDL, 64);
    lookaside_ready = TRUE;
}

PMDL IoAllocateMdl(PVOID va, ULONG length, BOOLEAN secondary, BOOLEAN charge_quota, PIRP irp)
{
    UNREFERENCED_PARAMETER(charge_quota);
    if (length & 0x80000000)
        return NULL;
    SIZE_T size = MmSizeOfMdl(va, length);
    if (size > 0xFFFF)
        return NULL;   /* NT 5.2's limit: Size is a 16-bit field */
    ULONG pages = ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, length);
    PMDL m;
    CSHORT fixed = 0;
    if (pages <= FIXED_SIZE_PFNS && lookaside_ready) {
        m = ExAllocateFromNPagedLookasideList(&mdl_lookaside);
        fixed = MDL_ALLOCATED_FIXED_SIZE;
    } else {
        m = ExAllocatePoolWithTag(NonPagedPoolNx, size, TAG_MDL);
    }
    if (!m)
        return NULL;
    MmInitializeMdl(m, va, length);
    m->MdlFlags = fixed;
    m->Process = NULL;
    m->MappedSystemVa = NULL;
    if (MiVerifierEnabled)
        MiNoteMdlSite(m, MI_SITE_ALLOC, (ULONG_PTR)__builtin_return_address(0));
    if (irp) {
        if (!secondary) {
            irp->MdlAddress = m;
        } else {
            PMDL *tail = &irp->MdlAddress;
            while (*tail)
                tail = &(*tail)->Next;
            *tail = m;
        }
    }
    return m;
}

void IoFreeMdl(PMDL m)
{
    MmPrepareMdlForReuse(m);
    /* A full MDL still mapped would leak its system PTEs: IoFreeMdl does
     * not unmap (only MmUnlockPages / MmUnmapLockedPages do). */
    MI_VERIFY(!(m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) || (m->MdlFlags & (MDL_PARTIAL | MDL_SOURCE_IS_NONPAGED_POOL)),
              0xB8, m, m->MappedSystemVa, 0,
              "IoFreeMdl was called on an MDL that is still mapped to system space; call MmUnmapLockedPages "
              "(or MmUnlockPages, which unmaps) first");
    /* mdlos's own sub-codes (NT's 0xC4 table names none for these). A user
     * view keeps its frames referenced (mm/mdl.c), so without the verifier
     * freeing the MDL under it is safe, only wrong. */
    MI_VERIFY(!MiMdlUserViews(m), 0xBA, m, m->MdlFlags, MiMdlUserViews(m),
              "IoFreeMdl was called while a UserMode mapping of the MDL is still in a process; call "
              "MmUnmapLockedPages on that view (in its process) first (mdlos's sub-code: NT has none)");
    /* A locked MDL freed is a lock nobody can undo: its frames stay
     * referenced for good. NT does not stop it (the pages simply leak, and
     * a user buffer's process ends with PROCESS_HAS_LOCKED_PAGES); nor does
     * mdlos without the verifier - the frames are never reused, only lost. */
    MI_VERIFY(!(m->MdlFlags & MDL_PAGES_LOCKED), 0xBB, m, m->MdlFlags, 0,
              "IoFreeMdl was called on an MDL whose pages are still locked (MDL_PAGES_LOCKED); call "
              "MmUnlockPages first, or the frames stay locked forever (mdlos's sub-code: NT has none)");
    if (MiVerifierEnabled)
        MiForgetMdl(m);
    if (m->MdlFlags & MDL_ALLOCATED_FIXED_SIZE)
        ExFreeToNPagedLookasideList(&mdl_lookaside, m);
    else
        ExFreePoolWithTag(m, TAG_MDL);
}

void IoBuildPartialMdl(PMDL src, PMDL target, PVOID va, ULONG length)
{
    ULONG_PTR src_va = (ULONG_PTR)MmGetMdlVirtualAddress(src);
    if (length == 0)
        length = (ULONG)(src_va + src->ByteCount - (ULONG_PTR)va);   /* to the end of the source */
    if ((ULONG_PTR)va < src_va || (ULONG_PTR)va + length > src_va + src->ByteCount || (ULONG_PTR)va + length < (ULONG_PTR)va)
        KeBugCheckRule(INVALID_MDL_RANGE, (ULONG_PTR)src, (ULONG_PTR)va, length, 0,
                       "IoBuildPartialMdl was asked for %p+%u, outside its source MDL (%p+%u)", va, length,
                       (void *)src_va, src->ByteCount);
    SIZE_T need = MmSizeOfMdl(va, length);
    if ((SIZE_T)(USHORT)target->Size < need)
        KeBugCheckRule(TARGET_MDL_TOO_SMALL, (ULONG_PTR)src, (ULONG_PTR)target, (USHORT)target->Size, need,
                       "the target MDL has room for %u bytes of header and PFNs; the range needs %llu",
                       (USHORT)target->Size, (unsigned long long)need);
    ULONG first = (ULONG)(((ULONG_PTR)PAGE_ALIGN(va) - (ULONG_PTR)src->StartVa) >> PAGE_SHIFT);
    ULONG pages = ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, length);
    target->Next = NULL;
    target->StartVa = PAGE_ALIGN(va);
    target->ByteOffset = BYTE_OFFSET(va);
    target->ByteCount = length;
    target->Process = src->Process;
    /* The target keeps only its allocation flag and takes from the source
     * the flags that describe the pages it now shares: where they came
     * from (IO_PAGE_READ, SOURCE_IS_NONPAGED_POOL, IO_SPACE), the source's
     * mapping, and the direction of the source's lock, MDL_WRITE_OPERATION,
     * as NT does today (the Windows Research Kernel's older code copied
     * only the first four). A partial MDL is never unlocked - the source's
     * MmUnlockPages marks the frames modified - but whoever receives only
     * the partial MDL (a lower driver, the DMA code building a
     * scatter/gather list) must still see that its pages are being written. */
    target->MdlFlags = (CSHORT)((target->MdlFlags & MDL_ALLOCATED_FIXED_SIZE) |
                                (src->MdlFlags & (MDL_IO_PAGE_READ | MDL_SOURCE_IS_NONPAGED_POOL |
                                                  MDL_MAPPED_TO_SYSTEM_VA | MDL_IO_SPACE |
                                                  MDL_WRITE_OPERATION)) |
                                MDL_PARTIAL);
    target->MappedSystemVa = (PUCHAR)src->MappedSystemVa + ((ULONG_PTR)va - src_va);
    /* The frames are the source's: no references taken. The source must
     * outlive the partial MDL. */
    memcpy(MmGetMdlPfnArray(target), MmGetMdlPfnArray(src) + first, pages * sizeof(PFN_NUMBER));
    if (MiVerifierEnabled)
        MiNoteMdlSite(target, MI_SITE_BUILD, (ULONG_PTR)__builtin_return_address(0));
}
