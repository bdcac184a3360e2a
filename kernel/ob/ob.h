/*
 * ob.h: the object manager's public interface (kernel/ob/). Every object
 * the kernel hands out by name or by handle - devices, drivers, files,
 * events, processes, directories, symbolic links - is an object body that
 * follows an OBJECT_HEADER: a reference count (pointer references plus
 * handles), a handle count, the object's type and its name. ObCreateObject
 * makes one, ObInsertObject gives it a name in the namespace and/or a
 * handle, ObDereferenceObject lets it go; the type's DeleteProcedure runs
 * when the last reference is gone.
 *
 * Names are NT's (\Device\Null, \Driver\RamDisk, \BaseNamedObjects\Foo).
 * One difference from NT, on purpose: names are 8-bit counted strings
 * (ANSI_STRING, the shape of NT's UNICODE_STRING with CHARs), so a name is
 * a C literal and prints with %s.
 */
#pragma once
#include "kernel/ke/ke.h"
#include "kernel/ntioapi.h"

struct _EPROCESS;

typedef ULONG ACCESS_MASK, *PACCESS_MASK;
typedef ULONG64 HANDLE, *PHANDLE;

typedef struct _GENERIC_MAPPING {
    ACCESS_MASK GenericRead, GenericWrite, GenericExecute, GenericAll;
} GENERIC_MAPPING, *PGENERIC_MAPPING;

/* A counted 8-bit string (NT's STRING / ANSI_STRING). Length excludes any
 * terminating NUL; Buffer need not have one. */
typedef struct _STRING {
    USHORT Length, MaximumLength;
    PCHAR Buffer;
} STRING, ANSI_STRING, *PSTRING, *PANSI_STRING;
typedef const STRING *PCSTRING;
void RtlInitAnsiString(PANSI_STRING Destination, PCSTR Source);

/* OBJECT_ATTRIBUTES (NT's layout; ObjectName is an ANSI_STRING here). */
typedef struct _OBJECT_ATTRIBUTES {
    ULONG Length;                 /* sizeof(OBJECT_ATTRIBUTES) */
    HANDLE RootDirectory;         /* must be 0 in mdlos: names are absolute */
    PANSI_STRING ObjectName;
    ULONG Attributes;             /* OBJ_* */
    PVOID SecurityDescriptor;     /* must be NULL */
    PVOID SecurityQualityOfService;
} OBJECT_ATTRIBUTES, *POBJECT_ATTRIBUTES;
#define InitializeObjectAttributes(p, n, a, r, s) \
    do { (p)->Length = sizeof(OBJECT_ATTRIBUTES); (p)->RootDirectory = (r); (p)->ObjectName = (n); \
         (p)->Attributes = (a); (p)->SecurityDescriptor = (s); (p)->SecurityQualityOfService = NULL; } while (0)

/* ---- object types ---- */
typedef struct _OBJECT_TYPE OBJECT_TYPE, *POBJECT_TYPE;
typedef struct _OBJECT_TYPE_INITIALIZER {
    GENERIC_MAPPING GenericMapping;   /* GENERIC_* -> the type's specific rights */
    ACCESS_MASK ValidAccessMask;      /* anything else asked for is STATUS_ACCESS_DENIED */
    /* Where the DISPATCHER_HEADER lies in the body, for NtWaitForSingleObject;
     * -1 when objects of the type cannot be waited on. */
    LONG DispatcherHeaderOffset;
    /* A handle to OBJECT was closed in PROCESS; HandleCount is what is left
     * (0: the last handle - a file object sends IRP_MJ_CLEANUP here).
     * Runs at PASSIVE_LEVEL in the closing process. */
    void (*CloseProcedure)(struct _EPROCESS *Process, PVOID Object, ULONG HandleCount);
    /* The last reference is gone: release what the body holds (not the
     * body itself - the object manager frees it). PASSIVE_LEVEL. */
    void (*DeleteProcedure)(PVOID Object);
} OBJECT_TYPE_INITIALIZER, *POBJECT_TYPE_INITIALIZER;

/* The types the kernel defines (NT's exported names). */
extern POBJECT_TYPE ObDirectoryObjectType, ObSymbolicLinkObjectType, IoDeviceObjectType, IoDriverObjectType,
    IoFileObjectType, ExEventObjectType, PsProcessType;

/* A new type named NAME ("Device"). Types are never deleted. */
NTSTATUS ObCreateObjectType(PCSTR Name, const OBJECT_TYPE_INITIALIZER *Initializer, POBJECT_TYPE *ObjectType);
PCSTR ObGetObjectTypeName(PVOID Object);
POBJECT_TYPE ObGetObjectType(PVOID Object);

/* ---- objects ----
 * ObCreateObject: a zeroed body of BodySize bytes from nonpaged pool with
 * its header; one reference (the caller's), no handles, no name yet.
 * NAME (optional) is where ObInsertObject will put it: an absolute path
 * ("\Device\RamDisk0") whose directories exist. */
NTSTATUS ObCreateObject(POBJECT_TYPE Type, PCSTRING Name, ULONG BodySize, PVOID *Object);
/* Put OBJECT in the namespace (if it was created with a name) and, when
 * Handle is not NULL, open a handle to it in the current thread's process
 * with DesiredAccess (GENERIC_* mapped through the type). The caller's
 * reference passes to the handle (or, with no handle, stays the caller's
 * as a named object's "permanent" reference - see ObMakeTemporaryObject).
 * On failure the object is dereferenced: the caller must not touch it
 * again, as NT's ObInsertObject. STATUS_OBJECT_NAME_COLLISION when the
 * name exists. */
NTSTATUS ObInsertObject(PVOID Object, ACCESS_MASK DesiredAccess, PHANDLE Handle);
/* Take the object's name out of the namespace (IoDeleteDevice); it lives
 * on until its last reference. */
void ObMakeTemporaryObject(PVOID Object);
void ObReferenceObject(PVOID Object);
/* Drop a reference; the last one deletes the object. Dropping a reference
 * that does not exist is REFERENCE_BY_POINTER (0x18). Any IRQL <=
 * DISPATCH_LEVEL: a delete at DISPATCH_LEVEL is deferred to a worker. */
void ObDereferenceObject(PVOID Object);
LONG ObGetObjectPointerCount(PVOID Object);
ULONG ObGetObjectHandleCount(PVOID Object);
/* The object's full name ("\Device\Null"), "" when it has none. */
PCSTR ObGetObjectName(PVOID Object);

/* Look NAME up (following symbolic links), check the type (NULL = any)
 * and return a referenced object. STATUS_OBJECT_NAME_NOT_FOUND,
 * STATUS_OBJECT_PATH_NOT_FOUND (a directory on the way is missing),
 * STATUS_OBJECT_NAME_INVALID (not absolute, empty component),
 * STATUS_OBJECT_TYPE_MISMATCH. */
NTSTATUS ObReferenceObjectByName(PCSTRING Name, POBJECT_TYPE ObjectType, PVOID *Object);

/* ---- handles ----
 * A handle is a per-process index (a multiple of 4, as on NT). Each entry
 * holds a referenced object and the access granted when it was opened. */
typedef struct _OBJECT_HANDLE_INFORMATION {
    ULONG HandleAttributes;
    ACCESS_MASK GrantedAccess;
} OBJECT_HANDLE_INFORMATION, *POBJECT_HANDLE_INFORMATION;

/* The object behind HANDLE in the current thread's process, referenced.
 * NtCurrentProcess() (-1) is the caller's own process (PROCESS_ALL_ACCESS).
 * STATUS_INVALID_HANDLE (not open in this process: closed, never opened,
 * garbage), STATUS_OBJECT_TYPE_MISMATCH (ObjectType not NULL and not the
 * object's), STATUS_ACCESS_DENIED (AccessMode UserMode and DesiredAccess
 * not all granted; KernelMode skips the access check, as on NT). */
NTSTATUS ObReferenceObjectByHandle(HANDLE Handle, ACCESS_MASK DesiredAccess, POBJECT_TYPE ObjectType,
                                   KPROCESSOR_MODE AccessMode, PVOID *Object,
                                   POBJECT_HANDLE_INFORMATION HandleInformation);
/* A new handle to OBJECT (referenced here for the handle) in the current
 * thread's process. */
NTSTATUS ObOpenObjectByPointer(PVOID Object, ULONG HandleAttributes, ACCESS_MASK DesiredAccess,
                               POBJECT_TYPE ObjectType, KPROCESSOR_MODE AccessMode, PHANDLE Handle);
/* Look NAME up and open a handle to it (NtOpenEvent, NtOpenFile's name
 * lookup uses ObReferenceObjectByName instead: a file is a new object). */
NTSTATUS ObOpenObjectByName(POBJECT_ATTRIBUTES ObjectAttributes, POBJECT_TYPE ObjectType,
                            KPROCESSOR_MODE AccessMode, ACCESS_MASK DesiredAccess, PHANDLE Handle);
/* Close HANDLE in the current thread's process. STATUS_INVALID_HANDLE if
 * it is not open there. */
NTSTATUS ObCloseHandle(HANDLE Handle, KPROCESSOR_MODE PreviousMode);

/* Capture a user OBJECT_ATTRIBUTES and its name into kernel memory:
 * probed, lengths checked (Length == sizeof, Attributes valid,
 * RootDirectory 0, no security descriptor, a name of at most 255 bytes).
 * NAME receives the name (NUL-terminated, NameBuffer of 256 bytes).
 * STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER,
 * STATUS_OBJECT_NAME_INVALID. */
#define OB_MAX_NAME 256
NTSTATUS ObCaptureObjectAttributes(const OBJECT_ATTRIBUTES *UserAttributes, KPROCESSOR_MODE Mode,
                                   OBJECT_ATTRIBUTES *Captured, ANSI_STRING *Name, CHAR NameBuffer[OB_MAX_NAME]);

/* For an NtCreateXxx service: the optional OBJECT_ATTRIBUTES of ring 3
 * (0: an unnamed object) captured as above, into NAME (NAME->Length 0
 * when unnamed) and *ATTRIBUTES. OBJ_PERMANENT is refused with
 * STATUS_PRIVILEGE_NOT_HELD: a permanent object outlives every handle,
 * and NT wants SeCreatePermanentPrivilege, which no ring-3 program holds
 * here. */
NTSTATUS ObCaptureCreateAttributes(ULONG64 UserAttributes, OBJECT_ATTRIBUTES *Captured, ANSI_STRING *Name,
                                   CHAR NameBuffer[OB_MAX_NAME], ULONG *Attributes);
/* The new handle H to ring 3's out-parameter (probed by the caller before
 * anything was made): STATUS, or the copy's error with H closed again -
 * a handle ring 3 was never told of must not stay open. */
NTSTATUS ObReturnNewHandle(ULONG64 UserHandle, HANDLE H, NTSTATUS Status);

/* Symbolic links (\DosDevices\NUL -> \Device\Null). */
NTSTATUS ObCreateSymbolicLink(PCSTRING LinkName, PCSTRING TargetName);
NTSTATUS ObDeleteSymbolicLink(PCSTRING LinkName);
/* Directories (\Device, \Driver exist from boot). */
NTSTATUS ObCreateDirectory(PCSTRING Name);

/* Walk one directory: calls FN for each entry in name order; FN returns
 * FALSE to stop. The object is referenced for the call only. For the
 * shell, kd and the tests. */
typedef BOOLEAN (*OB_ENUM_ROUTINE)(PVOID Object, PCSTR Name, PVOID Context);
NTSTATUS ObEnumerateDirectory(PCSTRING DirectoryName, OB_ENUM_ROUTINE Routine, PVOID Context);

/* Start the object manager (kernel/init/kmain.c, before IoInitSystem). */
void ObInitSystem(void);
