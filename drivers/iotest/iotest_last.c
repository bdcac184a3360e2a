/*
 * The record of the last request: what the I/O manager handed the driver
 * (an MDL and its state, a system buffer, the raw user pointer, the
 * requestor mode) and the reference counts of the MDL's frames, read at
 * dispatch and again when the record is asked for. A frame the I/O
 * manager locked for the request has one reference more while the request
 * is in the driver than after its completion: the proof a test needs that
 * the buffer was locked for the I/O, and unlocked at its end.
 */
#include "drivers/iotest/iotest.h"

void IotRecordRequest(IOT_EXTENSION *x, PIRP irp)
{
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    IOT_LAST_REQUEST r;
    memset(&r, 0, sizeof(r));
    r.MajorFunction = sl->MajorFunction;
    r.RequestorMode = (uint32_t)irp->RequestorMode;
    r.UserBuffer = (uint64_t)(ULONG_PTR)irp->UserBuffer;
    if (irp->Flags & IRP_BUFFERED_IO)
        r.SystemBuffer = (uint64_t)(ULONG_PTR)irp->AssociatedIrp.SystemBuffer;
    if (sl->MajorFunction == IRP_MJ_DEVICE_CONTROL) {
        r.IoControlCode = sl->Parameters.DeviceIoControl.IoControlCode;
        r.Length = sl->Parameters.DeviceIoControl.OutputBufferLength;
        r.InputLength = sl->Parameters.DeviceIoControl.InputBufferLength;
        if (METHOD_FROM_CTL_CODE(r.IoControlCode) == METHOD_NEITHER)
            r.Type3InputBuffer = (uint64_t)(ULONG_PTR)sl->Parameters.DeviceIoControl.Type3InputBuffer;
        else
            r.SystemBuffer = (uint64_t)(ULONG_PTR)irp->AssociatedIrp.SystemBuffer;
    } else {
        r.Length = sl->Parameters.Read.Length;
    }
    PMDL m = irp->MdlAddress;
    if (m) {
        r.HadMdl = 1;
        r.MdlFlags = (uint16_t)m->MdlFlags;
        r.MdlByteCount = MmGetMdlByteCount(m);
        r.MdlByteOffset = MmGetMdlByteOffset(m);
        r.MdlVirtualAddress = (uint64_t)(ULONG_PTR)MmGetMdlVirtualAddress(m);
        r.PfnCount = ADDRESS_AND_SIZE_TO_SPAN_PAGES(MmGetMdlVirtualAddress(m), r.MdlByteCount);
        PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
        for (ULONG i = 0; i < r.PfnCount && i < IOT_MAX_PFNS; i++) {
            r.Pfn[i] = pfn[i];
            r.RefsAtDispatch[i] = KtPfnReferenceCount(pfn[i]);
        }
    }
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    r.Sequence = x->Last.Sequence + 1;
    x->Last = r;
    KeReleaseSpinLock(&x->Lock, old);
}

void IotQueryLastRequest(IOT_EXTENSION *x, IOT_LAST_REQUEST *out)
{
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    *out = x->Last;
    KeReleaseSpinLock(&x->Lock, old);
    for (ULONG i = 0; i < out->PfnCount && i < IOT_MAX_PFNS; i++)
        out->RefsNow[i] = KtPfnReferenceCount(out->Pfn[i]);
}
