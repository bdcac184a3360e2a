/*
 * The test devices' IOCTLs: one per transfer method, and the controls
 * (the last request, pend mode). What each method gives the driver:
 *   METHOD_BUFFERED   one system buffer: the input copied in, the output
 *                     copied back (Information bytes) at completion.
 *   METHOD_IN_DIRECT  input buffered; the "output" buffer locked into
 *                     Irp->MdlAddress for the device to READ (data going
 *                     to the device in the caller's buffer, no copy).
 *   METHOD_OUT_DIRECT input buffered; the output buffer locked into
 *                     Irp->MdlAddress for the device to WRITE.
 *   METHOD_NEITHER    Type3InputBuffer and Irp->UserBuffer, raw: the
 *                     driver probes and copies them itself, in the
 *                     caller's context, inside ExTry.
 */
#include "drivers/iotest/iotest.h"

static NTSTATUS echo(PIO_STACK_LOCATION sl, PIRP irp, ULONG_PTR *info)
{
    ULONG in = sl->Parameters.DeviceIoControl.InputBufferLength;
    ULONG out = sl->Parameters.DeviceIoControl.OutputBufferLength;
    if (out < in)
        return STATUS_BUFFER_TOO_SMALL;
    PUCHAR b = irp->AssociatedIrp.SystemBuffer;   /* the input, and where the output goes */
    for (ULONG i = 0; i < in; i++)
        b[i] = (UCHAR)(b[i] + 1);
    *info = in;
    return STATUS_SUCCESS;
}

static PUCHAR map_mdl(PIRP irp)
{
    return irp->MdlAddress ? MmGetSystemAddressForMdlSafe(irp->MdlAddress, NormalPagePriority | MdlMappingNoExecute)
                           : NULL;
}

static NTSTATUS checksum(PIO_STACK_LOCATION sl, PIRP irp, ULONG_PTR *info)
{
    ULONG n = sl->Parameters.DeviceIoControl.OutputBufferLength;
    ULONG h = IOT_FNV_OFFSET;
    if (n) {
        PUCHAR b = map_mdl(irp);
        if (!b)
            return irp->MdlAddress ? STATUS_INSUFFICIENT_RESOURCES : STATUS_INVALID_PARAMETER;
        for (ULONG i = 0; i < n; i++)
            h = (h ^ b[i]) * IOT_FNV_PRIME;
    }
    *info = h;
    return STATUS_SUCCESS;
}

static NTSTATUS fill(PIO_STACK_LOCATION sl, PIRP irp, ULONG_PTR *info)
{
    ULONG n = sl->Parameters.DeviceIoControl.OutputBufferLength;
    if (sl->Parameters.DeviceIoControl.InputBufferLength < sizeof(uint32_t))
        return STATUS_INVALID_PARAMETER;
    uint32_t seed;
    memcpy(&seed, irp->AssociatedIrp.SystemBuffer, sizeof(seed));
    if (n) {
        PUCHAR b = map_mdl(irp);
        if (!b)
            return irp->MdlAddress ? STATUS_INSUFFICIENT_RESOURCES : STATUS_INVALID_PARAMETER;
        for (ULONG i = 0; i < n; i++)
            b[i] = IOT_PATTERN(seed, i);
    }
    *info = n;
    return STATUS_SUCCESS;
}

/* METHOD_NEITHER: the driver writer's job. The pointers are the caller's,
 * unchecked; this routine runs in the caller's thread (a top driver's
 * dispatch is called by the system service), so they mean what the caller
 * meant - until the driver leaves that context. Probe (user space, right
 * alignment, ProbeForWrite also checks the pages are writable) and copy
 * inside ExTry: the memory can still vanish between the probe and the
 * copy (another thread frees it), and the copy's fault must become a
 * status too. Copied in chunks through a kernel buffer, a bounded loop. */
static NTSTATUS neither(PIO_STACK_LOCATION sl, PIRP irp, ULONG_PTR *info)
{
    ULONG in = sl->Parameters.DeviceIoControl.InputBufferLength;
    ULONG out = sl->Parameters.DeviceIoControl.OutputBufferLength;
    PUCHAR src = sl->Parameters.DeviceIoControl.Type3InputBuffer, dst = irp->UserBuffer;
    if (in > IOT_NEITHER_MAX)
        return STATUS_INVALID_PARAMETER;
    if (out < in)
        return STATUS_BUFFER_TOO_SMALL;
    if (irp->RequestorMode == KernelMode) {
        for (ULONG i = 0; i < in; i++)
            dst[i] = (UCHAR)(src[i] + 1);
        *info = in;
        return STATUS_SUCCESS;
    }
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        ProbeForRead(src, in, 1);
        ProbeForWrite(dst, in, 1);
        UCHAR chunk[256];
        for (ULONG done = 0; done < in; done += sizeof(chunk)) {
            ULONG n = in - done < sizeof(chunk) ? in - done : (ULONG)sizeof(chunk);
            ExCopyFromUser(chunk, src + done, n);
            for (ULONG i = 0; i < n; i++)
                chunk[i] = (UCHAR)(chunk[i] + 1);
            ExCopyToUser(dst + done, chunk, n);
        }
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    if (NT_SUCCESS(s))
        *info = in;
    return s;
}

static NTSTATUS answer(PIO_STACK_LOCATION sl, PIRP irp, const void *data, ULONG size)
{
    if (sl->Parameters.DeviceIoControl.OutputBufferLength < size)
        return IotComplete(irp, STATUS_BUFFER_TOO_SMALL, 0);
    memcpy(irp->AssociatedIrp.SystemBuffer, data, size);
    return IotComplete(irp, STATUS_SUCCESS, size);
}

NTSTATUS IotDeviceControl(PDEVICE_OBJECT dev, PIRP irp)
{
    IOT_EXTENSION *x = dev->DeviceExtension;
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    ULONG_PTR info = 0;
    NTSTATUS s;
    switch (sl->Parameters.DeviceIoControl.IoControlCode) {
    case IOCTL_IOTEST_ECHO:
        IotRecordRequest(x, irp);
        s = echo(sl, irp, &info);
        return IotFinish(dev, irp, s, info);
    case IOCTL_IOTEST_CHECKSUM:
        IotRecordRequest(x, irp);
        s = checksum(sl, irp, &info);
        return IotFinish(dev, irp, s, info);
    case IOCTL_IOTEST_FILL:
        IotRecordRequest(x, irp);
        s = fill(sl, irp, &info);
        return IotFinish(dev, irp, s, info);
    case IOCTL_IOTEST_NEITHER:
        IotRecordRequest(x, irp);
        s = neither(sl, irp, &info);
        return IotFinish(dev, irp, s, info);
    case IOCTL_IOTEST_LAST_REQUEST: {
        IOT_LAST_REQUEST last;
        IotQueryLastRequest(x, &last);
        return answer(sl, irp, &last, sizeof(last));
    }
    case IOCTL_IOTEST_SET_PEND:
        return IotSetPend(dev, irp);
    case IOCTL_IOTEST_RELEASE: {
        uint32_t n = IotReleaseHeld(dev, sl->FileObject, sl->FileObject == NULL, FALSE);
        if (sl->Parameters.DeviceIoControl.OutputBufferLength >= sizeof(n))
            return answer(sl, irp, &n, sizeof(n));
        return IotComplete(irp, STATUS_SUCCESS, 0);
    }
    case IOCTL_IOTEST_PEND_STATS: {
        IOT_PEND_STATS st;
        KIRQL old;
        KeAcquireSpinLock(&x->Lock, &old);
        st = x->Stats;
        KeReleaseSpinLock(&x->Lock, old);
        return answer(sl, irp, &st, sizeof(st));
    }
    default:
        return IotComplete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    }
}
