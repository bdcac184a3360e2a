/*
 * The I/O verifier's checks in io/irp.c, driven the way a driver breaks
 * them: a dispatch routine that completes an IRP twice, completes it with
 * STATUS_PENDING, completes it with its cancel routine still set, or
 * passes it on without a stack location for the next driver. Each must
 * stop the system with NT's code and the IRP in its parameters.
 */
#include "drivers/tests/drv_test_util.h"
#include "io/tests/io_test_util.h"

static PDEVICE_OBJECT second;

static NTSTATUS completes_twice(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    irp->IoStatus.Status = STATUS_SUCCESS;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    IoCompleteRequest(irp, IO_NO_INCREMENT);   /* the bug: it is no longer this driver's */
    return STATUS_SUCCESS;
}

static NTSTATUS completes_pending(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    IoMarkIrpPending(irp);
    irp->IoStatus.Status = STATUS_PENDING;    /* the bug: a completed IRP needs its final status */
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return STATUS_PENDING;
}

static void some_cancel_routine(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    IoReleaseCancelSpinLock(irp->CancelIrql);
}

static NTSTATUS completes_cancelable(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    IoSetCancelRoutine(irp, some_cancel_routine);
    irp->IoStatus.Status = STATUS_SUCCESS;    /* the bug: the routine was not cleared first */
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return STATUS_SUCCESS;
}

static NTSTATUS forwards_without_a_location(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    /* The bug: passing the IRP to another device that is not below this
     * one, so the IRP was sized without a location for it. */
    return IoCallDriver(second, irp);
}

static PIRP read_irp(PDEVICE_OBJECT dev, KEVENT *ev, IO_STATUS_BLOCK *iosb)
{
    static UCHAR buf[16];
    KeInitializeEvent(ev, NotificationEvent, FALSE);
    LARGE_INTEGER off = { 0 };
    PIRP irp = IoBuildSynchronousFsdRequest(IRP_MJ_READ, dev, buf, sizeof(buf), &off, ev, iosb);
    KT_ASSERT(irp != NULL);
    return irp;
}

KTEST_BUGCHECK(iotest_verifier, completing_an_irp_twice, MULTIPLE_IRP_COMPLETE_REQUESTS, KT_ANY, 0, 0, 0)
{
    PDEVICE_OBJECT dev = IotCreateDevice(completes_twice, 0);
    KT_ASSERT(dev != NULL);
    KEVENT ev;
    IO_STATUS_BLOCK iosb;
    PIRP irp = read_irp(dev, &ev, &iosb);
    KtExpectParam(1, (uint64_t)irp);
    IoCallDriver(dev, irp);
}

KTEST_BUGCHECK(iotest_verifier, completing_with_status_pending, DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x6,
               STATUS_PENDING, KT_ANY, 0)
{
    PDEVICE_OBJECT dev = IotCreateDevice(completes_pending, 0);
    KT_ASSERT(dev != NULL);
    KEVENT ev;
    IO_STATUS_BLOCK iosb;
    PIRP irp = read_irp(dev, &ev, &iosb);
    KtExpectParam(3, (uint64_t)irp);
    IoCallDriver(dev, irp);
}

KTEST_BUGCHECK(iotest_verifier, completing_with_a_cancel_routine_set, DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x7,
               KT_ANY, KT_ANY, 0)
{
    PDEVICE_OBJECT dev = IotCreateDevice(completes_cancelable, 0);
    KT_ASSERT(dev != NULL);
    KEVENT ev;
    IO_STATUS_BLOCK iosb;
    PIRP irp = read_irp(dev, &ev, &iosb);
    KtExpectParam(2, (uint64_t)some_cancel_routine);
    KtExpectParam(3, (uint64_t)irp);
    IoCallDriver(dev, irp);
}

KTEST_BUGCHECK(iotest_verifier, calling_past_the_last_stack_location, NO_MORE_IRP_STACK_LOCATIONS, KT_ANY, 0, 0, 0)
{
    second = IotCreateDevice(IotCompleteAtOnce, 0);
    PDEVICE_OBJECT dev = IotCreateDevice(forwards_without_a_location, 0);
    KT_ASSERT(dev && second);
    KT_EQ(dev->StackSize, 1);
    KEVENT ev;
    IO_STATUS_BLOCK iosb;
    PIRP irp = read_irp(dev, &ev, &iosb);
    KtExpectParam(1, (uint64_t)irp);
    IoCallDriver(dev, irp);
}
