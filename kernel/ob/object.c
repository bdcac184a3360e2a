/*
 * Objects: types, headers, references, deletion.
 *
 * Every object is one nonpaged pool block, an OBJECT_HEADER followed by
 * the body. The header's PointerCount counts every reference, a handle
 * being one of them, so PointerCount >= HandleCount always holds (a handle
 * is counted in PointerCount before HandleCount goes up, and leaves
 * HandleCount before PointerCount goes down). A dereference that would
 * break that - dropping a reference nobody took - is NT's
 * REFERENCE_BY_POINTER (0x18), and a pointer that is not an object's body
 * is BAD_OBJECT_HEADER (0x189): both stop the kernel at the mistake
 * instead of letting a freed object be used later.
 *
 * The last reference can be dropped at DISPATCH_LEVEL (the I/O manager
 * completes requests from DPCs and lets go of the file object there), but
 * a type's DeleteProcedure may free pageable things, wait or take
 * mutexes: at DISPATCH_LEVEL the object goes on a list instead, and the
 * "obreaper" system thread deletes it at PASSIVE_LEVEL (NT queues such
 * deletes to a worker thread the same way, ObpDeferDeleteObject).
 */
#include "kernel/ob/obp.h"
#include "kernel/ps/psp.h"

#define TAG_OBJECT POOL_TAG('O', 'b', 'j', 'B')
#define TAG_NAME   POOL_TAG('O', 'b', 'N', 'm')

/* The I/O manager's types are its own (io/ creates them in IoInitSystem
 * and defines the variables); these weak, NULL definitions only let the
 * kernel link while io/ does not have them yet, and lose to io/'s. */
__attribute__((weak)) POBJECT_TYPE IoDeviceObjectType, IoDriverObjectType, IoFileObjectType;

POBJECT_TYPE ObpTypes[OB_MAX_TYPES];
volatile ULONG ObpTypeCount;
volatile LONG ObpTotalObjects;
volatile LONG ObpDeferredDeletes;

/* The System process is a static EPROCESS (kernel/ps/process.c): its
 * header is here, apart, and never lets it be deleted. */
OBJECT_HEADER ObpSystemProcessHeader;

static KSPIN_LOCK reaper_lock;
static LIST_ENTRY reaper_list;
static KEVENT reaper_event;

NTSTATUS ObCreateObjectType(PCSTR Name, const OBJECT_TYPE_INITIALIZER *Init, POBJECT_TYPE *ObjectType)
{
    ULONG i = ObpTypeCount;
    if (i >= OB_MAX_TYPES)
        return STATUS_INSUFFICIENT_RESOURCES;
    /* Static storage: types are never deleted, and a type made by a test
     * is not a pool block the leak check would count against it. */
    static OBJECT_TYPE storage[OB_MAX_TYPES];
    POBJECT_TYPE t = &storage[i];
    memset(t, 0, sizeof(*t));
    t->Magic = OB_TYPE_MAGIC;
    t->Index = i;
    strlcpy(t->Name, Name, sizeof(t->Name));
    t->TypeInfo = *Init;
    ObpTypes[i] = t;
    ObpTypeCount = i + 1;   /* types are made at boot, by one thread */
    *ObjectType = t;
    return STATUS_SUCCESS;
}

/* T's index in ObpTypes[], or ObpTypeCount when T is no type. */
static ULONG type_index(POBJECT_TYPE t)
{
    ULONG i = 0;
    while (i < ObpTypeCount && ObpTypes[i] != t)
        i++;
    return i;
}

static BOOLEAN is_type(POBJECT_TYPE t) { return type_index(t) < ObpTypeCount; }

/* Every reference and dereference checks its header, so the check is
 * O(1): the header's type must be the one its own index names in the
 * table - never read through the type pointer, which may be garbage.
 * (A search of the table each time was 3-8% of the kernel's time in the
 * I/O ring's 4 KiB loop, `make prof`.) */
static BOOLEAN header_type_ok(POBJECT_HEADER h)
{
    ULONG i = h->TypeIndex;
    return i < ObpTypeCount && ObpTypes[i] == h->Type;
}

POBJECT_HEADER ObpGetHeader(PVOID Object, const char *Caller)
{
    if (Object == &PsInitialSystemProcess)
        return &ObpSystemProcessHeader;
    ULONG_PTR a = (ULONG_PTR)Object;
    /* Bodies are 16-byte aligned kernel addresses, just past a header in
     * the same pool block: anything else cannot be one. */
    if (a < 0xFFFF800000000000ULL + sizeof(OBJECT_HEADER) || (a & 15))
        KeBugCheckRule(BAD_OBJECT_HEADER, a - sizeof(OBJECT_HEADER), 0, 2, a,
                       "%s was given %p, which cannot be an object (object bodies are 16-byte aligned kernel "
                       "addresses from ObCreateObject)", Caller, Object);
    POBJECT_HEADER h = OBJECT_TO_OBJECT_HEADER(Object);
    if (h->Magic == OB_FREED_MAGIC)
        KeBugCheckRule(REFERENCE_BY_POINTER, (ULONG_PTR)h->Type, a, (ULONG_PTR)h->HandleCount,
                       (ULONG_PTR)h->PointerCount,
                       "%s was given object %p after its last reference was dropped and it was deleted; a "
                       "pointer to an object is only good while one holds a reference", Caller, Object);
    if (h->Magic != OB_HEADER_MAGIC)
        KeBugCheckRule(BAD_OBJECT_HEADER, (ULONG_PTR)h, 0, 0, a,
                       "%s was given %p, which is not an object: the header before it has no object magic "
                       "(found %#x)", Caller, Object, h->Magic);
    if (!header_type_ok(h))
        KeBugCheckRule(BAD_OBJECT_HEADER, (ULONG_PTR)h, (ULONG_PTR)h->Type, 1, a,
                       "%s was given object %p whose header names type %p, which is not an object type (the "
                       "header was overwritten)", Caller, Object, h->Type);
    return h;
}

NTSTATUS ObCreateObject(POBJECT_TYPE Type, PCSTRING Name, ULONG BodySize, PVOID *Object)
{
    if (!is_type(Type) || BodySize > 64 * 1024)
        return STATUS_INVALID_PARAMETER;
    PCHAR name = NULL;
    if (Name && Name->Length) {
        /* An absolute name of 1..255 bytes whose components are not empty;
         * its directories are looked up when ObInsertObject inserts it. */
        ULONG n = Name->Length;
        if (n >= OB_MAX_NAME || Name->Buffer[0] != '\\' || n < 2 || Name->Buffer[n - 1] == '\\')
            return STATUS_OBJECT_NAME_INVALID;
        for (ULONG i = 1; i < n; i++)
            if ((Name->Buffer[i] == '\\' && Name->Buffer[i - 1] == '\\') || Name->Buffer[i] == 0)
                return STATUS_OBJECT_NAME_INVALID;
        name = ExAllocatePoolWithTag(NonPagedPoolNx, n + 1, TAG_NAME);
        if (!name)
            return STATUS_INSUFFICIENT_RESOURCES;
        memcpy(name, Name->Buffer, n);
        name[n] = 0;
    }
    POBJECT_HEADER h = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(OBJECT_HEADER) + BodySize, TAG_OBJECT);
    if (!h) {
        if (name)
            ExFreePoolWithTag(name, TAG_NAME);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    memset(h, 0, sizeof(*h) + BodySize);
    h->Magic = OB_HEADER_MAGIC;
    h->PointerCount = 1;
    h->Type = Type;
    h->TypeIndex = type_index(Type);
    h->BodySize = BodySize;
    h->Name = name;
    if (name) {
        PCHAR last = name;
        for (PCHAR p = name; *p; p++)
            if (*p == '\\')
                last = p + 1;
        h->NameLast = last;
    }
    InitializeListHead(&h->DirectoryLink);
    InitializeListHead(&h->ReaperLink);
    __atomic_add_fetch(&ObpTotalObjects, 1, __ATOMIC_RELAXED);
    LONG n = __atomic_add_fetch(&Type->TotalObjects, 1, __ATOMIC_RELAXED);
    if (n > Type->HighWaterObjects)
        Type->HighWaterObjects = n;
    *Object = OBJECT_HEADER_TO_OBJECT(h);
    return STATUS_SUCCESS;
}

void ObReferenceObject(PVOID Object)
{
    POBJECT_HEADER h = ObpGetHeader(Object, "ObReferenceObject");
    LONG n = __atomic_add_fetch(&h->PointerCount, 1, __ATOMIC_RELAXED);
    if (n <= 1 && !(h->Flags & OB_FLAG_STATIC))
        KeBugCheckRule(REFERENCE_BY_POINTER, (ULONG_PTR)h->Type, (ULONG_PTR)Object, (ULONG_PTR)h->HandleCount,
                       (ULONG_PTR)n,
                       "ObReferenceObject on object %p, which had no reference left: a new reference must be "
                       "taken while holding one", Object);
}

static void delete_object(POBJECT_HEADER h)
{
    KI_ASSERT_IRQL_LE(APC_LEVEL);
    ASSERT(!(h->Flags & OB_FLAG_NAMED) && h->HandleCount == 0);
    PVOID body = OBJECT_HEADER_TO_OBJECT(h);
    if (h->Type->TypeInfo.DeleteProcedure)
        h->Type->TypeInfo.DeleteProcedure(body);
    if (h->Name)
        ExFreePoolWithTag(h->Name, TAG_NAME);
    __atomic_sub_fetch(&h->Type->TotalObjects, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&ObpTotalObjects, 1, __ATOMIC_RELAXED);
    h->Magic = OB_FREED_MAGIC;
    ExFreePoolWithTag(h, TAG_OBJECT);
}

void ObDereferenceObject(PVOID Object)
{
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    POBJECT_HEADER h = ObpGetHeader(Object, "ObDereferenceObject");
    LONG handles = h->HandleCount;
    LONG n = __atomic_sub_fetch(&h->PointerCount, 1, __ATOMIC_ACQ_REL);
    if (n < 0 || n < h->HandleCount)
        KeBugCheckRule(REFERENCE_BY_POINTER, (ULONG_PTR)h->Type, (ULONG_PTR)Object, (ULONG_PTR)handles,
                       (ULONG_PTR)n,
                       "ObDereferenceObject on %s object %p dropped a reference that does not exist: %d "
                       "references were left for %d handles (every ObDereferenceObject must match an "
                       "ObReferenceObject*, ObCreateObject or a handle's close)", h->Type->Name, Object, n + 1,
                       (int)handles);
    if (n > 0 || (h->Flags & OB_FLAG_STATIC))
        return;
    if (KeGetCurrentIrql() <= APC_LEVEL) {
        delete_object(h);
        return;
    }
    /* At DISPATCH_LEVEL: the reaper thread deletes it. Its lock is a spin
     * lock of its own, innermost; the event is set after it is released. */
    KIRQL old;
    h->Flags |= OB_FLAG_DELETE_QUEUED;
    __atomic_add_fetch(&ObpDeferredDeletes, 1, __ATOMIC_RELAXED);
    KeAcquireSpinLock(&reaper_lock, &old);
    InsertTailList(&reaper_list, &h->ReaperLink);
    KeReleaseSpinLock(&reaper_lock, old);
    KeSetEvent(&reaper_event, 0, FALSE);
}

static void reaper(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    for (;;) {
        KeWaitForSingleObject(&reaper_event, Executive, KernelMode, FALSE, NULL);
        for (;;) {
            KIRQL old;
            KeAcquireSpinLock(&reaper_lock, &old);
            POBJECT_HEADER h = NULL;
            if (!IsListEmpty(&reaper_list))
                h = CONTAINING_RECORD(RemoveHeadList(&reaper_list), OBJECT_HEADER, ReaperLink);
            KeReleaseSpinLock(&reaper_lock, old);
            if (!h)
                break;
            delete_object(h);
            __atomic_sub_fetch(&ObpDeferredDeletes, 1, __ATOMIC_RELAXED);
        }
    }
}

/* For tests: deletes queued from DISPATCH_LEVEL are done. */
void ObpWaitForDeferredDeletes(void)
{
    for (int i = 0; i < 1000 && ObpDeferredDeletes; i++) {
        LARGE_INTEGER ms = { -KI_MS(1) };
        KeDelayExecutionThread(KernelMode, FALSE, &ms);
    }
}

void ObpStartReaper(void)
{
    KeInitializeSpinLock(&reaper_lock);
    InitializeListHead(&reaper_list);
    KeInitializeEvent(&reaper_event, SynchronizationEvent, FALSE);
    PKTHREAD t = KeCreateSystemThread(reaper, NULL, LOW_REALTIME_PRIORITY, "obreaper");
    ASSERT(t);
    KeDereferenceThread(t);
}

LONG ObGetObjectPointerCount(PVOID Object)
{
    return ObpGetHeader(Object, "ObGetObjectPointerCount")->PointerCount;
}

ULONG ObGetObjectHandleCount(PVOID Object)
{
    return (ULONG)ObpGetHeader(Object, "ObGetObjectHandleCount")->HandleCount;
}

PCSTR ObGetObjectName(PVOID Object)
{
    POBJECT_HEADER h = ObpGetHeader(Object, "ObGetObjectName");
    return h->Name ? h->Name : "";
}

POBJECT_TYPE ObGetObjectType(PVOID Object)
{
    return ObpGetHeader(Object, "ObGetObjectType")->Type;
}

PCSTR ObGetObjectTypeName(PVOID Object)
{
    return ObpGetHeader(Object, "ObGetObjectTypeName")->Type->Name;
}

/* The System process's header (PsInitialize, once PsProcessType exists). */
void ObpInitializeSystemProcessObject(POBJECT_TYPE ProcessType)
{
    POBJECT_HEADER h = &ObpSystemProcessHeader;
    h->Magic = OB_HEADER_MAGIC;
    h->Flags = OB_FLAG_STATIC | OB_FLAG_INSERTED;
    h->PointerCount = 1;
    h->Type = ProcessType;
    h->TypeIndex = type_index(ProcessType);
    h->BodySize = sizeof(EPROCESS);
    InitializeListHead(&h->DirectoryLink);
    InitializeListHead(&h->ReaperLink);
}
