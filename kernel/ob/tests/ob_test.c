/*
 * ob.*: the object manager from the kernel side - names (insert, lookup,
 * symbolic links, collisions, OBJ_OPENIF, case), references and the
 * deferred delete at DISPATCH_LEVEL, handle tables (growth, the bound,
 * access mapping, type mismatch), and the two bugchecks that catch a
 * misused reference. Each test runs in the System process, whose handle
 * table the kernel's own handles go to; the leak check counts objects
 * (in all and per type) and handles.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "kernel/ob/obp.h"
#include "kernel/ps/psp.h"

#define TAG_OBTEST POOL_TAG('O', 'b', 'T', 't')

/* A type of the tests' own (types are never deleted: made once). */
static POBJECT_TYPE test_type;
static volatile LONG deletes, closes;
static volatile ULONG last_close_count;

static void test_delete(PVOID o)
{
    UNREFERENCED_PARAMETER(o);
    __atomic_add_fetch(&deletes, 1, __ATOMIC_RELAXED);
}

static void test_close(struct _EPROCESS *p, PVOID o, ULONG left)
{
    UNREFERENCED_PARAMETER(p);
    UNREFERENCED_PARAMETER(o);
    last_close_count = left;
    __atomic_add_fetch(&closes, 1, __ATOMIC_RELAXED);
}

#define TEST_READ  0x0001
#define TEST_WRITE 0x0002
#define TEST_ALL   (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3)

static POBJECT_TYPE type(void)
{
    if (!test_type) {
        OBJECT_TYPE_INITIALIZER init = {
            .GenericMapping = { STANDARD_RIGHTS_READ | TEST_READ, STANDARD_RIGHTS_WRITE | TEST_WRITE,
                                STANDARD_RIGHTS_EXECUTE | SYNCHRONIZE, TEST_ALL },
            .ValidAccessMask = TEST_ALL,
            .DispatcherHeaderOffset = -1,
            .CloseProcedure = test_close,
            .DeleteProcedure = test_delete,
        };
        NTSTATUS s = ObCreateObjectType("ObTest", &init, &test_type);
        ASSERT(NT_SUCCESS(s));
    }
    return test_type;
}

static PVOID make(PCSTR name)
{
    ANSI_STRING n;
    RtlInitAnsiString(&n, name);
    PVOID o = NULL;
    NTSTATUS s = ObCreateObject(type(), name ? &n : NULL, 64, &o);
    KT_EQ((ULONG)s, 0);
    return o;
}

static NTSTATUS by_name(PCSTR name, POBJECT_TYPE t, PVOID *o)
{
    ANSI_STRING n;
    RtlInitAnsiString(&n, name);
    return ObReferenceObjectByName(&n, t, o);
}

KTEST(ob, boot_directories_exist)
{
    static const char *const dirs[] = { "\\", "\\Device", "\\Driver", "\\BaseNamedObjects", "\\DosDevices" };
    for (ULONG i = 0; i < ARRAYSIZE(dirs); i++) {
        PVOID d;
        KT_EQ((ULONG)by_name(dirs[i], ObDirectoryObjectType, &d), 0);
        KT_STREQ(ObGetObjectTypeName(d), "Directory");
        KT_STREQ(ObGetObjectName(d), dirs[i]);
        ObDereferenceObject(d);
    }
}

KTEST(ob, create_insert_lookup_and_make_temporary)
{
    LONG d0 = deletes;
    PVOID o = make("\\Device\\ObTest0");
    KT_EQ(ObGetObjectPointerCount(o), 1);
    KT_EQ(ObGetObjectHandleCount(o), 0);
    UCHAR zero[64] = { 0 };
    KT_MEMEQ(o, zero, 64);                              /* the body is zeroed */
    KT_EQ((ULONG)ObInsertObject(o, 0, NULL), 0);        /* named, no handle: permanent */
    PVOID f;
    KT_EQ((ULONG)by_name("\\Device\\ObTest0", type(), &f), 0);
    KT_EQ((ULONG64)f, (ULONG64)o);
    KT_EQ(ObGetObjectPointerCount(o), 2);
    ObDereferenceObject(f);
    KT_STREQ(ObGetObjectName(o), "\\Device\\ObTest0");
    KT_EQ(deletes, d0);
    ObReferenceObject(o);                               /* keep it past the name */
    ObMakeTemporaryObject(o);                           /* the name goes, and the namespace's reference */
    KT_EQ((ULONG)by_name("\\Device\\ObTest0", NULL, &f), (ULONG)STATUS_OBJECT_NAME_NOT_FOUND);
    KT_EQ(ObGetObjectPointerCount(o), 1);
    KT_EQ(deletes, d0);
    ObDereferenceObject(o);
    KT_EQ(deletes, d0 + 1);                             /* the last reference: DeleteProcedure ran */
}

KTEST(ob, unnamed_without_handle_is_permanent_until_made_temporary)
{
    LONG d0 = deletes;
    PVOID o = make(NULL);
    KT_EQ((ULONG)ObInsertObject(o, 0, NULL), 0);
    KT_EQ(ObGetObjectPointerCount(o), 1);               /* kept as "permanent" */
    KT_STREQ(ObGetObjectName(o), "");
    ObMakeTemporaryObject(o);
    KT_EQ(deletes, d0 + 1);
}

KTEST(ob, names_are_case_insensitive_and_collide)
{
    PVOID a = make("\\BaseNamedObjects\\MixedCase");
    KT_EQ((ULONG)ObInsertObject(a, 0, NULL), 0);
    PVOID f;
    KT_EQ((ULONG)by_name("\\basenamedobjects\\MIXEDCASE", NULL, &f), 0);
    KT_EQ((ULONG64)f, (ULONG64)a);
    ObDereferenceObject(f);
    PVOID b = make("\\BASENAMEDOBJECTS\\mixedcase");
    KT_EQ((ULONG)ObInsertObject(b, 0, NULL), (ULONG)STATUS_OBJECT_NAME_COLLISION);   /* b is gone */
    /* OBJ_OPENIF with a handle: the existing one. */
    PVOID c = make("\\BaseNamedObjects\\MIXEDcase");
    HANDLE h;
    KT_EQ((ULONG)ObpInsertObjectEx(c, TEST_READ, &h, OBJ_OPENIF), (ULONG)STATUS_OBJECT_NAME_EXISTS);
    PVOID viah;
    KT_EQ((ULONG)ObReferenceObjectByHandle(h, TEST_READ, type(), UserMode, &viah, NULL), 0);
    KT_EQ((ULONG64)viah, (ULONG64)a);
    ObDereferenceObject(viah);
    KT_EQ((ULONG)ObCloseHandle(h, KernelMode), 0);
    ObMakeTemporaryObject(a);
}

KTEST(ob, bad_names)
{
    static const char *const bad[] = { "Device\\X", "\\Device\\", "\\Device\\\\X", "\\\\" };
    for (ULONG i = 0; i < ARRAYSIZE(bad); i++) {
        ANSI_STRING n;
        RtlInitAnsiString(&n, bad[i]);
        PVOID o;
        KT_EQ((ULONG)ObCreateObject(type(), &n, 8, &o), (ULONG)STATUS_OBJECT_NAME_INVALID);
        KT_EQ((ULONG)ObReferenceObjectByName(&n, NULL, &o), (ULONG)STATUS_OBJECT_NAME_INVALID);
    }
    PVOID o = make("\\NoSuchDirectory\\X");
    KT_EQ((ULONG)ObInsertObject(o, 0, NULL), (ULONG)STATUS_OBJECT_PATH_NOT_FOUND);
    KT_EQ((ULONG)by_name("\\NoSuchDirectory\\X", NULL, &o), (ULONG)STATUS_OBJECT_PATH_NOT_FOUND);
    KT_EQ((ULONG)by_name("\\Device\\NoSuchThing", NULL, &o), (ULONG)STATUS_OBJECT_NAME_NOT_FOUND);
    /* A non-directory in the middle of a path. */
    PVOID leaf = make("\\Device\\Leaf");
    KT_EQ((ULONG)ObInsertObject(leaf, 0, NULL), 0);
    KT_EQ((ULONG)by_name("\\Device\\Leaf\\Below", NULL, &o), (ULONG)STATUS_OBJECT_PATH_NOT_FOUND);
    KT_EQ((ULONG)by_name("\\Device\\Leaf", ObDirectoryObjectType, &o), (ULONG)STATUS_OBJECT_TYPE_MISMATCH);
    ObMakeTemporaryObject(leaf);
}

KTEST(ob, symbolic_links_are_followed_and_bounded)
{
    ANSI_STRING dir, link, target, loop1, loop2;
    RtlInitAnsiString(&dir, "\\Device\\ObDir");
    KT_EQ((ULONG)ObCreateDirectory(&dir), 0);
    PVOID o = make("\\Device\\ObDir\\Thing");
    KT_EQ((ULONG)ObInsertObject(o, 0, NULL), 0);
    RtlInitAnsiString(&link, "\\DosDevices\\OBT");
    RtlInitAnsiString(&target, "\\Device\\ObDir");
    KT_EQ((ULONG)ObCreateSymbolicLink(&link, &target), 0);
    PVOID f;
    KT_EQ((ULONG)by_name("\\DosDevices\\obt\\thing", type(), &f), 0);   /* a link in the middle */
    KT_EQ((ULONG64)f, (ULONG64)o);
    ObDereferenceObject(f);
    KT_EQ((ULONG)by_name("\\DosDevices\\OBT", ObDirectoryObjectType, &f), 0);   /* and at the end */
    ObDereferenceObject(f);
    /* Two links naming each other: the lookup stops. */
    RtlInitAnsiString(&loop1, "\\DosDevices\\L1");
    RtlInitAnsiString(&loop2, "\\DosDevices\\L2");
    KT_EQ((ULONG)ObCreateSymbolicLink(&loop1, &loop2), 0);
    KT_EQ((ULONG)ObCreateSymbolicLink(&loop2, &loop1), 0);
    KT_EQ((ULONG)by_name("\\DosDevices\\L1", NULL, &f), (ULONG)STATUS_OBJECT_PATH_NOT_FOUND);
    KT_EQ((ULONG)ObDeleteSymbolicLink(&loop1), 0);
    KT_EQ((ULONG)ObDeleteSymbolicLink(&loop2), 0);
    KT_EQ((ULONG)ObDeleteSymbolicLink(&target), (ULONG)STATUS_OBJECT_TYPE_MISMATCH);   /* a directory */
    KT_EQ((ULONG)ObDeleteSymbolicLink(&link), 0);
    KT_EQ((ULONG)by_name("\\DosDevices\\OBT\\Thing", NULL, &f), (ULONG)STATUS_OBJECT_PATH_NOT_FOUND);
    ObMakeTemporaryObject(o);
    KT_EQ((ULONG)by_name("\\Device\\ObDir", NULL, &f), 0);
    ObMakeTemporaryObject(f);   /* the directory, now empty */
    ObDereferenceObject(f);
}

typedef struct {
    char names[8][32];
    ULONG n;
} ENUM_CTX;

static BOOLEAN collect(PVOID o, PCSTR name, PVOID ctx)
{
    UNREFERENCED_PARAMETER(o);
    ENUM_CTX *c = ctx;
    if (c->n < 8)
        strlcpy(c->names[c->n], name, sizeof(c->names[0]));
    c->n++;
    return TRUE;
}

KTEST(ob, enumerate_in_name_order)
{
    ANSI_STRING dir;
    RtlInitAnsiString(&dir, "\\Device\\Enum");
    KT_EQ((ULONG)ObCreateDirectory(&dir), 0);
    static const char *const in[] = { "\\Device\\Enum\\charlie", "\\Device\\Enum\\Alpha", "\\Device\\Enum\\bravo" };
    PVOID o[3];
    for (int i = 0; i < 3; i++) {
        o[i] = make(in[i]);
        KT_EQ((ULONG)ObInsertObject(o[i], 0, NULL), 0);
    }
    ENUM_CTX c = { .n = 0 };
    KT_EQ((ULONG)ObEnumerateDirectory(&dir, collect, &c), 0);
    KT_EQ(c.n, 3);
    KT_STREQ(c.names[0], "Alpha");
    KT_STREQ(c.names[1], "bravo");
    KT_STREQ(c.names[2], "charlie");
    for (int i = 0; i < 3; i++)
        ObMakeTemporaryObject(o[i]);
    PVOID d;
    KT_EQ((ULONG)ObReferenceObjectByName(&dir, NULL, &d), 0);
    ObMakeTemporaryObject(d);
    ObDereferenceObject(d);
}

KTEST(ob, temporary_name_goes_with_the_last_handle)
{
    LONG c0 = closes;
    PVOID o = make("\\BaseNamedObjects\\Temp");
    HANDLE h1, h2;
    KT_EQ((ULONG)ObInsertObject(o, TEST_READ, &h1), 0);   /* the reference went to the handle */
    KT_EQ(ObGetObjectPointerCount(o), 1);
    KT_EQ(ObGetObjectHandleCount(o), 1);
    ANSI_STRING n;
    RtlInitAnsiString(&n, "\\BaseNamedObjects\\temp");
    OBJECT_ATTRIBUTES oa;
    InitializeObjectAttributes(&oa, &n, OBJ_CASE_INSENSITIVE, 0, NULL);
    KT_EQ((ULONG)ObOpenObjectByName(&oa, type(), KernelMode, TEST_WRITE, &h2), 0);
    KT_NE(h1, h2);
    KT_EQ(ObGetObjectHandleCount(o), 2);
    KT_EQ((ULONG)ObCloseHandle(h1, KernelMode), 0);
    KT_EQ(last_close_count, 1);                          /* CloseProcedure: what is left */
    PVOID f;
    KT_EQ((ULONG)ObReferenceObjectByName(&n, NULL, &f), 0);   /* still named */
    ObDereferenceObject(f);
    LONG d0 = deletes;
    KT_EQ((ULONG)ObCloseHandle(h2, KernelMode), 0);
    KT_EQ(last_close_count, 0);
    KT_EQ(closes, c0 + 2);
    KT_EQ(deletes, d0 + 1);
    KT_EQ((ULONG)ObReferenceObjectByName(&n, NULL, &f), (ULONG)STATUS_OBJECT_NAME_NOT_FOUND);
}

/* ---- references and the deferred delete ---- */

KTEST(ob, last_reference_at_dispatch_level_is_deleted_by_the_reaper)
{
    LONG d0 = deletes;
    PVOID o = make(NULL);
    ObReferenceObject(o);
    KIRQL old = KeRaiseIrqlToDpcLevel();
    ObDereferenceObject(o);
    ObDereferenceObject(o);                              /* the last one, at DISPATCH_LEVEL */
    KT_EQ(deletes, d0);                                  /* not here: DeleteProcedure runs at PASSIVE_LEVEL */
    KeLowerIrql(old);
    ObpWaitForDeferredDeletes();
    KT_EQ(deletes, d0 + 1);
    KT_EQ(ObpDeferredDeletes, 0);
}

static KDPC dpc;
static void drop_in_dpc(PKDPC d, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(d);
    UNREFERENCED_PARAMETER(a1);
    UNREFERENCED_PARAMETER(a2);
    ObDereferenceObject(ctx);
}

KTEST(ob, dereference_from_a_dpc)
{
    LONG d0 = deletes;
    PVOID o = make(NULL);
    KeInitializeDpc(&dpc, drop_in_dpc, o);
    KeInsertQueueDpc(&dpc, NULL, NULL);
    for (int i = 0; i < 1000 && deletes == d0; i++) {
        LARGE_INTEGER ms = { -KI_MS(1) };
        KeDelayExecutionThread(KernelMode, FALSE, &ms);
    }
    ObpWaitForDeferredDeletes();
    KT_EQ(deletes, d0 + 1);
}

/* ---- handles ---- */

KTEST(ob, handle_values_and_invalid_handles)
{
    PVOID o = make(NULL);
    HANDLE h;
    KT_EQ((ULONG)ObInsertObject(o, GENERIC_READ, &h), 0);   /* READ_CONTROL | TEST_READ */
    KT_EQ(h & 3, 0);
    KT_NE(h, 0);
    PVOID f;
    static const HANDLE bad[] = { 0, 2, 0x1000, 0x7FFFFFFFFFFFFFFCULL, 0xFFFF800000001000ULL };
    for (ULONG i = 0; i < ARRAYSIZE(bad); i++)
        KT_EQ((ULONG)ObReferenceObjectByHandle(bad[i], 0, NULL, UserMode, &f, NULL), (ULONG)STATUS_INVALID_HANDLE);
    KT_EQ((ULONG)ObReferenceObjectByHandle(h + 1, 0, NULL, UserMode, &f, NULL), (ULONG)STATUS_INVALID_HANDLE);
    KT_EQ((ULONG)ObReferenceObjectByHandle(h, 0, ExEventObjectType, UserMode, &f, NULL),
          (ULONG)STATUS_OBJECT_TYPE_MISMATCH);
    KT_EQ((ULONG)ObReferenceObjectByHandle(h, TEST_WRITE, type(), UserMode, &f, NULL), (ULONG)STATUS_ACCESS_DENIED);
    KT_EQ((ULONG)ObReferenceObjectByHandle(h, TEST_WRITE, type(), KernelMode, &f, NULL), 0);   /* no check */
    ObDereferenceObject(f);
    OBJECT_HANDLE_INFORMATION info;
    KT_EQ((ULONG)ObReferenceObjectByHandle(h, GENERIC_READ, type(), UserMode, &f, &info), 0);
    KT_EQ(info.GrantedAccess, READ_CONTROL | TEST_READ);
    ObDereferenceObject(f);
    /* NtCurrentProcess(): the caller's process, all access. */
    KT_EQ((ULONG)ObReferenceObjectByHandle((HANDLE)-1, PROCESS_TERMINATE, PsProcessType, UserMode, &f, &info), 0);
    KT_EQ((ULONG64)f, (ULONG64)PsGetCurrentThreadProcess());
    KT_EQ(info.GrantedAccess, PROCESS_ALL_ACCESS);
    ObDereferenceObject(f);
    KT_EQ((ULONG)ObReferenceObjectByHandle((HANDLE)-1, 0, type(), UserMode, &f, NULL),
          (ULONG)STATUS_OBJECT_TYPE_MISMATCH);
    KT_EQ((ULONG)ObCloseHandle(h, KernelMode), 0);
    KT_EQ((ULONG)ObCloseHandle(h, KernelMode), (ULONG)STATUS_INVALID_HANDLE);
    KT_EQ((ULONG)ObReferenceObjectByHandle(h, 0, NULL, UserMode, &f, NULL), (ULONG)STATUS_INVALID_HANDLE);
}

KTEST(ob, access_masks_are_mapped_and_checked)
{
    PVOID o = make(NULL);
    HANDLE h;
    ACCESS_MASK g;
    KT_EQ((ULONG)ObpMapAccess(type(), GENERIC_READ | GENERIC_EXECUTE, &g), 0);
    KT_EQ(g, STANDARD_RIGHTS_READ | TEST_READ | SYNCHRONIZE);
    KT_EQ((ULONG)ObpMapAccess(type(), MAXIMUM_ALLOWED, &g), 0);
    KT_EQ(g, TEST_ALL);
    KT_EQ((ULONG)ObpMapAccess(type(), GENERIC_ALL, &g), 0);
    KT_EQ(g, TEST_ALL);
    KT_EQ((ULONG)ObpMapAccess(type(), 0x8000, &g), (ULONG)STATUS_ACCESS_DENIED);   /* outside ValidAccessMask */
    KT_EQ((ULONG)ObInsertObject(o, 0x8000, &h), (ULONG)STATUS_ACCESS_DENIED);      /* and o is gone */
    o = make(NULL);
    KT_EQ((ULONG)ObInsertObject(o, MAXIMUM_ALLOWED, &h), 0);
    OBJECT_HANDLE_INFORMATION info;
    PVOID f;
    KT_EQ((ULONG)ObReferenceObjectByHandle(h, GENERIC_WRITE, NULL, UserMode, &f, &info), 0);
    KT_EQ(info.GrantedAccess, TEST_ALL);
    ObDereferenceObject(f);
    KT_EQ((ULONG)ObCloseHandle(h, KernelMode), 0);
}

KTEST(ob, handle_table_grows_to_its_bound)
{
    PEPROCESS me = PsGetCurrentThreadProcess();
    ULONG before = me->ObjectTable.InUse;
    HANDLE *hs = ExAllocatePoolWithTag(NonPagedPoolNx, OB_MAX_HANDLES * sizeof(HANDLE), TAG_OBTEST);
    KT_ASSERT(hs != NULL);
    PVOID o = make(NULL);
    KT_EQ((ULONG)ObInsertObject(o, TEST_READ, &hs[0]), 0);
    ULONG n = 1;
    NTSTATUS s;
    while (NT_SUCCESS(s = ObOpenObjectByPointer(o, 0, TEST_READ, type(), KernelMode, &hs[n])))
        KT_LT(++n, OB_MAX_HANDLES + 1);
    KT_EQ((ULONG)s, (ULONG)STATUS_INSUFFICIENT_RESOURCES);
    KT_EQ(n + before, OB_MAX_HANDLES);                  /* exactly the bound */
    KT_EQ(me->ObjectTable.Capacity, OB_MAX_HANDLES);
    KT_EQ(ObGetObjectHandleCount(o), n);
    /* Every handle still names the object after all that growing. */
    for (ULONG i = 0; i < n; i += 97) {
        PVOID f;
        KT_EQ((ULONG)ObReferenceObjectByHandle(hs[i], TEST_READ, type(), UserMode, &f, NULL), 0);
        KT_EQ((ULONG64)f, (ULONG64)o);
        ObDereferenceObject(f);
    }
    for (ULONG i = 0; i < n; i++)
        KT_EQ((ULONG)ObCloseHandle(hs[i], KernelMode), 0);
    ExFreePoolWithTag(hs, TAG_OBTEST);
    KT_EQ(me->ObjectTable.InUse, before);
}

/* ---- events through the services' own paths ---- */

KTEST(ob, event_object_waits_and_signals)
{
    PKEVENT e;
    KT_EQ((ULONG)ObCreateObject(ExEventObjectType, NULL, sizeof(KEVENT), (PVOID *)&e), 0);
    KeInitializeEvent(e, NotificationEvent, FALSE);
    HANDLE h;
    KT_EQ((ULONG)ObInsertObject(e, EVENT_ALL_ACCESS, &h), 0);
    KT_EQ((ULONG)ObGetObjectType(e)->TypeInfo.DispatcherHeaderOffset, 0);
    LARGE_INTEGER zero = { 0 };
    KT_EQ((ULONG)KeWaitForSingleObject(e, Executive, KernelMode, FALSE, &zero), (ULONG)STATUS_TIMEOUT);
    KeSetEvent(e, 0, FALSE);
    KT_EQ((ULONG)KeWaitForSingleObject(e, Executive, KernelMode, FALSE, &zero), 0);
    KT_EQ((ULONG)ObCloseHandle(h, KernelMode), 0);
}

/* ---- the checks ---- */

KTEST_BUGCHECK(ob, dropping_a_reference_that_does_not_exist, REFERENCE_BY_POINTER, KT_ANY, KT_ANY, 1, 0)
{
    /* One handle, whose reference is the only one: a dereference without
     * a reference of one's own takes the handle's. */
    PVOID o = make(NULL);
    HANDLE h;
    KT_EQ((ULONG)ObInsertObject(o, TEST_READ, &h), 0);
    KtExpectParam(1, (ULONG64)type());
    KtExpectParam(2, (ULONG64)o);
    ObDereferenceObject(o);
}

KTEST_BUGCHECK(ob, a_pointer_that_is_not_an_object, BAD_OBJECT_HEADER, KT_ANY, 0, 0, KT_ANY)
{
    PUCHAR block = ExAllocatePoolWithTag(NonPagedPoolNx, 256, TAG_OBTEST);
    KT_ASSERT(block != NULL);
    memset(block, 0, 256);
    PVOID fake = block + 128;   /* 16-aligned, but no header before it */
    KtExpectParam(1, (ULONG64)(block + 128 - sizeof(OBJECT_HEADER)));
    KtExpectParam(4, (ULONG64)fake);
    ObReferenceObject(fake);
}

/* A live header whose type pointer was overwritten: every reference checks
 * that the type is the one its header's TypeIndex names in the table. */
KTEST_BUGCHECK(ob, a_header_whose_type_was_overwritten, BAD_OBJECT_HEADER, KT_ANY, KT_ANY, 1, KT_ANY)
{
    PVOID o = make(NULL);
    POBJECT_HEADER h = OBJECT_TO_OBJECT_HEADER(o);
    static UCHAR not_a_type[256];
    h->Type = (POBJECT_TYPE)not_a_type;
    KtExpectParam(1, (ULONG64)h);
    KtExpectParam(2, (ULONG64)not_a_type);
    KtExpectParam(4, (ULONG64)o);
    ObReferenceObject(o);
}

/* The same with the index overwritten instead: the type it names is not the header's. */
KTEST_BUGCHECK(ob, a_header_whose_type_index_was_overwritten, BAD_OBJECT_HEADER, KT_ANY, KT_ANY, 1, KT_ANY)
{
    PVOID o = make(NULL);
    POBJECT_HEADER h = OBJECT_TO_OBJECT_HEADER(o);
    h->TypeIndex = h->TypeIndex ? 0 : 1;
    KtExpectParam(1, (ULONG64)h);
    KtExpectParam(2, (ULONG64)type());
    KtExpectParam(4, (ULONG64)o);
    ObReferenceObject(o);
}

KTEST(ob, file_name_lookup_stops_at_a_device_and_returns_the_rest)
{
    PVOID dev = make("\\Device\\ObDisk");
    KT_EQ((ULONG)ObInsertObject(dev, 0, NULL), 0);
    ANSI_STRING link, target, n;
    RtlInitAnsiString(&link, "\\DosDevices\\OBD");
    RtlInitAnsiString(&target, "\\Device\\ObDisk");
    KT_EQ((ULONG)ObCreateSymbolicLink(&link, &target), 0);
    CHAR rest[OB_MAX_NAME];
    PVOID f;
    RtlInitAnsiString(&n, "\\Device\\ObDisk\\dir\\file");
    KT_EQ((ULONG)ObpReferenceObjectByNameEx(&n, type(), &f, rest), 0);
    KT_EQ((ULONG64)f, (ULONG64)dev);
    KT_STREQ(rest, "\\dir\\file");
    ObDereferenceObject(f);
    RtlInitAnsiString(&n, "\\DosDevices\\obd\\x");   /* through a link */
    KT_EQ((ULONG)ObpReferenceObjectByNameEx(&n, NULL, &f, rest), 0);
    KT_EQ((ULONG64)f, (ULONG64)dev);
    KT_STREQ(rest, "\\x");
    ObDereferenceObject(f);
    RtlInitAnsiString(&n, "\\DosDevices\\OBD");        /* the device itself */
    KT_EQ((ULONG)ObpReferenceObjectByNameEx(&n, type(), &f, rest), 0);
    KT_STREQ(rest, "");
    ObDereferenceObject(f);
    RtlInitAnsiString(&n, "\\Device\\ObDisk\\x");
    KT_EQ((ULONG)ObpReferenceObjectByNameEx(&n, ExEventObjectType, &f, rest), (ULONG)STATUS_OBJECT_TYPE_MISMATCH);
    KT_EQ((ULONG)ObReferenceObjectByName(&n, NULL, &f), (ULONG)STATUS_OBJECT_PATH_NOT_FOUND);   /* the plain one does not */
    KT_EQ((ULONG)ObDeleteSymbolicLink(&link), 0);
    ObMakeTemporaryObject(dev);
}

/* Lookups racing closes: another thread opens and closes handles to a
 * named object while this one looks it up by handle and by name; nothing
 * is freed under anyone (the leak check and the header checks see it). */
static volatile BOOLEAN race_stop;
static volatile HANDLE race_handle;
static void race_closer(PVOID ctx)
{
    PVOID o = ctx;
    while (!race_stop) {
        HANDLE h;
        if (NT_SUCCESS(ObOpenObjectByPointer(o, 0, TEST_READ, NULL, KernelMode, &h))) {
            race_handle = h;
            KeYieldExecution();
            race_handle = 0;
            ObCloseHandle(h, KernelMode);
        }
    }
}

KTEST(ob, lookups_race_closes)
{
    PVOID o = make("\\BaseNamedObjects\\Race");
    HANDLE mine;
    KT_EQ((ULONG)ObInsertObject(o, TEST_READ, &mine), 0);
    race_stop = FALSE;
    PKTHREAD t = KeCreateSystemThread(race_closer, o, KI_DEFAULT_PRIORITY, "obrace");
    KT_ASSERT(t != NULL);
    ANSI_STRING n;
    RtlInitAnsiString(&n, "\\BaseNamedObjects\\Race");
    ULONG hits = 0;
    for (int i = 0; i < 2000; i++) {
        PVOID f;
        HANDLE h = race_handle;
        NTSTATUS s = ObReferenceObjectByHandle(h, TEST_READ, type(), UserMode, &f, NULL);
        if (NT_SUCCESS(s)) {
            KT_EQ((ULONG64)f, (ULONG64)o);
            ObDereferenceObject(f);
            hits++;
        } else {
            KT_EQ((ULONG)s, (ULONG)STATUS_INVALID_HANDLE);
        }
        KT_EQ((ULONG)ObReferenceObjectByName(&n, type(), &f), 0);
        ObDereferenceObject(f);
        if (i % 16 == 0)
            KeYieldExecution();
    }
    race_stop = TRUE;
    KeWaitForSingleObject(t, Executive, KernelMode, FALSE, NULL);
    KeDereferenceThread(t);
    KT_EQ(ObGetObjectHandleCount(o), 1);
    KT_EQ((ULONG)ObCloseHandle(mine, KernelMode), 0);
    UNREFERENCED_PARAMETER(hits);
}
