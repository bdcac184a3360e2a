/*
 * obp.h: the object manager's internals (kernel/ob/), for ob/ itself, the
 * process manager (its handle table lives in EPROCESS, NtCreateProcess
 * reserves a slot before the child starts) and the GDB scripts, which
 * read OBJECT_HEADER and HANDLE_TABLE through the DWARF.
 *
 * Memory layout of an object: [OBJECT_HEADER][body ...], one nonpaged
 * pool block; the body pointer is what every Ob* routine and every caller
 * sees, the header is at body - sizeof(OBJECT_HEADER). (The System process
 * is the one object that is not a pool block: PsInitialSystemProcess is a
 * static EPROCESS, whose header is ObpSystemProcessHeader, found by
 * address.)
 */
#pragma once
#include "kernel/ob/ob.h"
#include "kernel/ke/ki.h"
#include "kernel/ntsyscall.h"

#define OB_HEADER_MAGIC 0x6A624F21u   /* "!Obj" little-endian: a live header */
#define OB_FREED_MAGIC  0x64656144u   /* "Dead": written as the block is freed */

/* OBJECT_HEADER.Flags. An enum so that GDB reads the names from the DWARF. */
enum {
    OB_FLAG_INSERTED     = 0x01,   /* ObInsertObject ran */
    OB_FLAG_NAMED        = 0x02,   /* in a directory now */
    OB_FLAG_PERMANENT    = 0x04,   /* the namespace (or "nobody", unnamed) holds one reference */
    OB_FLAG_STATIC       = 0x08,   /* not a pool block: never deleted (the System process) */
    OB_FLAG_DELETE_QUEUED = 0x10,  /* last reference gone at DISPATCH_LEVEL: on the reaper's list */
};

struct _OBJECT_TYPE {
    ULONG Magic;                        /* OB_TYPE_MAGIC */
    ULONG Index;                        /* in ObpTypes[], for the per-type counters */
    char Name[16];
    OBJECT_TYPE_INITIALIZER TypeInfo;
    volatile LONG TotalObjects, TotalHandles;
    volatile LONG HighWaterObjects;
};
#define OB_TYPE_MAGIC 0x65707954u       /* "Type" */
#define OB_MAX_TYPES 12
extern POBJECT_TYPE ObpTypes[OB_MAX_TYPES];
extern volatile ULONG ObpTypeCount;

typedef struct _OBJECT_HEADER {
    ULONG Magic;                        /* OB_HEADER_MAGIC while alive */
    ULONG Flags;                        /* OB_FLAG_* */
    volatile LONG PointerCount;         /* references, each handle being one of them */
    volatile LONG HandleCount;          /* handles to it in every process */
    POBJECT_TYPE Type;
    /* Name: the full path, set by ObCreateObject (pool, freed with the
     * object); NameLast points at its last component. Kept after the name
     * leaves the namespace (ObGetObjectName still says what it was). */
    PCHAR Name;
    PCHAR NameLast;
    struct _OBJECT_HEADER *Directory;   /* the directory it is in (a header), NULL when not named */
    LIST_ENTRY DirectoryLink;           /* in Directory's entries, kept in name order */
    LIST_ENTRY ReaperLink;              /* on the deferred-delete list */
    ULONG BodySize;
    ULONG TypeIndex;                    /* Type's place in ObpTypes[] (NT's header keeps a TypeIndex too) */
    ULONG64 Reserved2;                  /* to 96 bytes: the body is 16-byte aligned */
} OBJECT_HEADER, *POBJECT_HEADER;
_Static_assert(sizeof(OBJECT_HEADER) % 16 == 0, "the body after the header is 16-byte aligned");

#define OBJECT_TO_OBJECT_HEADER(o) ((POBJECT_HEADER)((PUCHAR)(o) - sizeof(OBJECT_HEADER)))
#define OBJECT_HEADER_TO_OBJECT(h) ((PVOID)((PUCHAR)(h) + sizeof(OBJECT_HEADER)))

/* The header of OBJECT, checked (BAD_OBJECT_HEADER 0x189 when it is not
 * an object's body); CALLER names the routine for the bugcheck line. */
POBJECT_HEADER ObpGetHeader(PVOID Object, const char *Caller);
extern OBJECT_HEADER ObpSystemProcessHeader;
void ObpInitializeSystemProcessObject(POBJECT_TYPE ProcessType);
void ObpStartReaper(void);

/* Bodies of the two types the object manager defines. */
typedef struct _OBJECT_DIRECTORY {
    LIST_ENTRY Entries;                 /* OBJECT_HEADERs, by DirectoryLink, name order (case-insensitive) */
    ULONG Count;
} OBJECT_DIRECTORY, *POBJECT_DIRECTORY;
typedef struct _OBJECT_SYMBOLIC_LINK {
    USHORT TargetLength;
    CHAR Target[OB_MAX_NAME];           /* an absolute name, NUL-terminated */
} OBJECT_SYMBOLIC_LINK, *POBJECT_SYMBOLIC_LINK;

/* ---- handle tables (kernel/ob/handle.c), one per process (EPROCESS.ObjectTable) ---- */
/* The most handles one process may have open: a table of 4096 entries is
 * 64 KiB of nonpaged pool, so ring 3 cannot run the pool dry with handles
 * (the objects behind them are bounded by the same number). NT's limit is
 * about 16 million per process; mdlos has a 256 MiB machine. */
#define OB_MAX_HANDLES 4096
#define OB_INITIAL_HANDLES 16
typedef struct _HANDLE_TABLE_ENTRY {
    PVOID Object;                       /* the body; NULL free, OB_HANDLE_RESERVED reserved */
    ACCESS_MASK GrantedAccess;
    ULONG Reserved;
} HANDLE_TABLE_ENTRY, *PHANDLE_TABLE_ENTRY;
#define OB_HANDLE_RESERVED ((PVOID)1)
typedef struct _HANDLE_TABLE {
    /* A spin lock: a lookup is a few loads under it, ObReferenceObjectByHandle
     * may be called at DISPATCH_LEVEL, and nothing is allocated or freed
     * under it (a bigger array is allocated first, swapped in under the
     * lock, the old one freed after). Taken after the process-list lock
     * (SystemHandleList), never with the namespace mutex held inside it. */
    KSPIN_LOCK Lock;
    PHANDLE_TABLE_ENTRY Entries;        /* Capacity entries, nonpaged pool (NULL until the first handle) */
    ULONG Capacity;
    ULONG InUse;                        /* entries holding an object or reserved */
    BOOLEAN Dead;                       /* the process is ending: no new handles */
} HANDLE_TABLE, *PHANDLE_TABLE;

void ObpInitializeHandleTable(PHANDLE_TABLE Table);
/* Reserve a slot in PROCESS's table: invisible to lookups and NtClose
 * until ObpFillReservedHandle puts an object there (NtCreateProcess takes
 * the slot first, so a full table refuses before a child starts). */
NTSTATUS ObpReserveHandle(struct _EPROCESS *Process, PHANDLE Handle);
/* Fill a reserved slot with OBJECT (the caller's reference becomes the handle's). */
void ObpFillReservedHandle(struct _EPROCESS *Process, HANDLE Handle, PVOID Object, ACCESS_MASK GrantedAccess);
void ObpFreeReservedHandle(struct _EPROCESS *Process, HANDLE Handle);
/* Map GENERIC_* and MAXIMUM_ALLOWED through TYPE; STATUS_ACCESS_DENIED
 * when bits outside the type's ValidAccessMask remain. */
NTSTATUS ObpMapAccess(POBJECT_TYPE Type, ACCESS_MASK Desired, PACCESS_MASK Granted);
/* Close every handle of PROCESS (its thread is ending, PASSIVE_LEVEL, in
 * the process) and refuse new ones; frees the table's array. */
void ObKillProcess(struct _EPROCESS *Process);
/* Handles open in every process (the leak counter). */
extern volatile LONG ObpTotalHandles;
/* Objects in existence. */
extern volatile LONG ObpTotalObjects;
/* Objects whose last reference went at DISPATCH_LEVEL and are waiting for
 * the reaper thread, and the reaper's event (tests wait for it). */
extern volatile LONG ObpDeferredDeletes;
void ObpWaitForDeferredDeletes(void);

/* A copy of every process's handles for SystemHandleList: OUT (given,
 * nonpaged), at most MAX; returns how many there are, maybe more. */
ULONG ObpSnapshotHandles(SYSTEM_HANDLE_T *Out, ULONG Max);

/* ---- names (kernel/ob/namespace.c) ---- */
/* The namespace lock: a KMUTEX (PASSIVE_LEVEL; pool is allocated and long
 * names compared under it, nothing at DISPATCH_LEVEL needs it: an object
 * loses its name before its last reference can go). */
void ObpAcquireNamespaceLock(void);
void ObpReleaseNamespaceLock(void);
/* Insert HEADER (its Name set) into the namespace: STATUS_OBJECT_NAME_COLLISION
 * with *Existing referenced when OpenIf... see namespace.c. */
NTSTATUS ObpInsertName(POBJECT_HEADER Header, PVOID *Existing);
/* Remove HEADER's name if it is in the namespace (lock not held). */
void ObpRemoveName(POBJECT_HEADER Header);
/* The last handle went: remove a temporary object's name. */
void ObpDeleteNameCheck(POBJECT_HEADER Header);
void ObpInitializeNamespace(void);
extern PVOID ObpRootDirectory;

/* NtCreateFile's lookup (for io/): like ObReferenceObjectByName, but the
 * walk stops at the first object that is neither a directory nor a link
 * (a device), returned referenced, with what followed its name copied to
 * REMAINING ("\\dir\\file", "" when NAME named the object itself). */
NTSTATUS ObpReferenceObjectByNameEx(PCSTRING Name, POBJECT_TYPE ObjectType, PVOID *Object,
                                    CHAR Remaining[OB_MAX_NAME]);

/* Case-insensitive compare of counted names (NT's OBJ_CASE_INSENSITIVE,
 * which every caller passes). */
int ObpCompareNames(PCSTR a, ULONG alen, PCSTR b, ULONG blen);

/* ObInsertObject with OBJ_PERMANENT / OBJ_OPENIF (kernel/ob/handle.c). */
NTSTATUS ObpInsertObjectEx(PVOID Object, ACCESS_MASK DesiredAccess, PHANDLE Handle, ULONG Attributes);
/* The handle array of a process that never ran (PsProcessType's delete). */
void ObpDeleteHandleTable(struct _EPROCESS *Process);

/* ---- services (kernel/ob/obsvc.c) ---- */
/* NtQuerySystemInformation(SystemHandleList), for kernel/ps/ntapi.c. */
NTSTATUS ObpQuerySystemHandles(PVOID UserBuffer, SIZE_T Length, PSIZE_T UserReturnLength);
