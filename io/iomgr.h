/*
 * iomgr.h: NT's I/O manager as a driver sees it (included by io/io.h):
 * DRIVER_OBJECT, DEVICE_OBJECT, FILE_OBJECT, IRP and IO_STACK_LOCATION
 * in wdm.h's field order, and the routines that create, send, complete
 * and cancel requests. docs/io.md follows one read through all of it.
 *
 * The shape of a request: an IRP is a header followed by StackSize stack
 * locations, one per driver in the device stack it is sent down. The
 * top driver's location is the highest in memory; IoCallDriver steps one
 * location down and calls the next driver; IoCompleteRequest walks back
 * up, calling each location's completion routine. Whoever sent the IRP
 * (the I/O manager for a system service) finishes it in the requesting
 * thread's context: copies a buffered result back, unlocks and frees the
 * MDLs, writes the IO_STATUS_BLOCK, signals the event.
 */
#pragma once

struct _DEVICE_OBJECT;
struct _DRIVER_OBJECT;
struct _FILE_OBJECT;
typedef struct _DEVICE_OBJECT DEVICE_OBJECT, *PDEVICE_OBJECT;
typedef struct _DRIVER_OBJECT DRIVER_OBJECT, *PDRIVER_OBJECT;
typedef struct _FILE_OBJECT FILE_OBJECT, *PFILE_OBJECT;
typedef struct _IO_STACK_LOCATION IO_STACK_LOCATION, *PIO_STACK_LOCATION;

typedef struct _IO_STATUS_BLOCK {
    union {
        NTSTATUS Status;
        PVOID Pointer;
    };
    ULONG_PTR Information;   /* bytes transferred, for reads and writes */
} IO_STATUS_BLOCK, *PIO_STATUS_BLOCK;

/* Object type codes in the first CSHORT of each I/O structure (NT's IO_TYPE_*). */
#define IO_TYPE_DRIVER 4
#define IO_TYPE_DEVICE 3
#define IO_TYPE_FILE   5
#define IO_TYPE_IRP    6

enum {   /* major functions; enums so GDB reads them from the DWARF */
    IRP_MJ_CREATE = 0x00,
    IRP_MJ_CREATE_NAMED_PIPE = 0x01,
    IRP_MJ_CLOSE = 0x02,
    IRP_MJ_READ = 0x03,
    IRP_MJ_WRITE = 0x04,
    IRP_MJ_QUERY_INFORMATION = 0x05,
    IRP_MJ_SET_INFORMATION = 0x06,
    IRP_MJ_QUERY_EA = 0x07,
    IRP_MJ_SET_EA = 0x08,
    IRP_MJ_FLUSH_BUFFERS = 0x09,
    IRP_MJ_QUERY_VOLUME_INFORMATION = 0x0A,
    IRP_MJ_SET_VOLUME_INFORMATION = 0x0B,
    IRP_MJ_DIRECTORY_CONTROL = 0x0C,
    IRP_MJ_FILE_SYSTEM_CONTROL = 0x0D,
    IRP_MJ_DEVICE_CONTROL = 0x0E,
    IRP_MJ_INTERNAL_DEVICE_CONTROL = 0x0F,
    IRP_MJ_SHUTDOWN = 0x10,
    IRP_MJ_LOCK_CONTROL = 0x11,
    IRP_MJ_CLEANUP = 0x12,
    IRP_MJ_CREATE_MAILSLOT = 0x13,
    IRP_MJ_QUERY_SECURITY = 0x14,
    IRP_MJ_SET_SECURITY = 0x15,
    IRP_MJ_POWER = 0x16,
    IRP_MJ_SYSTEM_CONTROL = 0x17,
    IRP_MJ_DEVICE_CHANGE = 0x18,
    IRP_MJ_QUERY_QUOTA = 0x19,
    IRP_MJ_SET_QUOTA = 0x1A,
    IRP_MJ_PNP = 0x1B,
    IRP_MJ_MAXIMUM_FUNCTION = 0x1B,
};

typedef NTSTATUS (*PDRIVER_DISPATCH)(PDEVICE_OBJECT DeviceObject, PIRP Irp);
typedef void (*PDRIVER_UNLOAD)(PDRIVER_OBJECT DriverObject);
typedef NTSTATUS (*PDRIVER_INITIALIZE)(PDRIVER_OBJECT DriverObject, PANSI_STRING RegistryPath);
typedef void (*PDRIVER_STARTIO)(PDEVICE_OBJECT DeviceObject, PIRP Irp);
/* Called with the cancel spin lock held (IRQL DISPATCH_LEVEL); must
 * release it with IoReleaseCancelSpinLock(Irp->CancelIrql). */
typedef void (*PDRIVER_CANCEL)(PDEVICE_OBJECT DeviceObject, PIRP Irp);
/* IRQL <= DISPATCH_LEVEL. Return STATUS_MORE_PROCESSING_REQUIRED to stop
 * completion and take the IRP back; otherwise, if Irp->PendingReturned,
 * call IoMarkIrpPending(Irp) and return any other status. */
typedef NTSTATUS (*PIO_COMPLETION_ROUTINE)(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context);

struct _DRIVER_OBJECT {
    CSHORT Type;                     /* IO_TYPE_DRIVER */
    CSHORT Size;
    PDEVICE_OBJECT DeviceObject;     /* its devices, linked by NextDevice */
    ULONG Flags;
    ANSI_STRING DriverName;          /* \Driver\Null */
    PDRIVER_INITIALIZE DriverInit;
    PDRIVER_STARTIO DriverStartIo;
    PDRIVER_UNLOAD DriverUnload;
    PDRIVER_DISPATCH MajorFunction[IRP_MJ_MAXIMUM_FUNCTION + 1];
    PVOID DriverExtension;           /* mdlos: a pointer the driver may use freely */
};

enum {       DO_VERIFY_VOLUME = 0x00000002,
    DO_BUFFERED_IO = 0x00000004,
    DO_EXCLUSIVE = 0x00000008,
    DO_DIRECT_IO = 0x00000010,
    DO_MAP_IO_BUFFER = 0x00000020,
    DO_DEVICE_INITIALIZING = 0x00000080,
    DO_POWER_PAGABLE = 0x00002000,
};
/* DeviceType (a few of NT's FILE_DEVICE_*) */
#define FILE_DEVICE_DISK      0x00000007
#define FILE_DEVICE_NULL      0x00000015
#define FILE_DEVICE_UNKNOWN   0x00000022
/* Characteristics */
#define FILE_REMOVABLE_MEDIA  0x00000001
#define FILE_DEVICE_SECURE_OPEN 0x00000100
/* AlignmentRequirement: a mask, the buffer address & it must be 0 */
#define FILE_BYTE_ALIGNMENT   0x00000000
#define FILE_WORD_ALIGNMENT   0x00000001
#define FILE_LONG_ALIGNMENT   0x00000003
#define FILE_QUAD_ALIGNMENT   0x00000007
#define FILE_OCTA_ALIGNMENT   0x0000000F
#define FILE_512_BYTE_ALIGNMENT 0x000001FF

enum {       DOE_UNLOAD_PENDING = 0x00000001,
    DOE_DELETE_PENDING = 0x00000002,
};

typedef struct _DEVOBJ_EXTENSION {
    CSHORT Type, Size;
    PDEVICE_OBJECT DeviceObject;
    ULONG ExtensionFlags;            /* DOE_* */
    PDEVICE_OBJECT AttachedTo;       /* the device this one sits on, NULL at the bottom */
} DEVOBJ_EXTENSION, *PDEVOBJ_EXTENSION;

struct _DEVICE_OBJECT {
    CSHORT Type;                     /* IO_TYPE_DEVICE */
    USHORT Size;
    LONG ReferenceCount;             /* open file objects on it (NT's meaning) */
    PDRIVER_OBJECT DriverObject;
    PDEVICE_OBJECT NextDevice;       /* the driver's next device */
    PDEVICE_OBJECT AttachedDevice;   /* the device above this one, NULL at the top */
    PIRP CurrentIrp;                 /* for StartIo drivers */
    ULONG Flags;                     /* DO_* */
    ULONG Characteristics;
    PVOID DeviceExtension;           /* DeviceExtensionSize bytes, zeroed, after the object */
    ULONG DeviceType;                /* FILE_DEVICE_* */
    CCHAR StackSize;                 /* stack locations an IRP sent here needs: 1 + those below */
    ULONG AlignmentRequirement;      /* FILE_*_ALIGNMENT */
    KDPC Dpc;                        /* for IoRequestDpc from the ISR */
    USHORT SectorSize;
    PDEVOBJ_EXTENSION DeviceObjectExtension;
};

enum {       FO_SYNCHRONOUS_IO = 0x00000002,
    FO_ALERTABLE_IO = 0x00000004,
    FO_NO_INTERMEDIATE_BUFFERING = 0x00000008,
    FO_HANDLE_CREATED = 0x00040000,
    FO_FILE_OPEN = 0x00100000, /* IRP_MJ_CREATE succeeded: CLOSE is owed */
    FO_CLEANUP_COMPLETE = 0x00004000,
};

struct _FILE_OBJECT {
    CSHORT Type;                     /* IO_TYPE_FILE */
    CSHORT Size;
    PDEVICE_OBJECT DeviceObject;     /* the device that was opened (bottom of what the name named) */
    PVOID FsContext, FsContext2;     /* the driver's, per open */
    BOOLEAN ReadAccess, WriteAccess, DeleteAccess;
    BOOLEAN SharedRead, SharedWrite, SharedDelete;
    BOOLEAN DeletePending;
    ULONG Flags;                     /* FO_* */
    ANSI_STRING FileName;            /* what followed the device's name, "" for the device itself */
    LARGE_INTEGER CurrentByteOffset; /* kept by the I/O manager for FO_SYNCHRONOUS_IO */
    volatile LONG Busy;              /* a synchronous request holds the file */
    KEVENT Lock;                     /* serializes synchronous requests on it */
    KEVENT Event;                    /* signaled when a request on it completes */
    NTSTATUS FinalStatus;
    /* NT's CompletionContext: the completion port its requests complete to
     * (referenced; set once, by NtSetInformationFile), and the key each of
     * their packets carries. */
    struct _IOP_COMPLETION_PORT *CompletionPort;
    PVOID CompletionKey;
};

/* ---- the IRP ---- */
enum {   /* Irp->Flags */
    IRP_NOCACHE = 0x00000001,
    IRP_PAGING_IO = 0x00000002,
    IRP_SYNCHRONOUS_API = 0x00000004,
    IRP_ASSOCIATED_IRP = 0x00000008,
    IRP_BUFFERED_IO = 0x00000010,
    IRP_DEALLOCATE_BUFFER = 0x00000020,
    IRP_INPUT_OPERATION = 0x00000040,
    IRP_SYNCHRONOUS_PAGING_IO = 0x00000040, /* the same bit: its meaning depends on IRP_PAGING_IO */
    IRP_CREATE_OPERATION = 0x00000080,
    IRP_READ_OPERATION = 0x00000100,
    IRP_WRITE_OPERATION = 0x00000200,
    IRP_CLOSE_OPERATION = 0x00000400,
    IRP_DEFER_IO_COMPLETION = 0x00000800,
    /* mdlos: a request on a file with a completion port - the IRP itself
     * becomes the port's packet at completion, and stage 2 runs in the
     * thread that removes it (io/completion.c). */
    IRP_COMPLETION_PORT = 0x00100000,
    /* mdlos: a request from an I/O ring - completion writes its CQE
     * through the ring's system mapping and finishes the IRP at once, in
     * whatever context stage 1 ran (io/ioring.c). */
    IRP_COMPLETION_RING = 0x00200000,
};
/* Irp->AllocationFlags */
#define IRP_QUOTA_CHARGED      0x01
#define IRP_ALLOCATED_MUST_SUCCEED 0x02
#define IRP_ALLOCATED_FIXED_SIZE 0x04
#define IRP_LOOKASIDE_ALLOCATION 0x08

struct _IRP {
    CSHORT Type;                     /* IO_TYPE_IRP */
    USHORT Size;                     /* IoSizeOfIrp(StackCount) */
    PMDL MdlAddress;                 /* direct I/O: the caller's buffer, locked */
    ULONG Flags;                     /* IRP_* */
    union {
        PIRP MasterIrp;              /* an associated IRP's master */
        volatile LONG IrpCount;      /* a master: associated IRPs outstanding */
        PVOID SystemBuffer;          /* buffered I/O: the nonpaged copy */
    } AssociatedIrp;
    LIST_ENTRY ThreadListEntry;      /* on the requesting thread's IrpList */
    IO_STATUS_BLOCK IoStatus;
    KPROCESSOR_MODE RequestorMode;   /* UserMode: buffers are the caller's and were probed */
    BOOLEAN PendingReturned;
    CHAR StackCount;
    CHAR CurrentLocation;            /* StackCount + 1 when no driver has it; counts down */
    volatile BOOLEAN Cancel;
    KIRQL CancelIrql;
    CCHAR ApcEnvironment;
    UCHAR AllocationFlags;
    PIO_STATUS_BLOCK UserIosb;       /* where the caller wants the status (user or kernel address) */
    PKEVENT UserEvent;               /* signaled at completion */
    union {
        struct {
            PVOID UserApcRoutine;    /* mdlos has no user APCs: always NULL */
            PVOID UserApcContext;
        } AsynchronousParameters;
        LARGE_INTEGER AllocationSize;
    } Overlay;
    volatile PDRIVER_CANCEL CancelRoutine;
    PVOID UserBuffer;                /* the caller's buffer (neither I/O, buffered copy-back target) */
    union {
        struct {
            PVOID DriverContext[4];  /* the current driver's, while it owns the IRP */
            PKTHREAD Thread;         /* the requester: completion runs in its context */
            PCHAR AuxiliaryBuffer;
            struct {
                LIST_ENTRY ListEntry;   /* the current driver's queue link */
                PIO_STACK_LOCATION CurrentStackLocation;
            };
            PFILE_OBJECT OriginalFileObject;
        } Overlay;
        KAPC Apc;                    /* the completion APC to Thread */
    } Tail;
};

enum {       SL_PENDING_RETURNED = 0x01,
    SL_ERROR_RETURNED = 0x02,
    SL_INVOKE_ON_CANCEL = 0x20,
    SL_INVOKE_ON_SUCCESS = 0x40,
    SL_INVOKE_ON_ERROR = 0x80,
};
/* IO_STACK_LOCATION.Flags for IRP_MJ_READ/WRITE */
#define SL_WRITE_THROUGH    0x04
#define SL_OVERRIDE_VERIFY_VOLUME 0x02

struct _IO_STACK_LOCATION {
    UCHAR MajorFunction, MinorFunction, Flags, Control;
    union {
        struct {
            PVOID SecurityContext;
            ULONG Options;           /* CreateDisposition << 24 | CreateOptions */
            USHORT __attribute__((aligned(8))) FileAttributes;
            USHORT ShareAccess;
            ULONG __attribute__((aligned(8))) EaLength;
        } Create;
        struct {
            ULONG Length;
            ULONG __attribute__((aligned(8))) Key;
            ULONG Flags;
            LARGE_INTEGER ByteOffset;
        } Read;
        struct {
            ULONG Length;
            ULONG __attribute__((aligned(8))) Key;
            ULONG Flags;
            LARGE_INTEGER ByteOffset;
        } Write;
        struct {
            ULONG OutputBufferLength;
            ULONG __attribute__((aligned(8))) InputBufferLength;
            ULONG __attribute__((aligned(8))) IoControlCode;
            PVOID Type3InputBuffer;
        } DeviceIoControl;
        struct {
            PVOID Argument1, Argument2, Argument3, Argument4;
        } Others;
    } Parameters;
    PDEVICE_OBJECT DeviceObject;     /* set by IoCallDriver: the device this location is for */
    PFILE_OBJECT FileObject;
    PIO_COMPLETION_ROUTINE CompletionRoutine;   /* set by the driver above, for when this location completes */
    PVOID Context;
};
_Static_assert(sizeof(IO_STACK_LOCATION) == 0x48, "IO_STACK_LOCATION is 0x48 bytes on x64, as in wdm.h");

/* What a completion routine returns to let completion go on (wdm.h). */
#define STATUS_CONTINUE_COMPLETION STATUS_SUCCESS

#define IoSizeOfIrp(n) ((USHORT)(sizeof(IRP) + (n) * sizeof(IO_STACK_LOCATION)))
#define IO_NO_INCREMENT 0
#define IO_DISK_INCREMENT 1

static inline PIO_STACK_LOCATION IoGetCurrentIrpStackLocation(PIRP Irp)
{
    return Irp->Tail.Overlay.CurrentStackLocation;
}
static inline PIO_STACK_LOCATION IoGetNextIrpStackLocation(PIRP Irp)
{
    return Irp->Tail.Overlay.CurrentStackLocation - 1;
}
/* The next driver gets a copy of this location's parameters, without
 * this driver's completion routine (which belongs to the caller above). */
static inline void IoCopyCurrentIrpStackLocationToNext(PIRP Irp)
{
    PIO_STACK_LOCATION cur = IoGetCurrentIrpStackLocation(Irp), next = cur - 1;
    *next = *cur;
    next->CompletionRoutine = NULL;
    next->Context = NULL;
    next->Control = 0;
}
/* Pass the IRP on without using a location: the next driver sees this
 * one's location as its own. No completion routine can be set then. */
static inline void IoSkipCurrentIrpStackLocation(PIRP Irp)
{
    Irp->CurrentLocation++;
    Irp->Tail.Overlay.CurrentStackLocation++;
}
static inline void IoMarkIrpPending(PIRP Irp)
{
    IoGetCurrentIrpStackLocation(Irp)->Control |= SL_PENDING_RETURNED;
}
static inline void IoSetCompletionRoutine(PIRP Irp, PIO_COMPLETION_ROUTINE Routine, PVOID Context,
                                          BOOLEAN InvokeOnSuccess, BOOLEAN InvokeOnError, BOOLEAN InvokeOnCancel)
{
    PIO_STACK_LOCATION next = IoGetNextIrpStackLocation(Irp);
    next->CompletionRoutine = Routine;
    next->Context = Context;
    next->Control = 0;
    if (InvokeOnSuccess)
        next->Control |= SL_INVOKE_ON_SUCCESS;
    if (InvokeOnError)
        next->Control |= SL_INVOKE_ON_ERROR;
    if (InvokeOnCancel)
        next->Control |= SL_INVOKE_ON_CANCEL;
}
/* Like IoSetCompletionRoutine, and the device object stays referenced
 * until the routine has run, so its driver cannot unload meanwhile.
 * STATUS_INSUFFICIENT_RESOURCES when its small context cannot be had. */
NTSTATUS IoSetCompletionRoutineEx(PDEVICE_OBJECT DeviceObject, PIRP Irp, PIO_COMPLETION_ROUTINE Routine,
                                  PVOID Context, BOOLEAN InvokeOnSuccess, BOOLEAN InvokeOnError,
                                  BOOLEAN InvokeOnCancel);

/* ---- drivers and devices (io/driver.c, io/device.c) ---- */
/* Make \Driver\NAME and call INIT on it (NT's IoCreateDriver, for drivers
 * built into the kernel). The driver's MajorFunction[] starts filled
 * with a routine that completes STATUS_INVALID_DEVICE_REQUEST. */
NTSTATUS IoCreateDriver(PCSTRING DriverName, PDRIVER_INITIALIZE InitializationFunction, PDRIVER_OBJECT *Driver);
/* Unload: call DriverUnload (which must delete its devices), then drop
 * the driver object. mdlos's counterpart of NtUnloadDriver, for tests. */
NTSTATUS IoUnloadDriver(PDRIVER_OBJECT DriverObject);
NTSTATUS IoCreateDevice(PDRIVER_OBJECT DriverObject, ULONG DeviceExtensionSize, PCSTRING DeviceName,
                        ULONG DeviceType, ULONG DeviceCharacteristics, BOOLEAN Exclusive,
                        PDEVICE_OBJECT *DeviceObject);
/* The name goes at once; the object when its last file object closes. */
void IoDeleteDevice(PDEVICE_OBJECT DeviceObject);
/* Put SOURCE on top of TARGET's stack; returns the device it now sits on
 * (the old top), NULL if TARGET is being deleted. */
PDEVICE_OBJECT IoAttachDeviceToDeviceStack(PDEVICE_OBJECT SourceDevice, PDEVICE_OBJECT TargetDevice);
/* Take the device attached to TARGET off it. */
void IoDetachDevice(PDEVICE_OBJECT TargetDevice);
PDEVICE_OBJECT IoGetAttachedDevice(PDEVICE_OBJECT DeviceObject);
PDEVICE_OBJECT IoGetAttachedDeviceReference(PDEVICE_OBJECT DeviceObject);
/* The device requests on FILE go to: the top of the opened device's stack. */
PDEVICE_OBJECT IoGetRelatedDeviceObject(PFILE_OBJECT FileObject);
/* Open the device named NAME from kernel mode: a referenced file object
 * (drop it with ObDereferenceObject) and the top device of its stack. */
NTSTATUS IoGetDeviceObjectPointer(PCSTRING ObjectName, ACCESS_MASK DesiredAccess, PFILE_OBJECT *FileObject,
                                  PDEVICE_OBJECT *DeviceObject);
NTSTATUS IoCreateSymbolicLink(PCSTRING SymbolicLinkName, PCSTRING DeviceName);
NTSTATUS IoDeleteSymbolicLink(PCSTRING SymbolicLinkName);

/* ---- IRPs (io/irp.c) ---- */
/* An IRP with STACKSIZE locations, from nonpaged pool (small ones from a
 * lookaside list). NULL when out of memory. */
PIRP IoAllocateIrp(CCHAR StackSize, BOOLEAN ChargeQuota);
void IoInitializeIrp(PIRP Irp, USHORT PacketSize, CCHAR StackSize);
/* Make a completed IRP ready to be sent again, with STATUS. */
void IoReuseIrp(PIRP Irp, NTSTATUS Status);
/* Freeing an IRP that is still queued to a thread, or owned by a driver,
 * is a bugcheck (mdlos: 0xC4/0x1011 "IRP freed while in use"). */
void IoFreeIrp(PIRP Irp);
/* Associated IRPs: the master completes when the last associated one does. */
PIRP IoMakeAssociatedIrp(PIRP Irp, CCHAR StackSize);

/* Send IRP to DEVICE: step to the next stack location, record DEVICE in
 * it, call the driver's MajorFunction. No locations left is
 * NO_MORE_IRP_STACK_LOCATIONS (0x35). Returns what the driver returned:
 * STATUS_PENDING, or the status it completed the IRP with. */
NTSTATUS IoCallDriver(PDEVICE_OBJECT DeviceObject, PIRP Irp);

/* A plug (io/plug.c): a thread about to send a batch of requests says so,
 * and a driver that can do better with the whole batch in hand (the
 * virtio-blk driver merges adjacent requests) queues what it gets and
 * starts the device once, when the batch ends. Linux's block layer has
 * the same (blk_start_plug around io_submit); NT has no such call. */
#define IO_PLUG_DEVICES 4
typedef void IO_UNPLUG_ROUTINE(PDEVICE_OBJECT DeviceObject);
typedef struct _IO_PLUG {
    ULONG Count;
    PDEVICE_OBJECT Device[IO_PLUG_DEVICES];
    IO_UNPLUG_ROUTINE *Unplug[IO_PLUG_DEVICES];
} IO_PLUG, *PIO_PLUG;
void IoStartPlug(PIO_PLUG Plug);
BOOLEAN IoPlugDevice(PDEVICE_OBJECT DeviceObject, IO_UNPLUG_ROUTINE *Unplug);
void IoFinishPlug(PIO_PLUG Plug);
/* The driver is done with IRP: run the completion routines from this
 * location up (each sees its caller's location as current), stopping
 * at STATUS_MORE_PROCESSING_REQUIRED, propagating SL_PENDING_RETURNED,
 * then finish the request for whoever sent it. Any IRQL <= DISPATCH_LEVEL.
 * Completing with STATUS_PENDING, with a cancel routine still set, or an
 * IRP no driver holds (completed twice) is a bugcheck:
 * MULTIPLE_IRP_COMPLETE_REQUESTS (0x44) / 0xC4 with the rule named. */
void IoCompleteRequest(PIRP Irp, CCHAR PriorityBoost);

/* ---- cancel (io/cancel.c) ----
 * The cancel spin lock guards every IRP's CancelRoutine and Cancel flag
 * against a cancel racing the driver's dequeue. */
void IoAcquireCancelSpinLock(PKIRQL Irql);
void IoReleaseCancelSpinLock(KIRQL Irql);
/* Atomically set IRP's cancel routine (NULL clears it); returns the old one.
 * A driver that clears it and gets NULL back has lost the race: the
 * cancel routine is running or has run, and owns the IRP. */
PDRIVER_CANCEL IoSetCancelRoutine(PIRP Irp, PDRIVER_CANCEL CancelRoutine);
/* Set Irp->Cancel and call its cancel routine if it has one (TRUE then). */
BOOLEAN IoCancelIrp(PIRP Irp);

/* ---- building requests (io/build.c) ---- */
/* MajorFunction IRP_MJ_READ, WRITE, FLUSH_BUFFERS or SHUTDOWN, for a
 * kernel buffer (probed and locked with KernelMode for a DO_DIRECT_IO
 * device, copied for DO_BUFFERED_IO). The caller sends it with
 * IoCallDriver; on completion the I/O manager frees the MDL and buffer,
 * the caller frees the IRP (asynchronous) or the I/O manager does
 * (synchronous: it signals EVENT and writes IOSB first). */
PIRP IoBuildAsynchronousFsdRequest(ULONG MajorFunction, PDEVICE_OBJECT DeviceObject, PVOID Buffer, ULONG Length,
                                   PLARGE_INTEGER StartingOffset, PIO_STATUS_BLOCK IoStatusBlock);
PIRP IoBuildSynchronousFsdRequest(ULONG MajorFunction, PDEVICE_OBJECT DeviceObject, PVOID Buffer, ULONG Length,
                                  PLARGE_INTEGER StartingOffset, PKEVENT Event, PIO_STATUS_BLOCK IoStatusBlock);
PIRP IoBuildDeviceIoControlRequest(ULONG IoControlCode, PDEVICE_OBJECT DeviceObject, PVOID InputBuffer,
                                   ULONG InputBufferLength, PVOID OutputBuffer, ULONG OutputBufferLength,
                                   BOOLEAN InternalDeviceIoControl, PKEVENT Event, PIO_STATUS_BLOCK IoStatusBlock);

/* ---- paging I/O (io/paging.c): the memory manager's reads and writes.
 * MDL is locked (MDL_PAGES_LOCKED; MDL_IO_PAGE_READ for a read) and
 * stays the caller's: completion neither unlocks nor frees it, it writes
 * *IOSB and signals EVENT. */
NTSTATUS IoPageRead(PFILE_OBJECT FileObject, PMDL Mdl, PLARGE_INTEGER Offset, PKEVENT Event,
                    PIO_STATUS_BLOCK IoStatusBlock);
NTSTATUS IoSynchronousPageWrite(PFILE_OBJECT FileObject, PMDL Mdl, PLARGE_INTEGER Offset, PKEVENT Event,
                                PIO_STATUS_BLOCK IoStatusBlock);

/* ---- file services used from kernel mode ---- */
/* Cancel every IRP the current thread has outstanding and wait for them
 * to complete (a bounded wait; a driver that never completes a cancelled
 * IRP is reported and the IRP disassociated). Process exit calls it. */
void IoCancelThreadIo(PKTHREAD Thread);

/* For the shell, kd and GDB: walk the drivers in creation order. */
typedef BOOLEAN (*IO_ENUM_DRIVER_ROUTINE)(PDRIVER_OBJECT Driver, PVOID Context);
void IoEnumerateDrivers(IO_ENUM_DRIVER_ROUTINE Routine, PVOID Context);
/* Live IRPs (allocated, not yet freed), for the leak check. */
extern volatile LONG IopIrpsInUse;
