/*
 * The object manager's system services (NtClose, NtWaitForSingleObject),
 * capturing OBJECT_ATTRIBUTES from ring 3, SystemHandleList, the leak
 * counters, and ObInitSystem.
 */
#include "kernel/ob/obp.h"
#include "kernel/ps/psp.h"
#include "kernel/ex/ex.h"
#include "kernel/ktest/ktest.h"

#define TAG_SNAPSHOT POOL_TAG('O', 'b', 'S', 'n')

/* User and kernel see one layout (kernel/ntsyscall.h's _T types). */
_Static_assert(sizeof(OBJECT_ATTRIBUTES) == sizeof(OBJECT_ATTRIBUTES_T) && sizeof(OBJECT_ATTRIBUTES) == 48,
               "OBJECT_ATTRIBUTES is 48 bytes on both sides");
_Static_assert(sizeof(STRING) == sizeof(STRING_T) && sizeof(STRING) == 16, "STRING is 16 bytes on both sides");
_Static_assert(__builtin_offsetof(OBJECT_ATTRIBUTES, ObjectName) == __builtin_offsetof(OBJECT_ATTRIBUTES_T, ObjectName),
               "ObjectName at the same offset");
_Static_assert(__builtin_offsetof(OBJECT_ATTRIBUTES, Attributes) == __builtin_offsetof(OBJECT_ATTRIBUTES_T, Attributes),
               "Attributes at the same offset");

/*
 * Three user pointers nest here (the attributes, the STRING they point
 * to, its Buffer): each is probed and copied exactly once, and only the
 * kernel copies are looked at after (a second read of ring 3's memory
 * could see another value - NT's "double fetch" bug class).
 */
NTSTATUS ObCaptureObjectAttributes(const OBJECT_ATTRIBUTES *UserAttributes, KPROCESSOR_MODE Mode,
                                   OBJECT_ATTRIBUTES *Captured, ANSI_STRING *Name, CHAR NameBuffer[OB_MAX_NAME])
{
    NTSTATUS s;
    if (Mode == UserMode) {
        if (!NT_SUCCESS(s = ExCaptureUser(Captured, UserAttributes, sizeof(*Captured), 8)))
            return s;
    } else {
        *Captured = *UserAttributes;
    }
    if (Captured->Length != sizeof(OBJECT_ATTRIBUTES) || Captured->RootDirectory != 0 ||
        Captured->SecurityDescriptor != NULL || (Captured->Attributes & ~OBJ_VALID_ATTRIBUTES))
        return STATUS_INVALID_PARAMETER;
    Name->Buffer = NameBuffer;
    Name->Length = 0;
    Name->MaximumLength = OB_MAX_NAME;
    NameBuffer[0] = 0;
    PANSI_STRING uname = Captured->ObjectName;
    Captured->ObjectName = Name;
    if (!uname)
        return STATUS_SUCCESS;   /* no name: an unnamed object */
    STRING str;
    if (Mode == UserMode) {
        if (!NT_SUCCESS(s = ExCaptureUser(&str, uname, sizeof(str), 8)))
            return s;
    } else {
        str = *uname;
    }
    if (str.Length > str.MaximumLength)
        return STATUS_INVALID_PARAMETER;
    if (str.Length == 0 || str.Length >= OB_MAX_NAME)
        return STATUS_OBJECT_NAME_INVALID;
    if (Mode == UserMode) {
        if (!NT_SUCCESS(s = ExCaptureUser(NameBuffer, str.Buffer, str.Length, 1)))
            return s;
    } else {
        memcpy(NameBuffer, str.Buffer, str.Length);
    }
    for (ULONG i = 0; i < str.Length; i++)
        if (NameBuffer[i] == 0)
            return STATUS_OBJECT_NAME_INVALID;
    NameBuffer[str.Length] = 0;
    Name->Length = str.Length;
    return STATUS_SUCCESS;
}

NTSTATUS ObCaptureCreateAttributes(ULONG64 UserAttributes, OBJECT_ATTRIBUTES *Captured, ANSI_STRING *Name,
                                   CHAR NameBuffer[OB_MAX_NAME], ULONG *Attributes)
{
    *Attributes = 0;
    Name->Length = 0;
    if (!UserAttributes)
        return STATUS_SUCCESS;
    NTSTATUS s = ObCaptureObjectAttributes((const OBJECT_ATTRIBUTES *)UserAttributes, UserMode, Captured, Name,
                                           NameBuffer);
    if (!NT_SUCCESS(s))
        return s;
    *Attributes = Captured->Attributes;
    return (*Attributes & OBJ_PERMANENT) ? STATUS_PRIVILEGE_NOT_HELD : STATUS_SUCCESS;
}

NTSTATUS ObReturnNewHandle(ULONG64 UserHandle, HANDLE H, NTSTATUS Status)
{
    NTSTATUS r = ExReturnToUser((void *)UserHandle, &H, sizeof(H), 8);
    if (!NT_SUCCESS(r)) {
        ObCloseHandle(H, KernelMode);
        return r;
    }
    return Status;
}

static NTSTATUS NtClose(ULONG64 h, ULONG64 a2, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a2, (void)a3, (void)a4, (void)a5, (void)a6;
    return ObCloseHandle(h, UserMode);
}

/* Any object whose type has a dispatcher header (events, processes, and
 * whatever else the I/O manager adds), through a handle with SYNCHRONIZE.
 * A process waiting for itself would wait for ever: refused, as before
 * the object manager (STATUS_INVALID_HANDLE). */
static NTSTATUS NtWaitForSingleObject(ULONG64 h, ULONG64 alertable, ULONG64 utimeout, ULONG64 a4, ULONG64 a5,
                                      ULONG64 a6)
{
    (void)a4, (void)a5, (void)a6;
    PVOID o;
    NTSTATUS s = ObReferenceObjectByHandle(h, SYNCHRONIZE, NULL, UserMode, &o, NULL);
    if (!NT_SUCCESS(s))
        return s;
    LONG off = ObGetObjectType(o)->TypeInfo.DispatcherHeaderOffset;
    LARGE_INTEGER t;
    if (o == PsGetCurrentThreadProcess())
        s = STATUS_INVALID_HANDLE;
    else if (off < 0)
        s = STATUS_OBJECT_TYPE_MISMATCH;
    else if (utimeout)
        s = ExCaptureUser(&t, (const void *)utimeout, sizeof(t), 8);
    if (NT_SUCCESS(s))
        s = KeWaitForSingleObject((PUCHAR)o + off, UserRequest, UserMode, (BOOLEAN)alertable, utimeout ? &t : NULL);
    ObDereferenceObject(o);
    return s;
}

/* SystemHandleList: a snapshot taken under the locks into a buffer
 * allocated before them, copied to ring 3 after (copying may fault). */
NTSTATUS ObpQuerySystemHandles(PVOID ubuf, SIZE_T len, PSIZE_T uret)
{
    NTSTATUS s;
    if (!NT_SUCCESS(s = ExProbeUserOutput(ubuf, len, len < sizeof(SYSTEM_HANDLE_T) ? len : sizeof(SYSTEM_HANDLE_T), 8)) ||
        (uret && !NT_SUCCESS(s = ExProbeUserOutput(uret, sizeof(SIZE_T), sizeof(SIZE_T), 8))))
        return s;
    ULONG cap = (ULONG)(ObpTotalHandles + 16), k = 0;
    SYSTEM_HANDLE_T *snap = NULL;
    for (int tries = 0;; tries++) {
        snap = ExAllocatePoolWithTag(NonPagedPoolNx, (SIZE_T)cap * sizeof(*snap), TAG_SNAPSHOT);
        if (!snap)
            return STATUS_INSUFFICIENT_RESOURCES;
        k = ObpSnapshotHandles(snap, cap);
        if (k <= cap)
            break;
        ExFreePoolWithTag(snap, TAG_SNAPSHOT);   /* handles were opened meanwhile */
        if (tries == 3)
            return STATUS_INSUFFICIENT_RESOURCES;
        cap = k + 16;
    }
    SIZE_T need = (SIZE_T)k * sizeof(SYSTEM_HANDLE_T);
    s = len < need ? STATUS_INFO_LENGTH_MISMATCH : ExReturnToUser(ubuf, snap, need, 8);
    ExFreePoolWithTag(snap, TAG_SNAPSHOT);
    if (uret) {
        NTSTATUS r = ExReturnToUser(uret, &need, sizeof(need), 8);
        if (!NT_SUCCESS(r))
            return r;
    }
    return s;
}

/* ---- leak counters: objects (all, and per type) and handles ---- */
static char counter_names[OB_MAX_TYPES][32];

static int ob_counters(KT_COUNTER *out, int max)
{
    int n = 0;
    if (n < max)
        out[n++] = (KT_COUNTER){ "objects", (uint64_t)ObpTotalObjects };
    if (n < max)
        out[n++] = (KT_COUNTER){ "handles (all processes)", (uint64_t)ObpTotalHandles };
    for (ULONG i = 0; i < ObpTypeCount && n < max; i++) {
        if (!counter_names[i][0])
            ksnprintf(counter_names[i], sizeof(counter_names[i]), "%s objects", ObpTypes[i]->Name);
        out[n++] = (KT_COUNTER){ counter_names[i], (uint64_t)ObpTypes[i]->TotalObjects };
    }
    return n;
}

void ObInitSystem(void)
{
    ObpStartReaper();
    ObpInitializeNamespace();
    KiRegisterService(SYS_NtClose, NtClose);
    KiRegisterService(SYS_NtWaitForSingleObject, NtWaitForSingleObject);
    KtRegisterCounters(ob_counters);
}
