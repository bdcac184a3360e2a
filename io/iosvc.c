/*
 * The file system services: NtCreateFile, NtOpenFile, NtReadFile,
 * NtWriteFile, NtDeviceIoControlFile, NtFlushBuffersFile, NtCancelIoFile.
 *
 * Each builds one IRP for the top of the device stack and picks how the
 * caller's buffer reaches the driver from the top device's Flags:
 *   DO_BUFFERED_IO  a nonpaged system buffer (Irp->AssociatedIrp.SystemBuffer):
 *                   filled from the caller for a write, copied back to it
 *                   at completion for a read. Any driver can touch it at
 *                   any IRQL, in any thread; it costs a copy.
 *   DO_DIRECT_IO    the caller's own pages, locked (IoAllocateMdl +
 *                   MmProbeAndLockPages, write access for a read: the
 *                   device writes memory) and described by Irp->MdlAddress.
 *                   No copy; the driver maps them or DMAs to them.
 *   neither         Irp->UserBuffer, the raw user pointer: the driver must
 *                   probe and use it in the caller's context, or lock it
 *                   itself before leaving that context.
 * Everything the caller passes is probed here, before the IRP exists: a
 * bad pointer is a status and nothing has been locked or allocated.
 */
#include "io/iop.h"

#define FILE_USE_FILE_POINTER_POSITION (-2LL)

/* Map GENERIC_* to the file rights (the file type's generic mapping). */
static ACCESS_MASK file_access(ACCESS_MASK a)
{
    if (a & MAXIMUM_ALLOWED)
        a = (a & ~MAXIMUM_ALLOWED) | FILE_ALL_ACCESS;
    if (a & GENERIC_READ)
        a |= FILE_GENERIC_READ;
    if (a & GENERIC_WRITE)
        a |= FILE_GENERIC_WRITE;
    if (a & GENERIC_EXECUTE)
        a |= FILE_GENERIC_EXECUTE;
    if (a & GENERIC_ALL)
        a |= FILE_ALL_ACCESS;
    return a & ~(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL);
}

static NTSTATUS create_file(ULONG64 uhandle, ACCESS_MASK access, ULONG64 uoa, ULONG64 uiosb, ULONG share,
                            ULONG disposition, ULONG options)
{
    NTSTATUS s;
    /* Outputs checked first, written last: a failed open leaves them. */
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)uhandle, sizeof(HANDLE), sizeof(HANDLE), 8)) ||
        !NT_SUCCESS(s = ExProbeUserOutput((void *)uiosb, sizeof(IO_STATUS_BLOCK), sizeof(IO_STATUS_BLOCK), 8)))
        return s;
    OBJECT_ATTRIBUTES oa;
    ANSI_STRING name;
    CHAR buf[OB_MAX_NAME];
    if (!NT_SUCCESS(s = ObCaptureObjectAttributes((const OBJECT_ATTRIBUTES *)uoa, UserMode, &oa, &name, buf)))
        return s;
    if (!oa.ObjectName)
        return STATUS_OBJECT_NAME_INVALID;
    access = file_access(access);
    if (access & ~FILE_ALL_ACCESS)
        return STATUS_ACCESS_DENIED;
    PFILE_OBJECT fo;
    if (!NT_SUCCESS(s = IopOpenDevice(&name, access, share, disposition, options, UserMode, &fo)))
        return s;
    HANDLE h;
    if (!NT_SUCCESS(s = ObInsertObject(fo, access, &h)))
        return s;   /* the file object went with the failure (its CLOSE was sent) */
    if (!NT_SUCCESS(s = ObReturnNewHandle(uhandle, h, STATUS_SUCCESS)))
        return s;
    IO_STATUS_BLOCK iosb = { { STATUS_SUCCESS }, FILE_OPENED };
    (void)ExReturnToUser((void *)uiosb, &iosb, sizeof(iosb), 8);
    return STATUS_SUCCESS;
}

static NTSTATUS NtCreateFile_(const ULONG64 *a)
{
    /* AllocationSize and FileAttributes mean nothing to a device; the
     * pointer is still probed. Extended attributes are not supported. */
    if (a[4]) {
        LARGE_INTEGER size;
        NTSTATUS s = ExCaptureUser(&size, (const void *)a[4], sizeof(size), 8);
        if (!NT_SUCCESS(s))
            return s;
    }
    if (a[9] || a[10])
        return STATUS_INVALID_PARAMETER;
    return create_file(a[0], (ACCESS_MASK)a[1], a[2], a[3], (ULONG)a[6], (ULONG)a[7], (ULONG)a[8]);
}

static NTSTATUS NtOpenFile(ULONG64 uhandle, ULONG64 access, ULONG64 uoa, ULONG64 uiosb, ULONG64 share,
                           ULONG64 options)
{
    return create_file(uhandle, (ACCESS_MASK)access, uoa, uiosb, (ULONG)share, FILE_OPEN, (ULONG)options);
}

/* The caller's buffer into a system buffer: LENGTH bytes, copied in when
 * IN is set, and copied back at completion when OUT is set (to UserBuffer). */
static NTSTATUS buffer_system(PIRP irp, PVOID ubuf, ULONG length, BOOLEAN in, BOOLEAN out)
{
    if (length > IOP_MAX_BUFFERED_TRANSFER)
        return STATUS_INSUFFICIENT_RESOURCES;
    PVOID sys = ExAllocatePoolWithTag(NonPagedPoolNx, length, TAG_IOBUF);
    if (!sys)
        return STATUS_INSUFFICIENT_RESOURCES;
    NTSTATUS s = in ? ExCaptureUser(sys, ubuf, length, 1) : STATUS_SUCCESS;
    if (!NT_SUCCESS(s)) {
        ExFreePoolWithTag(sys, TAG_IOBUF);
        return s;
    }
    if (!in)
        memset(sys, 0, length);   /* a driver returning less than it filled must not leak pool to ring 3 */
    irp->AssociatedIrp.SystemBuffer = sys;
    irp->Flags |= IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER | (out ? IRP_INPUT_OPERATION : 0);
    return STATUS_SUCCESS;
}

/* [P, P+LEN) is user space (nothing is touched). Kept apart so that no
 * caller's locals live across the ExTry. */
__attribute__((noinline)) NTSTATUS IopProbeUserRange(PVOID p, ULONG len)
{
    volatile NTSTATUS s = STATUS_SUCCESS;
    if (!len)
        return s;
    ExTry {
        ProbeForRead(p, len, 1);
    } ExExcept(code) {
        s = code;
    } ExEndTry;
    return s;
}

/* Look up the file and event handles of a request. */
static NTSTATUS reference_request(HANDLE fh, ACCESS_MASK need, HANDLE evh, PFILE_OBJECT *fo, PKEVENT *ev)
{
    OBJECT_HANDLE_INFORMATION info;
    NTSTATUS s = ObReferenceObjectByHandle(fh, 0, IoFileObjectType, UserMode, (PVOID *)fo, &info);
    if (!NT_SUCCESS(s))
        return s;
    if ((info.GrantedAccess & need) != need && need) {
        ObDereferenceObject(*fo);
        return STATUS_ACCESS_DENIED;
    }
    *ev = NULL;
    if (evh) {
        s = ObReferenceObjectByHandle(evh, EVENT_MODIFY_STATE, ExEventObjectType, UserMode, (PVOID *)ev, NULL);
        if (!NT_SUCCESS(s)) {
            ObDereferenceObject(*fo);
            return s;
        }
        KeClearEvent(*ev);   /* NT resets the caller's event when the request starts */
    }
    return STATUS_SUCCESS;
}

/* The IRP of a read or write of FO at OFF (checked: not negative, the
 * file's position resolved), for a buffer already known to be user space:
 * the device's transfer method set up (a system buffer, or the buffer
 * locked into an MDL - or, given LOCKED, a partial MDL of that already
 * locked MDL, which must hold the buffer), nothing sent. NtReadFile/
 * NtWriteFile and the I/O ring (io/ioring.c) build their requests here. The caller sets the
 * status block, event and context, and owns the IRP (IopFreeUnsentIrp). */
NTSTATUS IopBuildReadWriteIrp(PFILE_OBJECT fo, BOOLEAN write, PVOID ubuf, ULONG length, LARGE_INTEGER off, ULONG key,
                              PMDL locked, PIRP *out)
{
    NTSTATUS s;
    PDEVICE_OBJECT dev = IoGetRelatedDeviceObject(fo);
    if ((fo->Flags & FO_NO_INTERMEDIATE_BUFFERING) && ((ULONG_PTR)ubuf & dev->AlignmentRequirement))
        return STATUS_INVALID_PARAMETER;
    PIRP irp = IopAllocateFileIrp(dev, fo, write ? IRP_MJ_WRITE : IRP_MJ_READ, UserMode);
    if (!irp)
        return STATUS_INSUFFICIENT_RESOURCES;
    irp->Flags |= write ? IRP_WRITE_OPERATION : IRP_READ_OPERATION;
    irp->UserBuffer = ubuf;
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->Parameters.Read.Length = length;
    sl->Parameters.Read.Key = key;
    sl->Parameters.Read.ByteOffset = off;
    s = STATUS_SUCCESS;
    if (length) {
        if (dev->Flags & DO_BUFFERED_IO) {
            if (length > IOP_MAX_BUFFERED_TRANSFER)
                s = STATUS_INSUFFICIENT_RESOURCES;
            else if (write || NT_SUCCESS(s = ExProbeUserOutput(ubuf, length, length, 1)))
                s = buffer_system(irp, ubuf, length, write, !write);
        } else if ((dev->Flags & DO_DIRECT_IO) && locked) {
            /* Already locked (an I/O ring's registered buffer): a partial
             * MDL of it, no probe and no lock of its own. */
            PMDL m = IoAllocateMdl(ubuf, length, FALSE, FALSE, irp);
            if (m)
                IoBuildPartialMdl(locked, m, ubuf, length);
            else
                s = STATUS_INSUFFICIENT_RESOURCES;
        } else if (dev->Flags & DO_DIRECT_IO) {
            s = IopLockBufferIntoIrp(irp, ubuf, length, UserMode, write ? IoReadAccess : IoWriteAccess);
        }
    }
    if (!NT_SUCCESS(s)) {
        IopFreeUnsentIrp(irp);
        return s;
    }
    *out = irp;
    return STATUS_SUCCESS;
}

static NTSTATUS read_write(const ULONG64 *a, BOOLEAN write)
{
    HANDLE fh = a[0], evh = a[1];
    PVOID ubuf = (PVOID)a[5];
    ULONG length = (ULONG)a[6];
    NTSTATUS s;
    if (a[2])
        return STATUS_NOT_SUPPORTED;   /* APC routines: mdlos has no user-mode APCs */
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)a[4], sizeof(IO_STATUS_BLOCK), sizeof(IO_STATUS_BLOCK), 8)))
        return s;
    LARGE_INTEGER off = { FILE_USE_FILE_POINTER_POSITION };
    if (a[7] && !NT_SUCCESS(s = ExCaptureUser(&off, (const void *)a[7], sizeof(off), 8)))
        return s;
    ULONG key = 0;
    if (a[8] && !NT_SUCCESS(s = ExCaptureUser(&key, (const void *)a[8], sizeof(key), 4)))
        return s;
    /* The buffer: all of it user space before anything is sent. That a
     * read's buffer is writable is checked where the method needs it:
     * every page touched for buffered I/O (ExProbeUserOutput, NT's
     * ProbeForWrite), the lock with write access for direct I/O; with
     * neither, the driver probes. */
    if (!NT_SUCCESS(s = IopProbeUserRange(ubuf, length)))
        return s;
    PFILE_OBJECT fo;
    PKEVENT ev;
    ACCESS_MASK need = write ? FILE_WRITE_DATA : FILE_READ_DATA;
    if (!NT_SUCCESS(s = reference_request(fh, need, evh, &fo, &ev)))
        return s;
    BOOLEAN sync = (fo->Flags & FO_SYNCHRONOUS_IO) != 0;
    if (sync && !NT_SUCCESS(s = IopAcquireFileLock(fo)))
        goto out_refs;
    if (off.QuadPart == FILE_USE_FILE_POINTER_POSITION) {
        if (!sync) {
            s = STATUS_INVALID_PARAMETER;   /* an asynchronous file has no position: say where */
            goto out_lock;
        }
        off = fo->CurrentByteOffset;
    }
    if (off.QuadPart < 0) {
        s = STATUS_INVALID_PARAMETER;
        goto out_lock;
    }
    if (sync)
        fo->CurrentByteOffset = off;   /* completion adds what was transferred */
    PIRP irp;
    if (!NT_SUCCESS(s = IopBuildReadWriteIrp(fo, write, ubuf, length, off, key, NULL, &irp)))
        goto out_lock;
    irp->UserIosb = (PIO_STATUS_BLOCK)a[4];
    irp->UserEvent = ev;
    irp->Overlay.AsynchronousParameters.UserApcContext = (PVOID)a[3];   /* a completion packet's ApcContext */
    PDEVICE_OBJECT dev = IoGetRelatedDeviceObject(fo);
    s = IopUserServiceTail(dev, irp, fo);   /* releases the file lock */
    ObDereferenceObject(fo);
    return s;

out_lock:
    if (sync)
        IopReleaseFileLock(fo);
out_refs:
    if (ev)
        ObDereferenceObject(ev);
    ObDereferenceObject(fo);
    return s;
}

static NTSTATUS NtReadFile_(const ULONG64 *a)
{
    return read_write(a, FALSE);
}

static NTSTATUS NtWriteFile_(const ULONG64 *a)
{
    return read_write(a, TRUE);
}

static NTSTATUS NtDeviceIoControlFile_(const ULONG64 *a)
{
    HANDLE fh = a[0], evh = a[1];
    ULONG code = (ULONG)a[5];
    PVOID in = (PVOID)a[6], out = (PVOID)a[8];
    ULONG inlen = (ULONG)a[7], outlen = (ULONG)a[9];
    ULONG method = METHOD_FROM_CTL_CODE(code);
    NTSTATUS s;
    if (a[2])
        return STATUS_NOT_SUPPORTED;
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)a[4], sizeof(IO_STATUS_BLOCK), sizeof(IO_STATUS_BLOCK), 8)))
        return s;
    /* NULL with a length is a bad pointer; a length of 0 needs no buffer. */
    if (!in)
        inlen = 0;
    if (!out)
        outlen = 0;
    if (method != METHOD_NEITHER &&
        (!NT_SUCCESS(s = IopProbeUserRange(in, inlen)) || !NT_SUCCESS(s = IopProbeUserRange(out, outlen))))
        return s;
    /* The IOCTL's own access bits say what the handle must allow. */
    ULONG need_bits = (code >> 14) & 3;
    ACCESS_MASK need = ((need_bits & FILE_READ_ACCESS) ? FILE_READ_DATA : 0) |
                       ((need_bits & FILE_WRITE_ACCESS) ? FILE_WRITE_DATA : 0);
    PFILE_OBJECT fo;
    PKEVENT ev;
    if (!NT_SUCCESS(s = reference_request(fh, need, evh, &fo, &ev)))
        return s;
    BOOLEAN sync = (fo->Flags & FO_SYNCHRONOUS_IO) != 0;
    if (sync && !NT_SUCCESS(s = IopAcquireFileLock(fo))) {
        if (ev)
            ObDereferenceObject(ev);
        ObDereferenceObject(fo);
        return s;
    }
    PDEVICE_OBJECT dev = IoGetRelatedDeviceObject(fo);
    PIRP irp = IopAllocateFileIrp(dev, fo, IRP_MJ_DEVICE_CONTROL, UserMode);
    if (!irp) {
        s = STATUS_INSUFFICIENT_RESOURCES;
        if (sync)
            IopReleaseFileLock(fo);
        if (ev)
            ObDereferenceObject(ev);
        ObDereferenceObject(fo);
        return s;
    }
    irp->UserIosb = (PIO_STATUS_BLOCK)a[4];
    irp->UserEvent = ev;
    irp->Overlay.AsynchronousParameters.UserApcContext = (PVOID)a[3];
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->Parameters.DeviceIoControl.IoControlCode = code;
    sl->Parameters.DeviceIoControl.InputBufferLength = inlen;
    sl->Parameters.DeviceIoControl.OutputBufferLength = outlen;
    s = STATUS_SUCCESS;
    switch (method) {
    case METHOD_BUFFERED:
        /* One buffer for both: the input copied in, the output copied
         * back over it at completion. */
        irp->UserBuffer = out;
        if (inlen > IOP_MAX_BUFFERED_TRANSFER || outlen > IOP_MAX_BUFFERED_TRANSFER) {
            s = STATUS_INSUFFICIENT_RESOURCES;
            break;
        }
        if (outlen && !NT_SUCCESS(s = ExProbeUserOutput(out, outlen, outlen, 1)))
            break;
        if (inlen || outlen) {
            ULONG n = inlen > outlen ? inlen : outlen;
            s = buffer_system(irp, in, n, FALSE, outlen != 0);
            if (NT_SUCCESS(s) && inlen)
                s = ExCaptureUser(irp->AssociatedIrp.SystemBuffer, in, inlen, 1);
        }
        break;
    case METHOD_IN_DIRECT:
    case METHOD_OUT_DIRECT:
        /* The input is buffered; the output buffer is locked into an
         * MDL - read by the device for IN_DIRECT, written for OUT_DIRECT. */
        if (inlen)
            s = buffer_system(irp, in, inlen, TRUE, FALSE);
        if (NT_SUCCESS(s) && outlen)
            s = IopLockBufferIntoIrp(irp, out, outlen, UserMode, method == METHOD_IN_DIRECT ? IoReadAccess : IoWriteAccess);
        break;
    default:
        /* Neither: raw pointers, for the driver to probe in our context. */
        sl->Parameters.DeviceIoControl.Type3InputBuffer = in;
        irp->UserBuffer = out;
        break;
    }
    if (!NT_SUCCESS(s)) {
        IopFreeUnsentIrp(irp);
        if (sync)
            IopReleaseFileLock(fo);
        ObDereferenceObject(fo);
        return s;
    }
    s = IopUserServiceTail(dev, irp, fo);
    ObDereferenceObject(fo);
    return s;
}

static NTSTATUS NtFlushBuffersFile(ULONG64 fh, ULONG64 uiosb, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a3, (void)a4, (void)a5, (void)a6;
    NTSTATUS s = ExProbeUserOutput((void *)uiosb, sizeof(IO_STATUS_BLOCK), sizeof(IO_STATUS_BLOCK), 8);
    if (!NT_SUCCESS(s))
        return s;
    PFILE_OBJECT fo;
    OBJECT_HANDLE_INFORMATION info;
    if (!NT_SUCCESS(s = ObReferenceObjectByHandle(fh, 0, IoFileObjectType, UserMode, (PVOID *)&fo, &info)))
        return s;
    if (!(info.GrantedAccess & (FILE_WRITE_DATA | FILE_APPEND_DATA))) {
        ObDereferenceObject(fo);
        return STATUS_ACCESS_DENIED;   /* NT: flushing needs write access */
    }
    BOOLEAN sync = (fo->Flags & FO_SYNCHRONOUS_IO) != 0;
    if (sync && !NT_SUCCESS(s = IopAcquireFileLock(fo))) {
        ObDereferenceObject(fo);
        return s;
    }
    PDEVICE_OBJECT dev = IoGetRelatedDeviceObject(fo);
    PIRP irp = IopAllocateFileIrp(dev, fo, IRP_MJ_FLUSH_BUFFERS, UserMode);
    if (!irp) {
        if (sync)
            IopReleaseFileLock(fo);
        ObDereferenceObject(fo);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    irp->UserIosb = (PIO_STATUS_BLOCK)uiosb;
    s = IopUserServiceTail(dev, irp, fo);
    ObDereferenceObject(fo);
    return s;
}

static NTSTATUS NtCancelIoFile(ULONG64 fh, ULONG64 uiosb, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a3, (void)a4, (void)a5, (void)a6;
    NTSTATUS s = ExProbeUserOutput((void *)uiosb, sizeof(IO_STATUS_BLOCK), sizeof(IO_STATUS_BLOCK), 8);
    if (!NT_SUCCESS(s))
        return s;
    PFILE_OBJECT fo;
    if (!NT_SUCCESS(s = ObReferenceObjectByHandle(fh, 0, IoFileObjectType, UserMode, (PVOID *)&fo, NULL)))
        return s;
    s = IopCancelFileIo(fo);
    ObDereferenceObject(fo);
    IO_STATUS_BLOCK iosb = { { s }, 0 };
    (void)ExReturnToUser((void *)uiosb, &iosb, sizeof(iosb), 8);
    return s;
}

void IopRegisterServices(void)
{
    KiRegisterServiceN(SYS_NtCreateFile, NtCreateFile_, 11);
    KiRegisterService(SYS_NtOpenFile, NtOpenFile);
    KiRegisterServiceN(SYS_NtReadFile, NtReadFile_, 9);
    KiRegisterServiceN(SYS_NtWriteFile, NtWriteFile_, 9);
    KiRegisterServiceN(SYS_NtDeviceIoControlFile, NtDeviceIoControlFile_, 10);
    KiRegisterService(SYS_NtFlushBuffersFile, NtFlushBuffersFile);
    KiRegisterService(SYS_NtCancelIoFile, NtCancelIoFile);
}
