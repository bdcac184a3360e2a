/*
 * IRPs: TEMPORARY - the old minimal request (an MDL chain unlocked and
 * freed at completion, then UserEvent signalled) in the new IRP layout,
 * until io/irp.c proper lands with stack locations and IoCallDriver.
 */
#include "mm/mdl.h"
#include "io/iop.h"

#define TAG_IRP POOL_TAG('I', 'r', 'p', ' ')
volatile LONG IopIrpsInUse;

PIRP IoAllocateIrp(CCHAR stack, BOOLEAN charge)
{
    UNREFERENCED_PARAMETER(charge);
    PIRP irp = ExAllocatePoolWithTag(NonPagedPoolNx, IoSizeOfIrp(stack), TAG_IRP);
    if (!irp)
        return NULL;
    memset(irp, 0, IoSizeOfIrp(stack));
    irp->Type = IO_TYPE_IRP;
    irp->Size = IoSizeOfIrp(stack);
    irp->StackCount = stack;
    irp->CurrentLocation = (CHAR)(stack + 1);
    irp->Tail.Overlay.CurrentStackLocation = (PIO_STACK_LOCATION)(irp + 1) + stack;
    return irp;
}

void IoFreeIrp(PIRP irp)
{
    ExFreePoolWithTag(irp, TAG_IRP);
}

void IoCompleteRequest(PIRP irp, CCHAR boost)
{
    UNREFERENCED_PARAMETER(boost);
    PMDL m = irp->MdlAddress;
    while (m) {
        PMDL next = m->Next;
        if (m->MdlFlags & MDL_PAGES_LOCKED)
            MmUnlockPages(m);
        IoFreeMdl(m);
        m = next;
    }
    irp->MdlAddress = NULL;
    if (irp->UserEvent)
        KeSetEvent(irp->UserEvent, 0, FALSE);
}
