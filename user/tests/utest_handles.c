/*
 * user.handles.*: handles and events from ring 3. Every wrong kind of
 * handle gets NT's status from every service that takes one (not open
 * here: STATUS_INVALID_HANDLE; another type: STATUS_OBJECT_TYPE_MISMATCH;
 * not granted: STATUS_ACCESS_DENIED); events by name and unnamed, their
 * two kinds, a child signalling one it opened by name; a child's handles
 * gone after it ends (seen through SystemHandleList); the per-process
 * bound on handles.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utest.h>

#define KERNEL_VA 0xFFFFFFFF80100000ULL
#define MAX_HANDLES 4096   /* kernel/ob/obp.h OB_MAX_HANDLES */

static NTSTATUS create_event(HANDLE *h, uint32_t access, const char *name, uint32_t attributes, uint32_t type,
                             int state)
{
    STRING_T n;
    OBJECT_ATTRIBUTES_T oa;
    RtlInitString(&n, name);
    InitializeObjectAttributes(&oa, &n, attributes | OBJ_CASE_INSENSITIVE);
    return NtCreateEvent(h, access, name ? &oa : NULL, type, (uint8_t)state);
}

static NTSTATUS open_event(HANDLE *h, uint32_t access, const char *name)
{
    STRING_T n;
    OBJECT_ATTRIBUTES_T oa;
    RtlInitString(&n, name);
    InitializeObjectAttributes(&oa, &n, OBJ_CASE_INSENSITIVE);
    return NtOpenEvent(h, access, &oa);
}

static NTSTATUS poll(HANDLE h)
{
    int64_t zero = 0;
    return NtWaitForSingleObject(h, 0, &zero);
}

/* SystemHandleList, malloc'ed; *N entries. */
static SYSTEM_HANDLE_T *handle_list(size_t *n)
{
    size_t size = 64 * sizeof(SYSTEM_HANDLE_T);
    for (int tries = 0; tries < 8; tries++) {
        SYSTEM_HANDLE_T *l = malloc(size);
        UT_ASSERT(l != NULL);
        size_t got = 0;
        NTSTATUS st = NtQuerySystemInformation(SystemHandleList, l, size, &got);
        if (NT_SUCCESS(st)) {
            UT_EQ(got % sizeof(SYSTEM_HANDLE_T), 0);
            *n = got / sizeof(SYSTEM_HANDLE_T);
            return l;
        }
        free(l);
        UT_STATUS(st, STATUS_INFO_LENGTH_MISMATCH);
        size = got + 16 * sizeof(SYSTEM_HANDLE_T);
    }
    UT_FAIL("SystemHandleList kept growing");
}

static size_t handles_of(uint64_t pid, uint64_t *max_handle)
{
    size_t n, k = 0;
    SYSTEM_HANDLE_T *l = handle_list(&n);
    if (max_handle)
        *max_handle = 0;
    for (size_t i = 0; i < n; i++) {
        if (l[i].ProcessId != pid)
            continue;
        k++;
        if (max_handle && l[i].Handle > *max_handle)
            *max_handle = l[i].Handle;
    }
    free(l);
    return k;
}

static HANDLE start(const char *args)
{
    char line[128];
    snprintf(line, sizeof(line), "child %s", args);
    HANDLE h = 0;
    UT_SUCCESS(NtCreateProcess("child", line, &h));
    return h;
}

static uint64_t pid_of(HANDLE h)
{
    PROCESS_BASIC_INFORMATION_T b;
    UT_SUCCESS(NtQueryInformationProcess(h, ProcessBasicInformation, &b, sizeof(b), NULL));
    return b.UniqueProcessId;
}

static NTSTATUS end_of(HANDLE h)
{
    int64_t t = -20LL * 10000000;
    UT_STATUS(NtWaitForSingleObject(h, 0, &t), STATUS_WAIT_0);
    NTSTATUS code;
    UT_SUCCESS(ProcessExitStatus(h, &code));
    return code;
}

UTEST(handles, every_wrong_handle_is_invalid_handle)
{
    HANDLE closed;
    UT_SUCCESS(create_event(&closed, EVENT_ALL_ACCESS, NULL, 0, 0, 0));
    UT_SUCCESS(NtClose(closed));
    const struct { HANDLE h; const char *what; } bad[] = {
        { 0, "0" }, { closed, "a closed handle" }, { 0x1234, "a handle never opened" },
        { 0x5, "a misaligned handle" }, { 0x7FFFFFFFFFFFFFFCULL, "a huge handle" },
        { 0xFFFFFFFF00000004ULL, "high bits set" }, { KERNEL_VA, "a kernel address" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        NTSTATUS st;
        int32_t prev;
        UT_ASSERT_MSG((st = NtClose(bad[i].h)) == STATUS_INVALID_HANDLE, "NtClose(%s): %s", bad[i].what,
                      UtStatusText(st));
        UT_ASSERT_MSG((st = poll(bad[i].h)) == STATUS_INVALID_HANDLE, "NtWaitForSingleObject(%s): %s",
                      bad[i].what, UtStatusText(st));
        UT_ASSERT_MSG((st = NtSetEvent(bad[i].h, &prev)) == STATUS_INVALID_HANDLE, "NtSetEvent(%s): %s",
                      bad[i].what, UtStatusText(st));
        UT_ASSERT_MSG((st = NtResetEvent(bad[i].h, NULL)) == STATUS_INVALID_HANDLE, "NtResetEvent(%s): %s",
                      bad[i].what, UtStatusText(st));
        UT_ASSERT_MSG((st = NtTerminateProcess(bad[i].h, 0)) == STATUS_INVALID_HANDLE,
                      "NtTerminateProcess(%s): %s", bad[i].what, UtStatusText(st));
    }
    UT_STATUS(NtClose(NtCurrentProcess()), STATUS_INVALID_HANDLE);   /* a pseudo-handle is not open */
    UT_STATUS(poll(NtCurrentProcess()), STATUS_INVALID_HANDLE);      /* waiting for oneself */
}

UTEST(handles, wrong_type_is_type_mismatch)
{
    HANDLE e, p = start("sleep 2000");
    UT_SUCCESS(create_event(&e, EVENT_ALL_ACCESS, NULL, 0, 0, 0));
    UT_STATUS(NtTerminateProcess(e, 0), STATUS_OBJECT_TYPE_MISMATCH);
    PROCESS_BASIC_INFORMATION_T b;
    UT_STATUS(NtQueryInformationProcess(e, ProcessBasicInformation, &b, sizeof(b), NULL), STATUS_OBJECT_TYPE_MISMATCH);
    void *base = NULL;
    size_t size = 4096;
    UT_STATUS(NtAllocateVirtualMemory(e, &base, 0, &size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE),
              STATUS_OBJECT_TYPE_MISMATCH);
    UT_STATUS(NtSetEvent(p, NULL), STATUS_OBJECT_TYPE_MISMATCH);
    UT_STATUS(NtSetEvent(NtCurrentProcess(), NULL), STATUS_OBJECT_TYPE_MISMATCH);
    UT_SUCCESS(NtTerminateProcess(p, 7));
    UT_EQ(end_of(p), 7);
    UT_SUCCESS(NtClose(p));
    UT_SUCCESS(NtClose(e));
}

UTEST(handles, another_process_handle_is_invalid_here)
{
    HANDLE c = start("hold_events 40 3000");
    uint64_t pid = pid_of(c), theirs = 0;
    for (int i = 0; i < 200 && handles_of(pid, &theirs) < 40; i++)
        SleepMs(10);
    UT_GE(handles_of(pid, &theirs), 40);
    /* Its highest handle value is not one of ours (we hold two or three). */
    UT_GT(theirs, 0x40);
    UT_STATUS(NtSetEvent(theirs, NULL), STATUS_INVALID_HANDLE);
    UT_STATUS(NtClose(theirs), STATUS_INVALID_HANDLE);
    UT_STATUS(poll(theirs), STATUS_INVALID_HANDLE);
    UT_SUCCESS(NtTerminateProcess(c, 0));
    end_of(c);
    UT_SUCCESS(NtClose(c));
}

UTEST(handles, rights_not_granted_are_access_denied)
{
    HANDLE sync_only, modify_only;
    UT_SUCCESS(create_event(&sync_only, SYNCHRONIZE, NULL, 0, 0, 1));
    UT_SUCCESS(create_event(&modify_only, EVENT_MODIFY_STATE, NULL, 0, 0, 1));
    UT_STATUS(NtSetEvent(sync_only, NULL), STATUS_ACCESS_DENIED);
    UT_STATUS(NtResetEvent(sync_only, NULL), STATUS_ACCESS_DENIED);
    UT_SUCCESS(poll(sync_only));
    UT_STATUS(poll(modify_only), STATUS_ACCESS_DENIED);
    UT_SUCCESS(NtSetEvent(modify_only, NULL));
    /* GENERIC_* map through the type: GENERIC_EXECUTE is SYNCHRONIZE for an event. */
    HANDLE g;
    UT_SUCCESS(create_event(&g, GENERIC_EXECUTE, NULL, 0, 0, 1));
    UT_SUCCESS(poll(g));
    UT_STATUS(NtSetEvent(g, NULL), STATUS_ACCESS_DENIED);
    /* A right events do not have: refused at creation, no handle made. */
    HANDLE x = 0x1230;
    UT_STATUS(create_event(&x, 0x8, NULL, 0, 0, 0), STATUS_ACCESS_DENIED);
    UT_EQ(x, 0x1230);
    UT_SUCCESS(NtClose(g));
    UT_SUCCESS(NtClose(sync_only));
    UT_SUCCESS(NtClose(modify_only));
}

UTEST(handles, named_events_open_openif_collide_and_go)
{
    HANDLE a, b, c;
    UT_SUCCESS(create_event(&a, EVENT_ALL_ACCESS, "\\BaseNamedObjects\\ut_named", 0, 0, 0));
    UT_SUCCESS(open_event(&b, EVENT_ALL_ACCESS, "\\basenamedobjects\\UT_NAMED"));   /* case-insensitive */
    UT_NE(a, b);
    UT_STATUS(create_event(&c, EVENT_ALL_ACCESS, "\\BaseNamedObjects\\ut_named", 0, 0, 0),
              STATUS_OBJECT_NAME_COLLISION);
    UT_STATUS(create_event(&c, EVENT_ALL_ACCESS, "\\BaseNamedObjects\\ut_named", OBJ_OPENIF, 0, 0),
              STATUS_OBJECT_NAME_EXISTS);
    /* All three are one event. */
    UT_SUCCESS(NtSetEvent(c, NULL));
    UT_SUCCESS(poll(a));
    int32_t prev = -1;
    UT_SUCCESS(NtResetEvent(b, &prev));
    UT_EQ(prev, 1);
    UT_STATUS(poll(c), STATUS_TIMEOUT);
    UT_SUCCESS(NtClose(a));
    UT_SUCCESS(NtClose(b));
    HANDLE d;
    UT_SUCCESS(open_event(&d, SYNCHRONIZE, "\\BaseNamedObjects\\ut_named"));   /* c still holds it */
    UT_SUCCESS(NtClose(d));
    UT_SUCCESS(NtClose(c));
    /* The last handle took the name with it. */
    UT_STATUS(open_event(&d, SYNCHRONIZE, "\\BaseNamedObjects\\ut_named"), STATUS_OBJECT_NAME_NOT_FOUND);
    /* Names that cannot be. */
    UT_STATUS(create_event(&d, EVENT_ALL_ACCESS, "NoBackslash", 0, 0, 0), STATUS_OBJECT_NAME_INVALID);
    UT_STATUS(create_event(&d, EVENT_ALL_ACCESS, "\\NoSuchDir\\x", 0, 0, 0), STATUS_OBJECT_PATH_NOT_FOUND);
    UT_STATUS(create_event(&d, EVENT_ALL_ACCESS, "\\BaseNamedObjects\\", 0, 0, 0), STATUS_OBJECT_NAME_INVALID);
    UT_STATUS(create_event(&d, EVENT_ALL_ACCESS, "\\BaseNamedObjects\\p", OBJ_PERMANENT, 0, 0),
              STATUS_PRIVILEGE_NOT_HELD);
    /* A process is not an event: opened by a name that is a directory. */
    UT_STATUS(open_event(&d, SYNCHRONIZE, "\\BaseNamedObjects"), STATUS_OBJECT_TYPE_MISMATCH);
}

UTEST(handles, object_attributes_are_checked)
{
    STRING_T n;
    OBJECT_ATTRIBUTES_T oa;
    HANDLE h;
    RtlInitString(&n, "\\BaseNamedObjects\\ut_oa");
    InitializeObjectAttributes(&oa, &n, 0);
    oa.Length = 40;
    UT_STATUS(NtCreateEvent(&h, EVENT_ALL_ACCESS, &oa, 0, 0), STATUS_INVALID_PARAMETER);
    InitializeObjectAttributes(&oa, &n, 0x80000000);
    UT_STATUS(NtCreateEvent(&h, EVENT_ALL_ACCESS, &oa, 0, 0), STATUS_INVALID_PARAMETER);
    InitializeObjectAttributes(&oa, &n, 0);
    oa.RootDirectory = 4;
    UT_STATUS(NtCreateEvent(&h, EVENT_ALL_ACCESS, &oa, 0, 0), STATUS_INVALID_PARAMETER);
    InitializeObjectAttributes(&oa, &n, 0);
    n.MaximumLength = 2;   /* Length > MaximumLength */
    UT_STATUS(NtCreateEvent(&h, EVENT_ALL_ACCESS, &oa, 0, 0), STATUS_INVALID_PARAMETER);
    RtlInitString(&n, "");
    n.MaximumLength = 0;
    UT_STATUS(NtCreateEvent(&h, EVENT_ALL_ACCESS, &oa, 0, 0), STATUS_OBJECT_NAME_INVALID);
    static char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[0] = '\\';
    RtlInitString(&n, longname);
    UT_STATUS(NtCreateEvent(&h, EVENT_ALL_ACCESS, &oa, 0, 0), STATUS_OBJECT_NAME_INVALID);
    RtlInitString(&n, "\\BaseNamedObjects\\ut_oa");
    n.Buffer = (char *)KERNEL_VA;
    UT_STATUS(NtCreateEvent(&h, EVENT_ALL_ACCESS, &oa, 0, 0), STATUS_ACCESS_VIOLATION);
    oa.ObjectName = (STRING_T *)((char *)&n + 4);   /* misaligned STRING */
    UT_STATUS(NtCreateEvent(&h, EVENT_ALL_ACCESS, &oa, 0, 0), STATUS_DATATYPE_MISALIGNMENT);
    UT_STATUS(NtCreateEvent(&h, EVENT_ALL_ACCESS, (OBJECT_ATTRIBUTES_T *)KERNEL_VA, 0, 0), STATUS_ACCESS_VIOLATION);
    UT_STATUS(NtCreateEvent(&h, EVENT_ALL_ACCESS, NULL, 2, 0), STATUS_INVALID_PARAMETER);   /* no such type */
    UT_STATUS(NtCreateEvent((HANDLE *)KERNEL_VA, EVENT_ALL_ACCESS, NULL, 0, 0), STATUS_ACCESS_VIOLATION);
    UT_STATUS(NtOpenEvent(&h, EVENT_ALL_ACCESS, NULL), STATUS_ACCESS_VIOLATION);
}

UTEST(handles, set_reset_previous_state_and_timeouts)
{
    HANDLE e;
    UT_SUCCESS(create_event(&e, EVENT_ALL_ACCESS, NULL, 0, 0, 0));
    int32_t prev = -1;
    UT_SUCCESS(NtSetEvent(e, &prev));
    UT_EQ(prev, 0);
    UT_SUCCESS(NtSetEvent(e, &prev));
    UT_EQ(prev, 1);
    UT_SUCCESS(NtResetEvent(e, &prev));
    UT_EQ(prev, 1);
    UT_SUCCESS(NtResetEvent(e, NULL));
    static int32_t pair[2];
    UT_STATUS(NtSetEvent(e, (int32_t *)((char *)pair + 2)), STATUS_DATATYPE_MISALIGNMENT);
    UT_STATUS(NtSetEvent(e, (int32_t *)KERNEL_VA), STATUS_ACCESS_VIOLATION);
    UT_STATUS(poll(e), STATUS_TIMEOUT);   /* the failed calls did not set it */
    int64_t t = -50 * 10000LL;            /* 50 ms */
    UT_STATUS(NtWaitForSingleObject(e, 0, &t), STATUS_TIMEOUT);
    UT_SUCCESS(NtClose(e));
}

UTEST(handles, synchronization_and_notification_events)
{
    HANDLE n, s;
    UT_SUCCESS(create_event(&n, EVENT_ALL_ACCESS, NULL, 0, 0 /* notification */, 1));
    UT_SUCCESS(create_event(&s, EVENT_ALL_ACCESS, NULL, 0, 1 /* synchronization */, 1));
    UT_SUCCESS(poll(n));
    UT_SUCCESS(poll(n));                   /* stays signaled */
    UT_SUCCESS(poll(s));
    UT_STATUS(poll(s), STATUS_TIMEOUT);    /* a satisfied wait reset it */
    UT_SUCCESS(NtSetEvent(s, NULL));
    UT_SUCCESS(poll(s));
    UT_SUCCESS(NtClose(n));
    UT_SUCCESS(NtClose(s));
}

UTEST(handles, a_child_signals_an_event_it_opened_by_name)
{
    HANDLE e;
    UT_SUCCESS(create_event(&e, SYNCHRONIZE, "\\BaseNamedObjects\\ut_child_sig", 0, 1, 0));
    HANDLE c = start("set_event ut_child_sig");
    int64_t t = -20LL * 10000000;
    UT_STATUS(NtWaitForSingleObject(e, 0, &t), STATUS_WAIT_0);
    UT_EQ(end_of(c), 0);
    UT_SUCCESS(NtClose(c));
    UT_SUCCESS(NtClose(e));
    /* Without the event the child's open fails: it says so in its exit status. */
    c = start("set_event ut_child_sig");
    UT_EQ(end_of(c), STATUS_OBJECT_NAME_NOT_FOUND);
    UT_SUCCESS(NtClose(c));
}

UTEST(handles, a_process_handles_are_closed_when_it_ends)
{
    HANDLE c = start("hold_events 25 300");
    uint64_t pid = pid_of(c);
    for (int i = 0; i < 200 && handles_of(pid, NULL) < 25; i++)
        SleepMs(10);
    UT_EQ(handles_of(pid, NULL), 25);
    UT_EQ(end_of(c), 0);
    UT_EQ(handles_of(pid, NULL), 0);   /* the kernel closed them all */
    /* and our own handle to it is listed, with its type and access */
    size_t n;
    SYSTEM_HANDLE_T *l = handle_list(&n);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (l[i].ProcessId == CurrentProcessId() && l[i].Handle == c) {
            found = 1;
            UT_STREQ(l[i].TypeName, "Process");
            UT_EQ(l[i].GrantedAccess, PROCESS_ALL_ACCESS);
            UT_STREQ(l[i].Name, "child");
        }
    free(l);
    UT_ASSERT_MSG(found, "our handle %#llx to the child is not in SystemHandleList", (unsigned long long)c);
    UT_SUCCESS(NtClose(c));
}

UTEST(handles, the_table_is_bounded)
{
    static HANDLE h[MAX_HANDLES + 1];
    size_t mine = handles_of(CurrentProcessId(), NULL);
    size_t n = 0;
    NTSTATUS st;
    while (n <= MAX_HANDLES && NT_SUCCESS(st = create_event(&h[n], EVENT_ALL_ACCESS, NULL, 0, 0, 0)))
        n++;
    UT_STATUS(st, STATUS_INSUFFICIENT_RESOURCES);
    UT_EQ(n + mine, MAX_HANDLES);
    /* Full: a process cannot be created (its handle is refused first). */
    HANDLE p;
    UT_STATUS(NtCreateProcess("child", "child exit 0", &p), STATUS_INSUFFICIENT_RESOURCES);
    for (size_t i = 0; i < n; i++)
        UT_SUCCESS(NtClose(h[i]));
    UT_EQ(handles_of(CurrentProcessId(), NULL), mine);
}

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}
