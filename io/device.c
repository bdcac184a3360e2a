/*
 * Device objects and device stacks. A device object is what a driver
 * exposes; a stack is several of them, one per driver, each attached on
 * top of the one below (a filter above a disk). A request for the stack
 * enters at the top (IoGetRelatedDeviceObject) and each driver passes it
 * down with IoCallDriver. Each device's StackSize is one more than the
 * device it sits on, so an IRP sized for the top has a location for
 * every driver below.
 */
#include "io/iop.h"

/* Guards AttachedDevice / AttachedTo of every device. */
static KSPIN_LOCK stack_lock;

static void delete_device(PVOID object)
{
    PDEVICE_OBJECT dev = object;
    ObDereferenceObject(dev->DriverObject);
}

void IopInitializeDevices(void)
{
    KeInitializeSpinLock(&stack_lock);
    OBJECT_TYPE_INITIALIZER init;
    memset(&init, 0, sizeof(init));
    init.GenericMapping = (GENERIC_MAPPING){ FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE,
                                             FILE_ALL_ACCESS };
    init.ValidAccessMask = FILE_ALL_ACCESS;
    init.DispatcherHeaderOffset = -1;
    init.DeleteProcedure = delete_device;
    NTSTATUS s = ObCreateObjectType("Device", &init, &IoDeviceObjectType);
    ASSERT(NT_SUCCESS(s));
}

NTSTATUS IoCreateDevice(PDRIVER_OBJECT drv, ULONG ext_size, PCSTRING name, ULONG type, ULONG characteristics,
                        BOOLEAN exclusive, PDEVICE_OBJECT *out)
{
    *out = NULL;
    if (ext_size > 64 * 1024)
        return STATUS_INVALID_PARAMETER;
    ULONG ext_off = (sizeof(DEVICE_OBJECT) + 15) & ~15u;
    ULONG doe_off = (ext_off + ext_size + 15) & ~15u;
    PVOID obj;
    NTSTATUS s = ObCreateObject(IoDeviceObjectType, name, doe_off + sizeof(DEVOBJ_EXTENSION), &obj);
    if (!NT_SUCCESS(s))
        return s;
    PDEVICE_OBJECT dev = obj;
    dev->Type = IO_TYPE_DEVICE;
    dev->Size = (USHORT)(sizeof(DEVICE_OBJECT) + ext_size);
    dev->DriverObject = drv;
    dev->Flags = exclusive ? DO_EXCLUSIVE : 0;
    dev->Characteristics = characteristics;
    dev->DeviceType = type;
    dev->StackSize = 1;
    dev->AlignmentRequirement = FILE_BYTE_ALIGNMENT;
    dev->SectorSize = type == FILE_DEVICE_DISK ? 512 : 0;
    dev->DeviceExtension = ext_size ? (PUCHAR)obj + ext_off : NULL;
    dev->DeviceObjectExtension = (PDEVOBJ_EXTENSION)((PUCHAR)obj + doe_off);
    dev->DeviceObjectExtension->Type = 13;   /* NT's IO_TYPE_DEVICE_OBJECT_EXTENSION */
    dev->DeviceObjectExtension->Size = sizeof(DEVOBJ_EXTENSION);
    dev->DeviceObjectExtension->DeviceObject = dev;
    ObReferenceObject(drv);   /* the device keeps its driver (code and dispatch table) alive */
    /* Permanent until IoDeleteDevice, named or not. */
    if (!NT_SUCCESS(s = ObInsertObject(obj, 0, NULL)))
        return s;   /* ObInsertObject dropped the object; its delete dropped the driver */
    KIRQL old;
    KeAcquireSpinLock(&stack_lock, &old);
    dev->NextDevice = drv->DeviceObject;
    drv->DeviceObject = dev;
    KeReleaseSpinLock(&stack_lock, old);
    *out = dev;
    return STATUS_SUCCESS;
}

void IoDeleteDevice(PDEVICE_OBJECT dev)
{
    KIRQL old;
    KeAcquireSpinLock(&stack_lock, &old);
    dev->DeviceObjectExtension->ExtensionFlags |= DOE_DELETE_PENDING;
    for (PDEVICE_OBJECT *p = &dev->DriverObject->DeviceObject; *p; p = &(*p)->NextDevice)
        if (*p == dev) {
            *p = dev->NextDevice;
            break;
        }
    KeReleaseSpinLock(&stack_lock, old);
    /* The name goes now; the object when the last open file lets go. */
    ObMakeTemporaryObject(dev);
}

PDEVICE_OBJECT IoGetAttachedDevice(PDEVICE_OBJECT dev)
{
    while (dev->AttachedDevice)
        dev = dev->AttachedDevice;
    return dev;
}

PDEVICE_OBJECT IoGetAttachedDeviceReference(PDEVICE_OBJECT dev)
{
    KIRQL old;
    KeAcquireSpinLock(&stack_lock, &old);
    dev = IoGetAttachedDevice(dev);
    ObReferenceObject(dev);
    KeReleaseSpinLock(&stack_lock, old);
    return dev;
}

PDEVICE_OBJECT IoGetRelatedDeviceObject(PFILE_OBJECT fo)
{
    return IoGetAttachedDevice(fo->DeviceObject);
}

PDEVICE_OBJECT IoAttachDeviceToDeviceStack(PDEVICE_OBJECT src, PDEVICE_OBJECT target)
{
    KIRQL old;
    KeAcquireSpinLock(&stack_lock, &old);
    PDEVICE_OBJECT top = IoGetAttachedDevice(target);
    if (top->DeviceObjectExtension->ExtensionFlags & (DOE_DELETE_PENDING | DOE_UNLOAD_PENDING)) {
        KeReleaseSpinLock(&stack_lock, old);
        return NULL;
    }
    top->AttachedDevice = src;
    src->DeviceObjectExtension->AttachedTo = top;
    src->StackSize = (CCHAR)(top->StackSize + 1);
    if (top->AlignmentRequirement > src->AlignmentRequirement)
        src->AlignmentRequirement = top->AlignmentRequirement;
    src->SectorSize = top->SectorSize;
    ObReferenceObject(top);   /* the filter's pointer to the device below, until IoDetachDevice */
    KeReleaseSpinLock(&stack_lock, old);
    return top;
}

void IoDetachDevice(PDEVICE_OBJECT target)
{
    KIRQL old;
    KeAcquireSpinLock(&stack_lock, &old);
    PDEVICE_OBJECT src = target->AttachedDevice;
    if (!src) {
        KeReleaseSpinLock(&stack_lock, old);
        KeBugCheckRule(DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x1012, (ULONG_PTR)target, 0, 0,
                       "IoDetachDevice(%p): no device is attached to it", target);
    }
    target->AttachedDevice = NULL;
    src->DeviceObjectExtension->AttachedTo = NULL;
    KeReleaseSpinLock(&stack_lock, old);
    ObDereferenceObject(target);
}

void IopDeviceFileClosed(PDEVICE_OBJECT dev)
{
    __atomic_sub_fetch(&dev->ReferenceCount, 1, __ATOMIC_ACQ_REL);
}

NTSTATUS IoCreateSymbolicLink(PCSTRING link, PCSTRING target)
{
    return ObCreateSymbolicLink(link, target);
}

NTSTATUS IoDeleteSymbolicLink(PCSTRING link)
{
    return ObDeleteSymbolicLink(link);
}

NTSTATUS IoGetDeviceObjectPointer(PCSTRING name, ACCESS_MASK access, PFILE_OBJECT *fo, PDEVICE_OBJECT *dev)
{
    NTSTATUS s = IopOpenDevice(name, access, FILE_SHARE_READ | FILE_SHARE_WRITE, FILE_OPEN, 0, KernelMode, fo);
    if (NT_SUCCESS(s))
        *dev = IoGetRelatedDeviceObject(*fo);
    return s;
}

/* For SystemDeviceList: every device of every driver, copied under the
 * stack lock (a device leaves its driver's list under it before its name
 * goes). Returns how many exist; fills at most MAX. */
static BOOLEAN snapshot_driver(PDRIVER_OBJECT drv, PVOID ctx)
{
    struct { SYSTEM_DEVICE_T *out; ULONG max, n; } *c = ctx;
    KIRQL old;
    KeAcquireSpinLock(&stack_lock, &old);
    for (PDEVICE_OBJECT d = drv->DeviceObject; d; d = d->NextDevice, c->n++) {
        if (c->n >= c->max)
            continue;
        SYSTEM_DEVICE_T *e = &c->out[c->n];
        memset(e, 0, sizeof(*e));
        e->Device = (uint64_t)d;
        e->AttachedDevice = (uint64_t)d->AttachedDevice;
        e->AttachedTo = (uint64_t)d->DeviceObjectExtension->AttachedTo;
        e->Flags = d->Flags;
        e->DeviceType = d->DeviceType;
        e->StackSize = (uint32_t)d->StackSize;
        e->AlignmentRequirement = d->AlignmentRequirement;
        e->ReferenceCount = (uint32_t)d->ReferenceCount;
        e->SectorSize = d->SectorSize;
        strlcpy(e->Name, ObGetObjectName(d), sizeof(e->Name));
        strlcpy(e->DriverName, drv->DriverName.Buffer ? drv->DriverName.Buffer : "", sizeof(e->DriverName));
    }
    KeReleaseSpinLock(&stack_lock, old);
    return TRUE;
}

ULONG IopSnapshotDevices(void *buf, ULONG max)
{
    struct { SYSTEM_DEVICE_T *out; ULONG max, n; } c = { buf, max, 0 };
    IoEnumerateDrivers(snapshot_driver, &c);
    return c.n;
}
