/*
 * The minimal IRP: a request that carries an MDL chain and, when it is
 * completed, unlocks and frees the MDLs and signals its event. The full
 * IRP (stack locations, IoCallDriver) grows here.
 */
#include "mm/mdl.h"

#define TAG_IRP POOL_TAG('I', 'r', 'p', ' ')

PIRP IoAllocateIrp(void)
{
    PIRP irp = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(IRP), TAG_IRP);
    if (!irp)
        return NULL;
    memset(irp, 0, sizeof(*irp));
    KeInitializeEvent(&irp->Event, NotificationEvent, FALSE);
    return irp;
}

void IoFreeIrp(PIRP irp)
{
    ExFreePoolWithTag(irp, TAG_IRP);
}

void IoCompleteRequest(PIRP irp, CHAR boost)
{
    UNREFERENCED_PARAMETER(boost);
    /* Completing a request releases the buffers it described: every MDL on
     * the chain is unlocked (which also unmaps it) and freed. */
    PMDL m = irp->MdlAddress;
    while (m) {
        PMDL next = m->Next;
        if (m->MdlFlags & MDL_PAGES_LOCKED)
            MmUnlockPages(m);
        IoFreeMdl(m);
        m = next;
    }
    irp->MdlAddress = NULL;
    KeSetEvent(&irp->Event, 0, FALSE);
}
