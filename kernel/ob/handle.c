/*
 * Handles: one table per process (EPROCESS.ObjectTable), an array of
 * {object, granted access} that grows by doubling up to OB_MAX_HANDLES.
 * A handle is (index + 1) * 4, as on NT (the low two bits are free for
 * tags; 0 is never a handle, -1 is NtCurrentProcess()).
 *
 * A lookup takes the table's spin lock, reads the entry and references
 * the object before letting go, so a close running at the same time on
 * another thread either happens before (the handle is invalid) or after
 * (the object stays alive through the caller's reference).
 *
 * Access: what is asked for at open is mapped through the type
 * (GENERIC_* to the type's rights, MAXIMUM_ALLOWED to all of its valid
 * rights) and granted whole if it is within the type's ValidAccessMask -
 * mdlos has no security descriptors, so nothing valid is refused - and
 * refused (STATUS_ACCESS_DENIED) otherwise. Every later use through the
 * handle from user mode must ask only for rights the handle was granted.
 */
#include "kernel/ob/obp.h"
#include "kernel/ps/psp.h"
#include "io/io.h"

#define TAG_HANDLES POOL_TAG('O', 'b', 'H', 't')

volatile LONG ObpTotalHandles;

void ObpInitializeHandleTable(PHANDLE_TABLE t)
{
    memset(t, 0, sizeof(*t));
    KeInitializeSpinLock(&t->Lock);
}

NTSTATUS ObpMapAccess(POBJECT_TYPE Type, ACCESS_MASK Desired, PACCESS_MASK Granted)
{
    const GENERIC_MAPPING *g = &Type->TypeInfo.GenericMapping;
    ACCESS_MASK a = Desired & ~(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL | MAXIMUM_ALLOWED);
    if (Desired & GENERIC_READ)
        a |= g->GenericRead;
    if (Desired & GENERIC_WRITE)
        a |= g->GenericWrite;
    if (Desired & GENERIC_EXECUTE)
        a |= g->GenericExecute;
    if (Desired & GENERIC_ALL)
        a |= g->GenericAll;
    if (Desired & MAXIMUM_ALLOWED)
        a |= Type->TypeInfo.ValidAccessMask;
    if (a & ~Type->TypeInfo.ValidAccessMask)
        return STATUS_ACCESS_DENIED;
    *Granted = a;
    return STATUS_SUCCESS;
}

static PHANDLE_TABLE table_of(PEPROCESS p)
{
    return &p->ObjectTable;
}

/* The entry for H, or NULL (table lock held). */
static PHANDLE_TABLE_ENTRY entry_of(PHANDLE_TABLE t, HANDLE h)
{
    if (h == 0 || (h & 3))
        return NULL;
    ULONG64 i = h / 4 - 1;
    if (i >= t->Capacity)
        return NULL;
    PHANDLE_TABLE_ENTRY e = &t->Entries[i];
    return e->Object && e->Object != OB_HANDLE_RESERVED ? e : NULL;
}

NTSTATUS ObpReserveHandle(PEPROCESS Process, PHANDLE Handle)
{
    PHANDLE_TABLE t = table_of(Process);
    for (;;) {
        KIRQL old;
        KeAcquireSpinLock(&t->Lock, &old);
        if (t->Dead) {
            KeReleaseSpinLock(&t->Lock, old);
            return STATUS_PROCESS_IS_TERMINATING;
        }
        if (t->InUse < t->Capacity) {
            for (ULONG i = 0; i < t->Capacity; i++) {
                if (!t->Entries[i].Object) {
                    t->Entries[i].Object = OB_HANDLE_RESERVED;
                    t->Entries[i].GrantedAccess = 0;
                    t->InUse++;
                    KeReleaseSpinLock(&t->Lock, old);
                    *Handle = (HANDLE)(i + 1) * 4;
                    return STATUS_SUCCESS;
                }
            }
        }
        ULONG cap = t->Capacity;
        KeReleaseSpinLock(&t->Lock, old);
        if (cap >= OB_MAX_HANDLES)
            return STATUS_INSUFFICIENT_RESOURCES;   /* the per-process bound */
        /* Grow: allocate outside the lock, swap in under it (unless
         * another thread grew it meanwhile), free the old array after. */
        ULONG ncap = cap ? cap * 2 : OB_INITIAL_HANDLES;
        PHANDLE_TABLE_ENTRY n = ExAllocatePoolWithTag(NonPagedPoolNx, ncap * sizeof(*n), TAG_HANDLES);
        if (!n)
            return STATUS_INSUFFICIENT_RESOURCES;
        memset(n, 0, ncap * sizeof(*n));
        PHANDLE_TABLE_ENTRY stale = n;
        KeAcquireSpinLock(&t->Lock, &old);
        if (t->Capacity == cap && !t->Dead) {
            if (cap)
                memcpy(n, t->Entries, cap * sizeof(*n));
            stale = t->Entries;
            t->Entries = n;
            t->Capacity = ncap;
        }
        KeReleaseSpinLock(&t->Lock, old);
        if (stale)
            ExFreePoolWithTag(stale, TAG_HANDLES);
    }
}

static void fill_entry(PEPROCESS Process, HANDLE h, PVOID Object, ACCESS_MASK Granted)
{
    PHANDLE_TABLE t = table_of(Process);
    KIRQL old;
    KeAcquireSpinLock(&t->Lock, &old);
    PHANDLE_TABLE_ENTRY e = &t->Entries[h / 4 - 1];
    ASSERT(e->Object == OB_HANDLE_RESERVED);
    e->GrantedAccess = Granted;
    e->Object = Object;
    KeReleaseSpinLock(&t->Lock, old);
}

void ObpFreeReservedHandle(PEPROCESS Process, HANDLE h)
{
    PHANDLE_TABLE t = table_of(Process);
    KIRQL old;
    KeAcquireSpinLock(&t->Lock, &old);
    PHANDLE_TABLE_ENTRY e = &t->Entries[h / 4 - 1];
    ASSERT(e->Object == OB_HANDLE_RESERVED);
    e->Object = NULL;
    PHANDLE_TABLE_ENTRY empty = NULL;
    if (--t->InUse == 0) {
        empty = t->Entries;
        t->Entries = NULL;
        t->Capacity = 0;
    }
    KeReleaseSpinLock(&t->Lock, old);
    if (empty)
        ExFreePoolWithTag(empty, TAG_HANDLES);
}

/* A handle is about to exist: its count goes up before the entry is
 * visible (the reference it stands for is already counted). */
static void count_handle(POBJECT_HEADER h)
{
    __atomic_add_fetch(&h->HandleCount, 1, __ATOMIC_ACQ_REL);
    __atomic_add_fetch(&h->Type->TotalHandles, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&ObpTotalHandles, 1, __ATOMIC_RELAXED);
}

static LONG uncount_handle(POBJECT_HEADER h)
{
    __atomic_sub_fetch(&h->Type->TotalHandles, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&ObpTotalHandles, 1, __ATOMIC_RELAXED);
    return __atomic_sub_fetch(&h->HandleCount, 1, __ATOMIC_ACQ_REL);
}

void ObpFillReservedHandle(PEPROCESS Process, HANDLE h, PVOID Object, ACCESS_MASK Granted)
{
    count_handle(ObpGetHeader(Object, "ObpFillReservedHandle"));
    fill_entry(Process, h, Object, Granted);
}

/* The end of a handle: the type hears of it, a temporary name goes with
 * the last one, then the handle's reference. PASSIVE_LEVEL. */
static void close_object(PEPROCESS Process, PVOID Object)
{
    POBJECT_HEADER h = ObpGetHeader(Object, "ObCloseHandle");
    LONG left = uncount_handle(h);
    if (h->Type->TypeInfo.CloseProcedure)
        h->Type->TypeInfo.CloseProcedure(Process, Object, (ULONG)left);
    if (left == 0)
        ObpDeleteNameCheck(h);
    ObDereferenceObject(Object);
}

/* ObInsertObject with NT's OBJECT_ATTRIBUTES flags: OBJ_PERMANENT keeps
 * the name after the handles; OBJ_OPENIF turns a collision with an object
 * of the same type into STATUS_OBJECT_NAME_EXISTS and a handle to it. */
NTSTATUS ObpInsertObjectEx(PVOID Object, ACCESS_MASK DesiredAccess, PHANDLE Handle, ULONG Attributes)
{
    POBJECT_HEADER h = ObpGetHeader(Object, "ObInsertObject");
    ASSERT(!(h->Flags & OB_FLAG_INSERTED));
    PEPROCESS me = PsGetCurrentThreadProcess();
    ACCESS_MASK granted = 0;
    HANDLE slot = 0;
    NTSTATUS s;
    if (Handle) {
        if (!NT_SUCCESS(s = ObpMapAccess(h->Type, DesiredAccess, &granted)) ||
            !NT_SUCCESS(s = ObpReserveHandle(me, &slot))) {
            ObDereferenceObject(Object);
            return s;
        }
        count_handle(h);   /* before the name is visible: a close by name-opener cannot drop it */
    }
    h->Flags |= OB_FLAG_INSERTED;
    if (!Handle || (Attributes & OBJ_PERMANENT))
        h->Flags |= OB_FLAG_PERMANENT;
    if (h->Name) {
        PVOID existing = NULL;
        s = ObpInsertName(h, (Attributes & OBJ_OPENIF) && Handle ? &existing : NULL);
        if (!NT_SUCCESS(s)) {
            h->Flags &= ~OB_FLAG_PERMANENT;
            if (Handle) {
                uncount_handle(h);
                ObpFreeReservedHandle(me, slot);
            }
            POBJECT_TYPE type = h->Type;
            ObDereferenceObject(Object);   /* the new object goes: H is freed, not to be read again */
            if (existing) {
                POBJECT_HEADER eh = OBJECT_TO_OBJECT_HEADER(existing);
                if (eh->Type != type) {
                    ObDereferenceObject(existing);
                    return STATUS_OBJECT_TYPE_MISMATCH;
                }
                s = ObOpenObjectByPointer(existing, 0, DesiredAccess, eh->Type, KernelMode, Handle);
                ObDereferenceObject(existing);
                return NT_SUCCESS(s) ? STATUS_OBJECT_NAME_EXISTS : s;
            }
            return s;
        }
    }
    if (Handle) {
        if (h->Flags & OB_FLAG_PERMANENT)
            ObReferenceObject(Object);   /* the namespace's own; the caller's goes to the handle */
        fill_entry(me, slot, Object, granted);
        *Handle = slot;
    }
    return STATUS_SUCCESS;
}

NTSTATUS ObInsertObject(PVOID Object, ACCESS_MASK DesiredAccess, PHANDLE Handle)
{
    return ObpInsertObjectEx(Object, DesiredAccess, Handle, 0);
}

NTSTATUS ObOpenObjectByPointer(PVOID Object, ULONG HandleAttributes, ACCESS_MASK DesiredAccess,
                               POBJECT_TYPE ObjectType, KPROCESSOR_MODE AccessMode, PHANDLE Handle)
{
    UNREFERENCED_PARAMETER(HandleAttributes);
    UNREFERENCED_PARAMETER(AccessMode);   /* no security descriptors: the mode changes nothing */
    POBJECT_HEADER h = ObpGetHeader(Object, "ObOpenObjectByPointer");
    if (ObjectType && h->Type != ObjectType)
        return STATUS_OBJECT_TYPE_MISMATCH;
    ACCESS_MASK granted;
    NTSTATUS s = ObpMapAccess(h->Type, DesiredAccess, &granted);
    if (!NT_SUCCESS(s))
        return s;
    PEPROCESS me = PsGetCurrentThreadProcess();
    HANDLE slot;
    if (!NT_SUCCESS(s = ObpReserveHandle(me, &slot)))
        return s;
    ObReferenceObject(Object);
    ObpFillReservedHandle(me, slot, Object, granted);
    *Handle = slot;
    return STATUS_SUCCESS;
}

NTSTATUS ObOpenObjectByName(POBJECT_ATTRIBUTES ObjectAttributes, POBJECT_TYPE ObjectType, KPROCESSOR_MODE AccessMode,
                            ACCESS_MASK DesiredAccess, PHANDLE Handle)
{
    PVOID o;
    NTSTATUS s = ObReferenceObjectByName(ObjectAttributes->ObjectName, ObjectType, &o);
    if (!NT_SUCCESS(s))
        return s;
    s = ObOpenObjectByPointer(o, ObjectAttributes->Attributes, DesiredAccess, ObjectType, AccessMode, Handle);
    ObDereferenceObject(o);
    return s;
}

NTSTATUS ObReferenceObjectByHandle(HANDLE Handle, ACCESS_MASK DesiredAccess, POBJECT_TYPE ObjectType,
                                   KPROCESSOR_MODE AccessMode, PVOID *Object,
                                   POBJECT_HANDLE_INFORMATION HandleInformation)
{
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    *Object = NULL;
    PEPROCESS me = PsGetCurrentThreadProcess();
    PVOID o;
    ACCESS_MASK granted;
    if (Handle == (HANDLE)NtCurrentProcess()) {
        o = me;
        granted = PROCESS_ALL_ACCESS;
        if (ObjectType && ObjectType != PsProcessType)
            return STATUS_OBJECT_TYPE_MISMATCH;
        ObReferenceObject(o);
    } else {
        PHANDLE_TABLE t = table_of(me);
        KIRQL old;
        KeAcquireSpinLock(&t->Lock, &old);
        PHANDLE_TABLE_ENTRY e = entry_of(t, Handle);
        if (!e) {
            KeReleaseSpinLock(&t->Lock, old);
            return STATUS_INVALID_HANDLE;
        }
        o = e->Object;
        granted = e->GrantedAccess;
        if (ObjectType && ObpGetHeader(o, "ObReferenceObjectByHandle")->Type != ObjectType) {
            KeReleaseSpinLock(&t->Lock, old);
            return STATUS_OBJECT_TYPE_MISMATCH;
        }
        ObReferenceObject(o);   /* under the lock: a concurrent close cannot free it first */
        KeReleaseSpinLock(&t->Lock, old);
    }
    if (AccessMode == UserMode) {
        ACCESS_MASK want;
        NTSTATUS s = ObpMapAccess(ObpGetHeader(o, "ObReferenceObjectByHandle")->Type, DesiredAccess, &want);
        if (!NT_SUCCESS(s) || (want & ~granted)) {
            ObDereferenceObject(o);
            return STATUS_ACCESS_DENIED;
        }
    }
    if (HandleInformation) {
        HandleInformation->HandleAttributes = 0;
        HandleInformation->GrantedAccess = granted;
    }
    *Object = o;
    return STATUS_SUCCESS;
}

NTSTATUS ObCloseHandle(HANDLE Handle, KPROCESSOR_MODE PreviousMode)
{
    UNREFERENCED_PARAMETER(PreviousMode);
    KI_ASSERT_IRQL_LE(APC_LEVEL);
    PEPROCESS me = PsGetCurrentThreadProcess();
    PHANDLE_TABLE t = table_of(me);
    KIRQL old;
    KeAcquireSpinLock(&t->Lock, &old);
    PHANDLE_TABLE_ENTRY e = entry_of(t, Handle);
    PVOID o = e ? e->Object : NULL;
    PHANDLE_TABLE_ENTRY empty = NULL;
    if (e) {
        e->Object = NULL;
        e->GrantedAccess = 0;
        /* The last handle: the array goes too (a table that has grown to
         * 4096 entries does not keep 64 KiB of pool for nothing, and
         * every test gives back what it took). */
        if (--t->InUse == 0) {
            empty = t->Entries;
            t->Entries = NULL;
            t->Capacity = 0;
        }
    }
    KeReleaseSpinLock(&t->Lock, old);
    if (!o)
        return STATUS_INVALID_HANDLE;
    if (empty)
        ExFreePoolWithTag(empty, TAG_HANDLES);
    close_object(me, o);
    return STATUS_SUCCESS;
}

void ObKillProcess(PEPROCESS Process)
{
    KI_ASSERT_IRQL_LE(APC_LEVEL);
    PHANDLE_TABLE t = table_of(Process);
    KIRQL old;
    KeAcquireSpinLock(&t->Lock, &old);
    t->Dead = TRUE;
    KeReleaseSpinLock(&t->Lock, old);
    /* One at a time, each taken out under the lock and closed outside it
     * (a CloseProcedure may wait: a file sends IRP_MJ_CLEANUP). */
    for (ULONG i = 0;; i++) {
        KeAcquireSpinLock(&t->Lock, &old);
        if (i >= t->Capacity) {
            KeReleaseSpinLock(&t->Lock, old);
            break;
        }
        PVOID o = t->Entries[i].Object;
        if (o == OB_HANDLE_RESERVED)
            o = NULL;
        if (o) {
            t->Entries[i].Object = NULL;
            t->InUse--;
        }
        KeReleaseSpinLock(&t->Lock, old);
        if (o)
            close_object(Process, o);
    }
    KeAcquireSpinLock(&t->Lock, &old);
    PHANDLE_TABLE_ENTRY entries = t->Entries;
    t->Entries = NULL;
    t->Capacity = 0;
    KeReleaseSpinLock(&t->Lock, old);
    if (entries)
        ExFreePoolWithTag(entries, TAG_HANDLES);
}

/* The array of a process that never ran (its thread never exited). */
void ObpDeleteHandleTable(PEPROCESS Process)
{
    PHANDLE_TABLE t = table_of(Process);
    ASSERT(t->InUse == 0);
    if (t->Entries)
        ExFreePoolWithTag(t->Entries, TAG_HANDLES);
    t->Entries = NULL;
    t->Capacity = 0;
}

/* ---- SystemHandleList ---- */

static void snapshot_one(PEPROCESS p, SYSTEM_HANDLE_T *out, ULONG max, ULONG *n)
{
    PHANDLE_TABLE t = table_of(p);
    KeAcquireSpinLockAtDpcLevel(&t->Lock);
    for (ULONG i = 0; i < t->Capacity; i++) {
        PVOID o = t->Entries[i].Object;
        if (!o || o == OB_HANDLE_RESERVED)
            continue;
        if (*n < max) {
            /* The handle's reference keeps the object (and its name) alive
             * while the table lock is held. */
            POBJECT_HEADER h = OBJECT_TO_OBJECT_HEADER(o);
            SYSTEM_HANDLE_T *e = &out[*n];
            memset(e, 0, sizeof(*e));
            e->ProcessId = p->UniqueProcessId;
            e->Handle = (i + 1) * 4;
            e->Object = (ULONG64)o;
            e->GrantedAccess = t->Entries[i].GrantedAccess;
            e->HandleCount = (uint32_t)h->HandleCount;
            e->PointerCount = (uint32_t)h->PointerCount;
            strlcpy(e->TypeName, h->Type->Name, sizeof(e->TypeName));
            PCSTR name = h->Name;
            if (h->Type == PsProcessType)
                name = ((PEPROCESS)o)->ImageName;
            else if (IoFileObjectType && h->Type == IoFileObjectType && ((PFILE_OBJECT)o)->DeviceObject)
                name = OBJECT_TO_OBJECT_HEADER(((PFILE_OBJECT)o)->DeviceObject)->Name;
            strlcpy(e->Name, name ? name : "", sizeof(e->Name));
        }
        (*n)++;
    }
    KeReleaseSpinLockFromDpcLevel(&t->Lock);
}

ULONG ObpSnapshotHandles(SYSTEM_HANDLE_T *Out, ULONG Max)
{
    ULONG n = 0;
    /* Lock order: the process list, then each table. */
    KIRQL old = PsAcquireProcessListLock();
    snapshot_one(&PsInitialSystemProcess, Out, Max, &n);
    for (PLIST_ENTRY l = PsActiveProcessHead.Flink; l != &PsActiveProcessHead; l = l->Flink)
        snapshot_one(CONTAINING_RECORD(l, EPROCESS, ProcessListEntry), Out, Max, &n);
    PsReleaseProcessListLock(old);
    return n;
}
