/*
 * Driver objects. A driver built into the kernel is started with
 * IoCreateDriver: the I/O manager makes \Driver\Name and calls the
 * driver's entry point with it, the way it calls DriverEntry for a .sys
 * file it has loaded. Every MajorFunction starts as a routine that
 * refuses the request, so a driver fills in only what it handles.
 */
#include "io/iop.h"

static LIST_ENTRY driver_list;     /* every driver object, in creation order */
static KSPIN_LOCK driver_list_lock;

/* The object body is the DRIVER_OBJECT (at offset 0, so a PDRIVER_OBJECT
 * is what Ob* routines take), with the I/O manager's list link after it. */
typedef struct {
    DRIVER_OBJECT Driver;
    LIST_ENTRY Link;
} DRIVER_OBJECT_BODY;

NTSTATUS IopInvalidDeviceRequest(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    irp->IoStatus.Status = STATUS_INVALID_DEVICE_REQUEST;
    irp->IoStatus.Information = 0;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return STATUS_INVALID_DEVICE_REQUEST;
}

static void delete_driver(PVOID object)
{
    DRIVER_OBJECT_BODY *b = object;
    KIRQL old;
    KeAcquireSpinLock(&driver_list_lock, &old);
    if (!IsListEmpty(&b->Link))   /* not linked when its insertion failed */
        RemoveEntryList(&b->Link);
    KeReleaseSpinLock(&driver_list_lock, old);
}

void IopInitializeDrivers(void)
{
    InitializeListHead(&driver_list);
    KeInitializeSpinLock(&driver_list_lock);
    OBJECT_TYPE_INITIALIZER init;
    memset(&init, 0, sizeof(init));
    init.GenericMapping = (GENERIC_MAPPING){ STANDARD_RIGHTS_READ | 1, STANDARD_RIGHTS_WRITE,
                                             STANDARD_RIGHTS_EXECUTE | 1, STANDARD_RIGHTS_REQUIRED | 1 };
    init.ValidAccessMask = STANDARD_RIGHTS_REQUIRED | 1;
    init.DispatcherHeaderOffset = -1;
    init.DeleteProcedure = delete_driver;
    NTSTATUS s = ObCreateObjectType("Driver", &init, &IoDriverObjectType);
    ASSERT(NT_SUCCESS(s));
}

NTSTATUS IoCreateDriver(PCSTRING name, PDRIVER_INITIALIZE init, PDRIVER_OBJECT *out)
{
    PVOID obj;
    NTSTATUS s = ObCreateObject(IoDriverObjectType, name, sizeof(DRIVER_OBJECT_BODY), &obj);
    if (!NT_SUCCESS(s))
        return s;
    DRIVER_OBJECT_BODY *b = obj;
    PDRIVER_OBJECT d = &b->Driver;
    d->Type = IO_TYPE_DRIVER;
    d->Size = sizeof(*d);
    d->DriverInit = init;
    InitializeListHead(&b->Link);
    for (int i = 0; i <= IRP_MJ_MAXIMUM_FUNCTION; i++)
        d->MajorFunction[i] = IopInvalidDeviceRequest;
    /* Permanent (no handle): the namespace holds the reference until
     * IoUnloadDriver makes it temporary. */
    if (!NT_SUCCESS(s = ObInsertObject(obj, 0, NULL)))
        return s;
    /* The name, for messages: the namespace's copy. */
    d->DriverName.Buffer = (PCHAR)ObGetObjectName(obj);
    d->DriverName.Length = (USHORT)strlen(d->DriverName.Buffer);
    d->DriverName.MaximumLength = d->DriverName.Length;
    KIRQL old;
    KeAcquireSpinLock(&driver_list_lock, &old);
    InsertTailList(&driver_list, &b->Link);
    KeReleaseSpinLock(&driver_list_lock, old);
    s = init(d, NULL);
    if (!NT_SUCCESS(s)) {
        /* A driver whose entry fails is unloaded at once, NT's rule:
         * it must have deleted what it created. */
        ObMakeTemporaryObject(obj);
        return s;
    }
    if (out)
        *out = d;
    return STATUS_SUCCESS;
}

NTSTATUS IoUnloadDriver(PDRIVER_OBJECT d)
{
    if (!d->DriverUnload)
        return STATUS_INVALID_DEVICE_REQUEST;   /* NT: a driver without DriverUnload cannot be unloaded */
    d->DriverUnload(d);
    /* Devices still alive (open files) keep the driver object referenced;
     * it goes with the last of them. */
    ObMakeTemporaryObject(CONTAINING_RECORD(d, DRIVER_OBJECT_BODY, Driver));
    return STATUS_SUCCESS;
}

void IoEnumerateDrivers(IO_ENUM_DRIVER_ROUTINE fn, PVOID ctx)
{
    /* Referenced one at a time, so FN runs without the list lock. */
    DRIVER_OBJECT_BODY *list[64];
    ULONG n = 0;
    KIRQL old;
    KeAcquireSpinLock(&driver_list_lock, &old);
    for (PLIST_ENTRY e = driver_list.Flink; e != &driver_list && n < ARRAYSIZE(list); e = e->Flink) {
        list[n] = CONTAINING_RECORD(e, DRIVER_OBJECT_BODY, Link);
        ObReferenceObject(list[n++]);
    }
    KeReleaseSpinLock(&driver_list_lock, old);
    ULONG i = 0;
    for (; i < n && fn(&list[i]->Driver, ctx); i++)
        ObDereferenceObject(list[i]);
    for (; i < n; i++)
        ObDereferenceObject(list[i]);
}
