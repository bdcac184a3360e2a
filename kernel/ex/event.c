/*
 * Event objects: a KEVENT with an object header, so ring 3 can hold one
 * by handle (NtCreateEvent / NtOpenEvent / NtSetEvent / NtResetEvent, and
 * NtWaitForSingleObject in kernel/ob). Named events live in
 * \BaseNamedObjects (what Win32's CreateEvent names turn into): a name
 * with handles is temporary and goes with the last handle.
 */
#include "kernel/ex/ex.h"
#include "kernel/ob/obp.h"
#include "kernel/ntsyscall.h"
#include "mm/mm.h"

POBJECT_TYPE ExEventObjectType;

/* The previous state out-parameter: optional, an int32 (4-aligned). */
static NTSTATUS probe_previous(ULONG64 uprev)
{
    return uprev ? ExProbeUserOutput((void *)uprev, sizeof(LONG), sizeof(LONG), 4) : STATUS_SUCCESS;
}

static NTSTATUS NtCreateEvent(ULONG64 uhandle, ULONG64 access, ULONG64 uattr, ULONG64 type, ULONG64 initial,
                              ULONG64 a6)
{
    (void)a6;
    OBJECT_ATTRIBUTES oa;
    ANSI_STRING name;
    CHAR buf[OB_MAX_NAME];
    NTSTATUS s;
    if (type != NotificationEvent && type != SynchronizationEvent)
        return STATUS_INVALID_PARAMETER;
    /* The out-handle is checked before anything is made (not written). */
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)uhandle, sizeof(HANDLE), sizeof(HANDLE), 8)))
        return s;
    ULONG attributes;
    if (!NT_SUCCESS(s = ObCaptureCreateAttributes(uattr, &oa, &name, buf, &attributes)))
        return s;
    PKEVENT e;
    if (!NT_SUCCESS(s = ObCreateObject(ExEventObjectType, &name, sizeof(KEVENT), (PVOID *)&e)))
        return s;
    KeInitializeEvent(e, (EVENT_TYPE)type, (BOOLEAN)(initial != 0));
    HANDLE h;
    s = ObpInsertObjectEx(e, (ACCESS_MASK)access, &h, attributes);
    if (!NT_SUCCESS(s))
        return s;
    return ObReturnNewHandle(uhandle, h, s);   /* STATUS_OBJECT_NAME_EXISTS under OBJ_OPENIF */
}

static NTSTATUS NtOpenEvent(ULONG64 uhandle, ULONG64 access, ULONG64 uattr, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a4, (void)a5, (void)a6;
    OBJECT_ATTRIBUTES oa;
    ANSI_STRING name;
    CHAR buf[OB_MAX_NAME];
    NTSTATUS s;
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)uhandle, sizeof(HANDLE), sizeof(HANDLE), 8)))
        return s;
    if (!NT_SUCCESS(s = ObCaptureObjectAttributes((const OBJECT_ATTRIBUTES *)uattr, UserMode, &oa, &name, buf)))
        return s;
    if (name.Length == 0)
        return STATUS_OBJECT_NAME_INVALID;   /* opening needs a name */
    HANDLE h;
    if (!NT_SUCCESS(s = ObOpenObjectByName(&oa, ExEventObjectType, UserMode, (ACCESS_MASK)access, &h)))
        return s;
    return ObReturnNewHandle(uhandle, h, s);
}

static NTSTATUS set_or_reset(ULONG64 h, ULONG64 uprev, BOOLEAN set)
{
    NTSTATUS s = probe_previous(uprev);
    if (!NT_SUCCESS(s))
        return s;
    PKEVENT e;
    if (!NT_SUCCESS(s = ObReferenceObjectByHandle(h, EVENT_MODIFY_STATE, ExEventObjectType, UserMode, (PVOID *)&e,
                                                  NULL)))
        return s;
    LONG was = set ? KeSetEvent(e, 0, FALSE) : KeResetEvent(e);
    ObDereferenceObject(e);
    return uprev ? ExReturnToUser((void *)uprev, &was, sizeof(was), 4) : STATUS_SUCCESS;
}

static NTSTATUS NtSetEvent(ULONG64 h, ULONG64 uprev, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a3, (void)a4, (void)a5, (void)a6;
    return set_or_reset(h, uprev, TRUE);
}

static NTSTATUS NtResetEvent(ULONG64 h, ULONG64 uprev, ULONG64 a3, ULONG64 a4, ULONG64 a5, ULONG64 a6)
{
    (void)a3, (void)a4, (void)a5, (void)a6;
    return set_or_reset(h, uprev, FALSE);
}

void ExInitializeEventObjects(void)
{
    OBJECT_TYPE_INITIALIZER init = {
        .GenericMapping = { STANDARD_RIGHTS_READ | EVENT_QUERY_STATE, STANDARD_RIGHTS_WRITE | EVENT_MODIFY_STATE,
                            STANDARD_RIGHTS_EXECUTE | SYNCHRONIZE, EVENT_ALL_ACCESS },
        .ValidAccessMask = EVENT_ALL_ACCESS,
        .DispatcherHeaderOffset = 0,   /* the body is a KEVENT */
    };
    NTSTATUS s = ObCreateObjectType("Event", &init, &ExEventObjectType);
    ASSERT(NT_SUCCESS(s));
    KiRegisterService(SYS_NtCreateEvent, NtCreateEvent);
    KiRegisterService(SYS_NtOpenEvent, NtOpenEvent);
    KiRegisterService(SYS_NtSetEvent, NtSetEvent);
    KiRegisterService(SYS_NtResetEvent, NtResetEvent);
}
