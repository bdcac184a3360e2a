/*
 * The system-call interface between user mode (user/) and the kernel:
 * numbers, argument conventions and shared structures. Included by both
 * sides, so it uses only fixed-size types.
 *
 * Calling convention (mdlos): SYSCALL with RAX = the number, arguments in
 * RDI, RSI, RDX, R10, R8, R9 (R10 instead of RCX, which SYSCALL overwrites
 * with the return address; R11 receives RFLAGS). The NTSTATUS comes back
 * in RAX; all other registers but RCX and R11 are preserved. Every pointer
 * argument is probed and captured by the kernel: a bad one returns
 * STATUS_ACCESS_VIOLATION (STATUS_GUARD_PAGE_VIOLATION for a guard page,
 * STATUS_DATATYPE_MISALIGNMENT when not aligned for its type), never a
 * crash. user/tests/svctable.h describes each service's arguments for the
 * bad-input matrix and the fuzzer: a new service goes there too.
 *
 * Arguments 7 and on (NtReadFile has 9, NtCreateFile 11) are on the user
 * stack, as NT x64 passes its fifth and later ones: at RSP+8, RSP+16, ...
 * at the SYSCALL instruction - the layout a SysV call to a stub that does
 * `mov %rcx,%r10; mov $N,%eax; syscall; ret` leaves, the slot at RSP
 * being the stub's return address. The kernel's dispatcher captures them
 * (probed: a bad user stack is STATUS_ACCESS_VIOLATION) before the
 * service runs, so a service sees all its arguments as values.
 */
#pragma once
#include <stdint.h>
#include "kernel/ntioapi.h"

#define NtCurrentProcess() ((HANDLE_T)-1)
typedef uint64_t HANDLE_T;

enum {
    SYS_NtTerminateProcess = 0,        /* (HANDLE process, NTSTATUS status) */
    SYS_NtDisplayString,               /* (const char *text, size_t length): write to the console */
    SYS_NtAllocateVirtualMemory,       /* (HANDLE, void **base, uint64_t zero_bits, size_t *size, uint32_t type, uint32_t protect) */
    SYS_NtFreeVirtualMemory,           /* (HANDLE, void **base, size_t *size, uint32_t type) */
    SYS_NtProtectVirtualMemory,        /* (HANDLE, void **base, size_t *size, uint32_t new_protect, uint32_t *old_protect) */
    SYS_NtQueryVirtualMemory,          /* (HANDLE, void *address, uint32_t class, void *buffer, size_t length, size_t *return_length) */
    SYS_NtCreateProcess,               /* (const char *image, const char *command_line, HANDLE *process): image = a GRUB module name */
    SYS_NtWaitForSingleObject,         /* (HANDLE, uint8_t alertable, int64_t *timeout): NULL = forever */
    SYS_NtClose,                       /* (HANDLE) */
    SYS_NtQueryInformationProcess,     /* (HANDLE, uint32_t class, void *buffer, size_t length, size_t *return_length) */
    SYS_NtDelayExecution,              /* (uint8_t alertable, int64_t *interval): 100 ns units, negative = relative */
    SYS_NtReadConsole,                 /* (char *buffer, size_t length, size_t *read): one line from the serial console */
    SYS_NtQuerySystemInformation,      /* (uint32_t class, void *buffer, size_t length, size_t *return_length) */
    SYS_NtYieldExecution,              /* () */
    SYS_NtGetCommandLine,              /* (char *buffer, size_t length, size_t *needed) */
    SYS_NtSetInformationProcess,       /* (HANDLE, uint32_t class, void *buffer, size_t length) */
    /* objects and events (kernel/ob, kernel/ex) */
    SYS_NtCreateEvent,                 /* (HANDLE *event, uint32_t access, OBJECT_ATTRIBUTES_T *attributes (NULL: unnamed), uint32_t type (0 notification, 1 synchronization), uint8_t initial_state) */
    SYS_NtOpenEvent,                   /* (HANDLE *event, uint32_t access, OBJECT_ATTRIBUTES_T *attributes) */
    SYS_NtSetEvent,                    /* (HANDLE event, int32_t *previous_state (optional)) */
    SYS_NtResetEvent,                  /* (HANDLE event, int32_t *previous_state (optional)) */
    /* files and devices (io/) */
    SYS_NtCreateFile,                  /* (HANDLE *file, uint32_t access, OBJECT_ATTRIBUTES_T *attributes, IO_STATUS_BLOCK_T *iosb, int64_t *allocation_size, uint32_t file_attributes, | uint32_t share_access, uint32_t disposition, uint32_t options, void *ea_buffer, uint32_t ea_length) */
    SYS_NtOpenFile,                    /* (HANDLE *file, uint32_t access, OBJECT_ATTRIBUTES_T *attributes, IO_STATUS_BLOCK_T *iosb, uint32_t share_access, uint32_t options) */
    SYS_NtReadFile,                    /* (HANDLE file, HANDLE event, void *apc_routine (NULL), void *apc_context, IO_STATUS_BLOCK_T *iosb, void *buffer, | uint32_t length, int64_t *byte_offset, uint32_t *key) */
    SYS_NtWriteFile,                   /* (HANDLE file, HANDLE event, void *apc_routine (NULL), void *apc_context, IO_STATUS_BLOCK_T *iosb, const void *buffer, | uint32_t length, int64_t *byte_offset, uint32_t *key) */
    SYS_NtDeviceIoControlFile,         /* (HANDLE file, HANDLE event, void *apc_routine (NULL), void *apc_context, IO_STATUS_BLOCK_T *iosb, uint32_t code, | void *input, uint32_t input_length, void *output, uint32_t output_length) */
    SYS_NtFlushBuffersFile,            /* (HANDLE file, IO_STATUS_BLOCK_T *iosb) */
    SYS_NtCancelIoFile,                /* (HANDLE file, IO_STATUS_BLOCK_T *iosb): cancel the calling thread's requests on it */
    /* I/O completion ports (io/completion.c) */
    SYS_NtCreateIoCompletion,          /* (HANDLE *port, uint32_t access, OBJECT_ATTRIBUTES_T *attributes (NULL: unnamed), uint32_t concurrency) */
    SYS_NtSetInformationFile,          /* (HANDLE file, IO_STATUS_BLOCK_T *iosb, void *information, uint32_t length, uint32_t class): FileCompletionInformation only */
    SYS_NtRemoveIoCompletion,          /* (HANDLE port, void **key, void **apc_context, IO_STATUS_BLOCK_T *iosb, int64_t *timeout (NULL: forever)) */
    SYS_NtRemoveIoCompletionEx,        /* (HANDLE port, FILE_IO_COMPLETION_INFORMATION_T *entries, uint32_t count, uint32_t *removed, int64_t *timeout, uint8_t alertable) */
    SYS_NtSetIoCompletion,             /* (HANDLE port, void *key, void *apc_context, NTSTATUS status, uint64_t information) */
    /* The I/O ring (io/ioring.c) */
    SYS_NtCreateIoRing,                /* (HANDLE *ring, uint32_t params_length, const IORING_CREATE_T *params, uint32_t info_length, IORING_INFO_T *info) */
    SYS_NtSubmitIoRing,                /* (HANDLE ring, uint32_t flags (0), uint32_t wait_operations, int64_t *timeout (NULL: forever)) */
    SYS_NtSetSystemInformation,        /* (uint32_t class, void *buffer, size_t length): SystemProfileControl only */
    SYS_COUNT
};

/* NtAllocateVirtualMemory / NtFreeVirtualMemory types (NT's values) */
#define MEM_COMMIT   0x00001000
#define MEM_RESERVE  0x00002000
#define MEM_DECOMMIT 0x00004000
#define MEM_RELEASE  0x00008000
#define MEM_FREE     0x00010000
#define MEM_PRIVATE  0x00020000
#define MEM_MAPPED   0x00040000
#define MEM_IMAGE    0x01000000

/* Page protections (NT's values). An enum, not #defines, so that the values
 * reach the kernel's DWARF (scripts/gdb/mdlos reads them there). */
enum {
    PAGE_NOACCESS          = 0x01,
    PAGE_READONLY          = 0x02,
    PAGE_READWRITE         = 0x04,
    PAGE_WRITECOPY         = 0x08,
    PAGE_EXECUTE           = 0x10,
    PAGE_EXECUTE_READ      = 0x20,
    PAGE_EXECUTE_READWRITE = 0x40,
    PAGE_EXECUTE_WRITECOPY = 0x80,
    PAGE_GUARD             = 0x100,
    PAGE_NOCACHE           = 0x200,
};

/* NtQueryVirtualMemory class 0 */
#define MemoryBasicInformation 0
typedef struct {
    uint64_t BaseAddress;
    uint64_t AllocationBase;
    uint32_t AllocationProtect;
    uint32_t Reserved;
    uint64_t RegionSize;
    uint32_t State;      /* MEM_COMMIT, MEM_RESERVE, MEM_FREE */
    uint32_t Protect;
    uint32_t Type;       /* MEM_PRIVATE, MEM_IMAGE, MEM_MAPPED */
    uint32_t Reserved2;
} MEMORY_BASIC_INFORMATION_T;

/* NtQueryInformationProcess classes */
#define ProcessBasicInformation 0
typedef struct {
    int32_t ExitStatus;          /* STATUS_PENDING (0x103) while running */
    uint32_t Reserved;
    uint64_t UniqueProcessId;
    uint64_t ParentProcessId;
} PROCESS_BASIC_INFORMATION_T;

#define ProcessFaultCounters 100     /* mdlos */
typedef struct {
    uint64_t DemandZeroFaults, SoftFaults, CopyOnWriteFaults, ImageFaults, HardFaults;
    uint64_t WorkingSetSize;      /* pages */
    uint64_t PeakWorkingSetSize;
    uint64_t PrivatePages;        /* committed private pages */
    uint64_t LockedPages;         /* pages locked by MDLs */
} PROCESS_FAULT_COUNTERS_T;

/* NtSetInformationProcess classes */
#define ProcessTrimWorkingSet 101    /* mdlos: no buffer; trims the whole working set */

/* NtQuerySystemInformation classes */
#define SystemProcessList 200        /* array of SYSTEM_PROCESS_T */
typedef struct {
    uint64_t ProcessId, ParentId;
    uint64_t WorkingSetSize, PrivatePages;
    uint32_t Threads, State;     /* State: 0 running, 1 exiting */
    char ImageName[32];
    uint64_t SoftFaults, HardFaults;   /* transition faults; pages read back from the pagefile (docs/paging.md) */
} SYSTEM_PROCESS_T;
#define SystemMemoryInformation 201
typedef struct {
    uint64_t PhysicalPages, AvailablePages, ZeroedPages, FreePages, StandbyPages, ModifiedPages;
    uint64_t DemandZeroFaults, SoftFaults, CopyOnWriteFaults, ImageFaults, HardFaults;
    uint64_t NonPagedPoolBytes, PagedPoolBytes;
    /* Commit (docs/mm.md): pages promised now, the most that may be, the peak. */
    uint64_t CommittedPages, CommitLimitPages, PeakCommitmentPages;
    /* Paging (docs/paging.md): the paging files' slots and those in use,
     * the modified page writer's pages written and clusters (sizes 1..16),
     * in-page reads and collided faults, pages in paging I/O now. */
    uint64_t PagingFilePages, PagingFileInUse;
    uint64_t PagesWritten, WriteClusters, WriteErrors, InPageReads, InPageErrors, CollidedFaults, PagesInFlight;
    uint64_t ClusterSizes[17];
    uint64_t InPagePrefetched;   /* pages a clustered read brought in beside the faulting one */
} SYSTEM_MEMORY_T;

/* Handles, devices and drivers, for the shell's `handles` and `devices`. */
#define SystemHandleList 202         /* array of SYSTEM_HANDLE_T, every process's handles */
typedef struct {
    uint64_t ProcessId;
    uint64_t Handle;
    uint64_t Object;             /* the body's kernel address (for GDB's obj) */
    uint32_t GrantedAccess;
    uint32_t HandleCount;        /* the object's, all processes */
    uint32_t PointerCount;
    uint32_t Reserved;
    char TypeName[16];           /* "Event", "File", "Process", ... */
    char Name[64];               /* the object's name; a file: its device's name */
} SYSTEM_HANDLE_T;
#define SystemDeviceList 203         /* array of SYSTEM_DEVICE_T, every device object */
typedef struct {
    uint64_t Device;             /* kernel address */
    uint64_t AttachedDevice;     /* the device above it, 0 at the top */
    uint64_t AttachedTo;         /* the device below it, 0 at the bottom */
    uint32_t Flags;              /* DO_* */
    uint32_t DeviceType;
    uint32_t StackSize;
    uint32_t AlignmentRequirement;
    uint32_t ReferenceCount;     /* open file objects */
    uint32_t SectorSize;
    char Name[64];               /* "\Device\RamDisk0", "" for an unnamed filter */
    char DriverName[32];         /* "\Driver\RamDisk" */
} SYSTEM_DEVICE_T;
#define SystemPciList 205            /* array of SYSTEM_PCI_T, every PCI function the bus driver found (204 is SystemInterruptTime) */
typedef struct {
    uint64_t Base;               /* physical address, or I/O port */
    uint64_t Size;               /* bytes */
    uint8_t Type;                /* 0 unused, 1 I/O, 2 memory 32-bit, 3 memory 64-bit, 4 upper half of 3 */
    uint8_t Prefetchable;
    uint8_t Reserved[6];
} SYSTEM_PCI_BAR_T;
typedef struct {
    uint8_t Bus, Device, Function, HeaderType;
    uint16_t VendorId, DeviceId;
    uint8_t BaseClass, SubClass, ProgIf, Revision;
    uint16_t SubVendorId, SubSystemId;
    uint8_t InterruptPin;        /* 0 none, 1..4 INTA..INTD */
    uint8_t InterruptLine;       /* the firmware's; the GSI on QEMU's pc */
    uint8_t SecondaryBus;        /* bridges */
    uint8_t BarCount;
    uint16_t MsixTableSize;      /* 0: no MSI-X */
    uint8_t MsiCap, MsixCap;     /* configuration offsets, 0 = absent */
    uint8_t CapCount;            /* every capability, in list order */
    uint8_t VendorCapCount;      /* vendor-specific (ID 9) ones */
    uint8_t Reserved[6];
    uint8_t CapIds[16];
    uint8_t VendorCfgTypes[8];   /* virtio's cfg_type of each vendor capability */
    SYSTEM_PCI_BAR_T Bars[6];
    char DriverName[32];         /* "\Driver\..." bound to it, "" for none */
} SYSTEM_PCI_T;

/* Monotonic time for ring 3 (what NT's user mode reads from
 * KUSER_SHARED_DATA.InterruptTime): 100 ns units since boot. */
#define SystemInterruptTime 204      /* mdlos */
typedef struct {
    uint64_t InterruptTime;
    uint64_t IdleCycles;       /* TSC cycles the CPU spent halted in the idle thread (NT: IdleProcessTime) */
} SYSTEM_INTERRUPT_TIME_T;

/* The I/O manager's bounded wait for cancelled requests (docs/io.md
 * "Cancel"): the wait it uses, and the IRPs it gave up on after it. */
#define SystemIoInformation 206      /* mdlos */
typedef struct {
    uint64_t CancelWaitMs;         /* io.cancel_wait_ms=, default 5000 */
    uint64_t IrpsDisassociated;    /* since boot */
} SYSTEM_IO_T;

/* The sampling profiler (kernel/ke/profile.c, docs/performance.md
 * "Profiling the guest"): its totals since the last clear. Every sample is
 * one of User, Idle or Kernel; a kernel sample is also counted by the IRQL
 * it interrupted, and by function (the report, PROFILE_REPORT). */
#define SystemProfileInformation 207 /* mdlos */
typedef struct {
    uint32_t Running;              /* 1 while the sample interrupt is armed */
    uint32_t Hz;                   /* the rate it runs (or last ran) at; 0: never started */
    uint64_t Samples;
    uint64_t User;                 /* ring 3 was interrupted */
    uint64_t Idle;                 /* the idle thread's HLT was */
    uint64_t Kernel;               /* kernel code was (the idle thread's own loop too) */
    uint64_t Unresolved;           /* of Kernel: an address no function symbol covers */
    uint64_t AddressesDropped;     /* of Kernel: not in the hot-address table (it was full) */
    uint64_t KernelByIrql[16];     /* of Kernel: by the IRQL the sample interrupted */
    uint64_t Cycles;               /* TSC cycles the profiler has been running since the clear */
} SYSTEM_PROFILE_T;

/* NtSetSystemInformation's one class: a uint32_t command for the profiler.
 * Start arms the sample interrupt at the boot's prof= rate (1000 Hz when
 * none was given), keeping the counts; Stop disarms it; Clear zeroes the
 * counts; Report prints them to the console as `prof:` lines. */
#define SystemProfileControl 208     /* mdlos */
enum { PROFILE_START = 1, PROFILE_STOP = 2, PROFILE_CLEAR = 3, PROFILE_REPORT = 4 };

/* Object names and attributes (NT's OBJECT_ATTRIBUTES; the name is an
 * 8-bit counted string, NT's ANSI_STRING - NT itself uses UTF-16). */
typedef struct {
    uint16_t Length, MaximumLength;
    char *Buffer;
} STRING_T;
typedef struct {
    uint32_t Length;             /* sizeof(OBJECT_ATTRIBUTES_T) */
    uint64_t RootDirectory;      /* 0: names are absolute */
    STRING_T *ObjectName;
    uint32_t Attributes;         /* OBJ_* (kernel/ob/ob.h) */
    void *SecurityDescriptor;    /* NULL */
    void *SecurityQualityOfService;
} OBJECT_ATTRIBUTES_T;
typedef struct {
    union {
        int32_t Status;
        void *Pointer;
    };
    uint64_t Information;        /* bytes transferred */
} IO_STATUS_BLOCK_T;

/* I/O completion ports (NT's names and values). */
#define IO_COMPLETION_QUERY_STATE  0x0001
#define IO_COMPLETION_MODIFY_STATE 0x0002
#define IO_COMPLETION_ALL_ACCESS   (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3)
#define FileCompletionInformation 30      /* NtSetInformationFile's class (FILE_INFORMATION_CLASS) */
typedef struct {
    uint64_t Port;               /* a completion port handle */
    void *Key;                   /* handed back with every packet of the file */
} FILE_COMPLETION_INFORMATION_T;
typedef struct {
    void *KeyContext;            /* the file's key (or NtSetIoCompletion's) */
    void *ApcContext;            /* the request's apc_context argument */
    IO_STATUS_BLOCK_T IoStatusBlock;   /* the request's final status and information */
} FILE_IO_COMPLETION_INFORMATION_T;
/* Entries one NtRemoveIoCompletionEx takes at most (a larger count is
 * accepted; mdlos bounds what one call copies out). */
#define IO_COMPLETION_REMOVE_MAX 64

/* The I/O ring (NT's ioringapi.h in spirit; mdlos's own layout, docs/io.md
 * section 12). Two views of kernel frames in the process: the submission
 * area ring 3 writes (SQ tail, CQ head, the SQEs) and the completion area
 * it may only read (SQ head, CQ tail, the CQEs): whoever owns an index
 * writes it, the other side only reads it. */
#define IORING_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3)
#define IORING_SQ_MAX 4096u          /* entries; the CQ holds at most twice that */
#define IORING_OP_NOP   0u
#define IORING_OP_READ  1u
#define IORING_OP_WRITE 2u
/* Buffer: an array of Length IORING_BUFFER_INFO_T, locked once into the
 * ring's MDLs and replacing what was registered (Length 0: unregister). */
#define IORING_OP_REGISTER_BUFFERS 3u
#define IORING_REGISTERED_BUFFERS_MAX 64u
/* SQE flag: Buffer is a byte offset into registered buffer BufferIndex. */
#define IORING_SQE_REGISTERED_BUFFER 0x1u
/* Buffer: an array of Length file handles, referenced once by the ring and
 * replacing what was registered (Length 0: unregister). */
#define IORING_OP_REGISTER_FILES 4u
#define IORING_REGISTERED_FILES_MAX 64u
/* SQE flag: File is an index into the registered files, not a handle. */
#define IORING_SQE_REGISTERED_FILE 0x2u
typedef struct {
    uint64_t Address;
    uint32_t Length;
    uint32_t Reserved;               /* 0 */
} IORING_BUFFER_INFO_T;
typedef struct {
    uint32_t SubmissionQueueSize;    /* rounded up to a power of two; 0 is refused */
    uint32_t CompletionQueueSize;    /* 0: twice the SQ; at least the SQ, at most twice it */
} IORING_CREATE_T;
typedef struct {
    uint32_t OpCode;                 /* IORING_OP_* */
    uint32_t Flags;                  /* IORING_SQE_REGISTERED_BUFFER, _FILE, or 0 */
    uint64_t File;                   /* a file handle (asynchronous, direct I/O device), or a registered file's index */
    int64_t Offset;                  /* byte offset on the device */
    uint64_t Buffer;                 /* user address (registered: offset in the buffer) */
    uint32_t Length;
    uint32_t BufferIndex;            /* registered buffer (IORING_SQE_REGISTERED_BUFFER), else 0 */
    uint64_t UserData;               /* handed back in the CQE */
} IORING_SQE_T;
typedef struct {
    uint64_t UserData;
    int32_t Status;                  /* NTSTATUS (NT's CQE: an HRESULT) */
    uint32_t Reserved;
    uint64_t Information;            /* bytes transferred */
} IORING_CQE_T;
typedef struct {
    volatile uint32_t SqTail;        /* ring 3's: one past its last SQE */
    volatile uint32_t CqHead;        /* ring 3's: the next CQE it will read */
    uint32_t Pad[14];
    IORING_SQE_T Sqe[];              /* SubmissionQueueSize of them */
} IORING_SUBMIT_AREA_T;
typedef struct {
    volatile uint32_t SqHead;        /* the kernel's: the next SQE it will take */
    volatile uint32_t CqTail;        /* the kernel's: one past the last CQE written */
    volatile uint32_t CqOverflow;    /* CQEs that found no room (the CQ head moved back) and were held */
    volatile uint32_t CqDropped;     /* ... and could not even be held (no pool): lost, but counted */
    uint32_t Pad[12];
    IORING_CQE_T Cqe[];              /* CompletionQueueSize of them */
} IORING_COMPLETE_AREA_T;
typedef struct {
    uint32_t SubmissionQueueSize, CompletionQueueSize;   /* as rounded */
    IORING_SUBMIT_AREA_T *Submit;    /* read-write view */
    IORING_COMPLETE_AREA_T *Complete;   /* read-only view */
} IORING_INFO_T;

/* IOCTL_DISK_GET_LENGTH_INFO and IOCTL_DISK_GET_DRIVE_GEOMETRY_EX (ntdddisk.h layouts). */
typedef struct {
    int64_t Length;              /* bytes */
} GET_LENGTH_INFORMATION_T;
typedef struct {
    int64_t Cylinders;
    uint32_t MediaType;          /* 12 = FixedMedia */
    uint32_t TracksPerCylinder;
    uint32_t SectorsPerTrack;
    uint32_t BytesPerSector;
} DISK_GEOMETRY_T;
typedef struct {
    DISK_GEOMETRY_T Geometry;
    int64_t DiskSize;            /* bytes */
    uint8_t Data[8];             /* NT: partition and detection information follow; mdlos: none */
} DISK_GEOMETRY_EX_T;

#define STATUS_PENDING_T 0x00000103
