/*
 * IoConnectInterruptEx: the I/O manager's side of a device interrupt, as
 * on NT. It allocates the interrupt object and checks the request; the
 * kernel (KeConnectInterrupt, kernel/ke/interrupt.c) picks the vector and
 * dispatches to the service routine.
 */
#include "io/iop.h"
#include "kernel/hal/hal.h"

#define TAG_INTR POOL_TAG('I', 'n', 't', 'r')

NTSTATUS IoConnectInterruptEx(PKINTERRUPT *out, PKSERVICE_ROUTINE isr, PVOID ctx, ULONG gsi, KIRQL irql,
                              BOOLEAN level)
{
    /* A message-signalled interrupt (Gsi KINTERRUPT_MESSAGE_SIGNALED:
     * MSI/MSI-X) needs no IOAPIC and is always edge: the message is an event. */
    BOOLEAN message = gsi == KINTERRUPT_MESSAGE_SIGNALED;
    if (irql <= DISPATCH_LEVEL || irql >= CLOCK_LEVEL || (!message && !HalIoApicPresent()) || (message && level))
        return STATUS_INVALID_PARAMETER;
    PKINTERRUPT in = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*in), TAG_INTR);
    if (!in)
        return STATUS_INSUFFICIENT_RESOURCES;
    memset(in, 0, sizeof(*in));
    in->ServiceRoutine = isr;
    in->ServiceContext = ctx;
    in->Irql = irql;
    in->Gsi = gsi;
    if (!KeConnectInterrupt(in, level)) {
        /* every vector of IRQL's class is taken */
        ExFreePoolWithTag(in, TAG_INTR);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    *out = in;
    return STATUS_SUCCESS;
}

void IoDisconnectInterrupt(PKINTERRUPT in)
{
    KeDisconnectInterrupt(in);
    ExFreePoolWithTag(in, TAG_INTR);
}
