/* Helpers of the driver tests: see drv_test_util.h. */
#include "drivers/tests/drv_test_util.h"

void DrvtSleep(ULONG ms)
{
    LARGE_INTEGER d = { -KI_MS(ms) };
    KeDelayExecutionThread(KernelMode, FALSE, &d);
}

void DrvtOpen(PCSTR name, PFILE_OBJECT *fo, PDEVICE_OBJECT *top)
{
    ANSI_STRING n;
    RtlInitAnsiString(&n, name);
    NTSTATUS s = IoGetDeviceObjectPointer(&n, FILE_READ_DATA | FILE_WRITE_DATA, fo, top);
    if (!NT_SUCCESS(s))
        KtFail(__FILE__, __LINE__, "IoGetDeviceObjectPointer(%s): status %#x", name, (unsigned)s);
}

PDEVICE_OBJECT DrvtNamedDevice(PCSTR name)
{
    ANSI_STRING n;
    RtlInitAnsiString(&n, name);
    PVOID obj;
    if (!NT_SUCCESS(ObReferenceObjectByName(&n, IoDeviceObjectType, &obj)))
        return NULL;
    ObDereferenceObject(obj);
    return obj;
}

static NTSTATUS send_and_wait(PDEVICE_OBJECT dev, PFILE_OBJECT fo, PIRP irp, KEVENT *ev, IO_STATUS_BLOCK *iosb,
                              ULONG_PTR *info)
{
    IoGetNextIrpStackLocation(irp)->FileObject = fo;
    NTSTATUS s = IoCallDriver(dev, irp);
    /* Even when it did not pend, stage 2 (status block, event, freeing the
     * IRP) comes as an APC that only a wait lets in. */
    LARGE_INTEGER ten_s = { -KI_MS(10000) };
    NTSTATUS w = KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, &ten_s);
    if (w != STATUS_WAIT_0)
        KtFail(__FILE__, __LINE__, "request to %p not finished after 10 s (IoCallDriver said %#x)", dev,
               (unsigned)s);
    if (s != STATUS_PENDING && s != iosb->Status)
        KtFail(__FILE__, __LINE__, "IoCallDriver returned %#x but the request finished with %#x", (unsigned)s,
               (unsigned)iosb->Status);
    if (info)
        *info = iosb->Information;
    return iosb->Status;
}

NTSTATUS DrvtReadWrite(PDEVICE_OBJECT dev, PFILE_OBJECT fo, UCHAR major, PVOID buf, ULONG len, LONGLONG off,
                       ULONG_PTR *info)
{
    KEVENT ev;
    IO_STATUS_BLOCK iosb = { { -1 }, 0 };
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    LARGE_INTEGER o = { off };
    PIRP irp = IoBuildSynchronousFsdRequest(major, dev, buf, len, &o, &ev, &iosb);
    if (!irp)
        KtFail(__FILE__, __LINE__, "IoBuildSynchronousFsdRequest(%#x, %u bytes) failed", major, len);
    return send_and_wait(dev, fo, irp, &ev, &iosb, info);
}

NTSTATUS DrvtFlush(PDEVICE_OBJECT dev, PFILE_OBJECT fo)
{
    return DrvtReadWrite(dev, fo, IRP_MJ_FLUSH_BUFFERS, NULL, 0, 0, NULL);
}

NTSTATUS DrvtIoctl(PDEVICE_OBJECT dev, PFILE_OBJECT fo, ULONG code, PVOID in, ULONG inlen, PVOID out, ULONG outlen,
                   ULONG_PTR *info)
{
    KEVENT ev;
    IO_STATUS_BLOCK iosb = { { -1 }, 0 };
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    PIRP irp = IoBuildDeviceIoControlRequest(code, dev, in, inlen, out, outlen, FALSE, &ev, &iosb);
    if (!irp)
        KtFail(__FILE__, __LINE__, "IoBuildDeviceIoControlRequest(%#x) failed", code);
    return send_and_wait(dev, fo, irp, &ev, &iosb, info);
}

void DrvtSend(DRVT_ASYNC *a, UCHAR major, PDEVICE_OBJECT dev, PFILE_OBJECT fo, PVOID buf, ULONG len, LONGLONG off)
{
    KeInitializeEvent(&a->Event, NotificationEvent, FALSE);
    a->Iosb.Status = -1;
    a->Iosb.Information = 0;
    LARGE_INTEGER o = { off };
    PIRP irp = IoBuildSynchronousFsdRequest(major, dev, buf, len, &o, &a->Event, &a->Iosb);
    if (!irp)
        KtFail(__FILE__, __LINE__, "IoBuildSynchronousFsdRequest(%u, %u bytes) failed", major, len);
    IoGetNextIrpStackLocation(irp)->FileObject = fo;
    a->Returned = IoCallDriver(dev, irp);
}

void DrvtSendRead(DRVT_ASYNC *a, PDEVICE_OBJECT dev, PFILE_OBJECT fo, PVOID buf, ULONG len, LONGLONG off)
{
    DrvtSend(a, IRP_MJ_READ, dev, fo, buf, len, off);
}

NTSTATUS DrvtWait(DRVT_ASYNC *a)
{
    LARGE_INTEGER ten_s = { -KI_MS(10000) };
    if (KeWaitForSingleObject(&a->Event, Executive, KernelMode, FALSE, &ten_s) != STATUS_WAIT_0)
        KtFail(__FILE__, __LINE__, "read not finished after 10 s");
    return a->Iosb.Status;
}

void DrvtFill(PUCHAR b, ULONG len, ULONG seed)
{
    for (ULONG i = 0; i < len; i++)
        b[i] = (UCHAR)(seed * 31 + i * 13 + (i >> 9));
}

BOOLEAN DrvtCheck(const UCHAR *b, ULONG len, ULONG seed)
{
    for (ULONG i = 0; i < len; i++)
        if (b[i] != (UCHAR)(seed * 31 + i * 13 + (i >> 9)))
            return FALSE;
    return TRUE;
}
