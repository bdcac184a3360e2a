/*
 * user.proc.*: processes from ring 3. Creating, waiting, exit statuses,
 * termination, command lines, the process list, copy-on-write between two
 * processes of one image, and 200 processes created and gone. The helper
 * process is user/tests/child.c.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utest.h>
#include "user/tests/child.h"

#define SELF NtCurrentProcess()

/* Starts `child ARGS` (the command line names the program first, NT-style). */
static HANDLE start(const char *args)
{
    HANDLE h = 0;
    char line[256];
    snprintf(line, sizeof(line), "child %s", args);
    NTSTATUS st = NtCreateProcess("child", line, &h);
    UT_ASSERT_MSG(NT_SUCCESS(st), "NtCreateProcess(\"child\", \"%s\") failed: %s", line, UtStatusText(st));
    UT_NE(h, 0);
    return h;
}

static NTSTATUS wait_exit(HANDLE h, const char *args, uint64_t timeout_ms)
{
    int64_t timeout = -(int64_t)timeout_ms * 10000;
    NTSTATUS st = NtWaitForSingleObject(h, 0, &timeout);
    UT_ASSERT_MSG(st != STATUS_TIMEOUT, "child %s did not end within %llu ms", args, (unsigned long long)timeout_ms);
    UT_ASSERT_MSG(st == STATUS_WAIT_0, "NtWaitForSingleObject(child %s) returned %s", args, UtStatusText(st));
    NTSTATUS code = 0;
    UT_SUCCESS(ProcessExitStatus(h, &code));
    return code;
}

static PROCESS_BASIC_INFORMATION_T basic(HANDLE h)
{
    PROCESS_BASIC_INFORMATION_T info;
    size_t len = 0;
    memset(&info, 0, sizeof(info));
    UT_SUCCESS(NtQueryInformationProcess(h, ProcessBasicInformation, &info, sizeof(info), &len));
    return info;
}

/* The process list (malloc'ed; *COUNT entries). */
static SYSTEM_PROCESS_T *process_list(size_t *count)
{
    size_t size = 32 * sizeof(SYSTEM_PROCESS_T);
    for (int tries = 0; tries < 10; tries++) {
        SYSTEM_PROCESS_T *list = malloc(size);
        UT_ASSERT(list != NULL);
        size_t got = 0;
        NTSTATUS st = NtQuerySystemInformation(SystemProcessList, list, size, &got);
        if (NT_SUCCESS(st)) {
            UT_ASSERT_MSG(got % sizeof(SYSTEM_PROCESS_T) == 0 && got <= size,
                          "SystemProcessList returned %zu bytes, not a whole number of entries", got);
            *count = got / sizeof(SYSTEM_PROCESS_T);
            return list;
        }
        free(list);
        UT_ASSERT_MSG(st == STATUS_INFO_LENGTH_MISMATCH || st == STATUS_BUFFER_TOO_SMALL,
                      "NtQuerySystemInformation(SystemProcessList, %zu bytes) returned %s", size, UtStatusText(st));
        UT_ASSERT_MSG(got > size, "SystemProcessList: too small, but the needed length %zu is no larger than %zu",
                      got, size);
        size = got + 4 * sizeof(SYSTEM_PROCESS_T);
    }
    UT_FAIL("the process list kept growing");
}

static const SYSTEM_PROCESS_T *find_pid(const SYSTEM_PROCESS_T *list, size_t n, uint64_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].ProcessId == pid)
            return &list[i];
    return NULL;
}

UTEST(proc, exit_status_reaches_parent)
{
    static const uint32_t codes[] = { 0, 1, 0x1234, 0x7FFFFFFF, 0xC0000005, 0xFFFFFFFF };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char args[32];
        snprintf(args, sizeof(args), "exit %#x", codes[i]);
        HANDLE h = start(args);
        NTSTATUS code = wait_exit(h, args, 20000);
        UT_ASSERT_MSG((uint32_t)code == codes[i], "child %s: exit status %#x", args, (uint32_t)code);
        UT_SUCCESS(NtClose(h));
    }
}

UTEST(proc, basic_information)
{
    uint64_t me = CurrentProcessId();
    UT_NE(me, 0);
    PROCESS_BASIC_INFORMATION_T self = basic(SELF);
    UT_EQ(self.ExitStatus, STATUS_PENDING);
    HANDLE h = start("sleep 300");
    PROCESS_BASIC_INFORMATION_T child = basic(h);
    UT_EQ(child.ExitStatus, STATUS_PENDING);   /* still running */
    UT_NE(child.UniqueProcessId, 0);
    UT_NE(child.UniqueProcessId, me);
    UT_EQ(child.ParentProcessId, me);
    UT_EQ(wait_exit(h, "sleep 300", 20000), 0);
    PROCESS_BASIC_INFORMATION_T after = basic(h);   /* the handle keeps the process object */
    UT_EQ(after.UniqueProcessId, child.UniqueProcessId);
    UT_EQ(after.ExitStatus, 0);
    UT_SUCCESS(NtClose(h));
}

UTEST(proc, wait_times_out_on_a_running_process)
{
    HANDLE h = start("sleep 700 5");
    int64_t zero = 0;
    UT_STATUS(NtWaitForSingleObject(h, 0, &zero), STATUS_TIMEOUT);
    int64_t short_wait = -200 * 10000LL;   /* 200 ms */
    UT_STATUS(NtWaitForSingleObject(h, 0, &short_wait), STATUS_TIMEOUT);
    UT_EQ(basic(h).ExitStatus, STATUS_PENDING);
    UT_EQ(wait_exit(h, "sleep 700 5", 20000), 5);
    UT_STATUS(NtWaitForSingleObject(h, 0, &zero), STATUS_WAIT_0);   /* stays signaled */
    UT_SUCCESS(NtClose(h));
}

UTEST(proc, terminate_another_process)
{
    HANDLE h = start("sleep 60000");
    UT_SUCCESS(NtTerminateProcess(h, 0xDEAD));
    NTSTATUS code = wait_exit(h, "sleep 60000 (terminated)", 10000);
    UT_EQ((uint32_t)code, 0xDEAD);
    /* Terminating it again is harmless; the status stays the first one. */
    NtTerminateProcess(h, 0xBEEF);
    UT_EQ((uint32_t)basic(h).ExitStatus, 0xDEAD);
    UT_SUCCESS(NtClose(h));
}

UTEST(proc, command_line_reaches_child)
{
    static const char *const lines[] = { "cmdline_hash", "cmdline_hash a b c",
                                         "cmdline_hash   \"quoted words\"  tabs\tand spaces ",
                                         ("cmdline_hash 01234567890123456789012345678901234567890123456789012345"
                                          "67890123456789012345678901234567890123456789012345678901234567890123456789") };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char line[256];
        snprintf(line, sizeof(line), "child %s", lines[i]);
        HANDLE h = start(lines[i]);
        NTSTATUS code = wait_exit(h, lines[i], 20000);
        UT_ASSERT_MSG((uint32_t)code == child_hash(line),
                      "the child saw another command line than \"%s\" (hash %#x, expected %#x)", line,
                      (uint32_t)code, child_hash(line));
        NtClose(h);
    }
    /* argv: argv[0] is the image name, quotes group words. */
    HANDLE h = start("argc one \"two three\" four");
    UT_EQ(wait_exit(h, "argc ...", 20000), 5);
    NtClose(h);
}

UTEST(proc, process_list_shows_processes)
{
    uint64_t me = CurrentProcessId();
    HANDLE h = start("sleep 2000");
    uint64_t child = basic(h).UniqueProcessId;
    size_t n = 0;
    SYSTEM_PROCESS_T *list = process_list(&n);
    const SYSTEM_PROCESS_T *p = find_pid(list, n, me);
    UT_ASSERT_MSG(p != NULL, "our own pid %llu is not in the process list (%zu entries)", (unsigned long long)me, n);
    UT_STREQ(p->ImageName, "utest_proc");
    UT_GE(p->Threads, 1);
    UT_GT(p->WorkingSetSize, 0);
    const SYSTEM_PROCESS_T *c = find_pid(list, n, child);
    UT_ASSERT_MSG(c != NULL, "the child's pid %llu is not in the process list", (unsigned long long)child);
    UT_STREQ(c->ImageName, "child");
    UT_EQ(c->ParentId, me);
    int saw_init = 0;
    for (size_t i = 0; i < n; i++)
        saw_init |= strcmp(list[i].ImageName, "init") == 0;
    UT_ASSERT_MSG(saw_init, "init is not in the process list");
    free(list);
    NtTerminateProcess(h, 0);
    wait_exit(h, "sleep 2000", 10000);
    NtClose(h);
}

/* Once it has exited and its last handle is closed, a process is gone. */
UTEST(proc, exited_process_leaves_the_list)
{
    HANDLE h = start("exit 3");
    uint64_t pid = basic(h).UniqueProcessId;
    UT_EQ(wait_exit(h, "exit 3", 20000), 3);
    UT_SUCCESS(NtClose(h));
    for (int i = 0;; i++) {
        size_t n = 0;
        SYSTEM_PROCESS_T *list = process_list(&n);
        int there = find_pid(list, n, pid) != NULL;
        free(list);
        if (!there)
            break;
        UT_ASSERT_MSG(i < 40, "pid %llu is still in the process list 2 s after it exited and its handle was closed",
                      (unsigned long long)pid);
        SleepMs(50);
    }
    /* Closing the handle of a running process does not stop it; it goes
     * away by itself when it ends. */
    h = start("sleep 300");
    pid = basic(h).UniqueProcessId;
    UT_SUCCESS(NtClose(h));
    for (int i = 0;; i++) {
        size_t n = 0;
        SYSTEM_PROCESS_T *list = process_list(&n);
        int there = find_pid(list, n, pid) != NULL;
        free(list);
        if (!there)
            break;
        UT_ASSERT_MSG(i < 100, "pid %llu (no handle left) is still listed 5 s after it should have ended",
                      (unsigned long long)pid);
        SleepMs(50);
    }
}

UTEST(proc, several_processes_at_once)
{
    enum { N = 8 };
    HANDLE h[N];
    for (int i = 0; i < N; i++) {
        char args[32];
        snprintf(args, sizeof(args), "sleep %d %d", 100 + 50 * i, 10 + i);
        h[i] = start(args);
    }
    for (int i = N - 1; i >= 0; i--) {
        UT_EQ(wait_exit(h[i], "sleep ...", 30000), 10 + i);
        NtClose(h[i]);
    }
}

/* (d) Two processes of one image write the same global (in a data page of
 * the image, shared copy-on-write until written): each must see only its
 * own value, and a third one, started after, the image's original. */
UTEST(proc, copy_on_write_between_two_processes)
{
    HANDLE a = start("cow 0xAAAA 600");
    HANDLE b = start("cow 0xBBBB 600");
    NTSTATUS ca = wait_exit(a, "cow 0xAAAA 600", 30000), cb = wait_exit(b, "cow 0xBBBB 600", 30000);
    NtClose(a);
    NtClose(b);
    const char *why[] = { "", "bad usage",
                          ("the image's data page did not hold its initial value (another process's write leaked "
                           "into it)"),
                          ".bss was not zero",
                          "its value changed while it slept (the page is shared with the other process)" };
#define WHY(c) ((uint32_t)(c) >= CHILD_BAD_USAGE && (uint32_t)(c) <= CHILD_COW_CHANGED ? why[(c)-CHILD_BAD_USAGE + 1] : "")
    UT_ASSERT_MSG(ca == 0, "the first child ended with %s: %s", UtStatusText(ca), WHY(ca));
    UT_ASSERT_MSG(cb == 0, "the second child ended with %s: %s", UtStatusText(cb), WHY(cb));
    HANDLE c = start("cow 0xCCCC 0");
    NTSTATUS cc = wait_exit(c, "cow 0xCCCC 0", 30000);
    NtClose(c);
    UT_ASSERT_MSG(cc == 0, "a child started after the two ended with %s: %s", UtStatusText(cc), WHY(cc));
}

UTEST(proc, copy_on_write_fault_is_counted)
{
    HANDLE other = start("sleep 1000");   /* a second user of the image while the write happens */
    HANDLE h = start("cow_count");
    NTSTATUS code = wait_exit(h, "cow_count", 20000);
    NtClose(h);
    NtTerminateProcess(other, 0);
    wait_exit(other, "sleep 1000", 10000);
    NtClose(other);
    UT_ASSERT_MSG(code != CHILD_COW_NOT_COUNTED,
                  "writing a data page of the image did not raise CopyOnWriteFaults in ProcessFaultCounters");
    UT_ASSERT_MSG(code != CHILD_COW_NO_COUNTERS, "the child could not read its ProcessFaultCounters");
    UT_ASSERT_MSG(code == 0, "cow_count ended with %s", UtStatusText(code));
}

/* (g) 200 processes created and exited, one after another. */
UTEST_T(proc, two_hundred_processes, 300)
{
    size_t n0 = 0;
    free(process_list(&n0));
    for (int i = 0; i < 200; i++) {
        char args[32];
        snprintf(args, sizeof(args), "child exit %d", i);
        HANDLE h = 0;
        NTSTATUS st = NtCreateProcess("child", args, &h);
        UT_ASSERT_MSG(NT_SUCCESS(st), "process number %d could not be created: %s", i, UtStatusText(st));
        NTSTATUS code = wait_exit(h, args, 20000);
        UT_ASSERT_MSG(code == i, "process number %d ended with %s", i, UtStatusText(code));
        UT_SUCCESS(NtClose(h));
    }
    /* All of them gone again (allow the kernel a moment to reap). */
    for (int i = 0;; i++) {
        size_t n = 0;
        free(process_list(&n));
        if (n <= n0)
            break;
        UT_ASSERT_MSG(i < 40, "%zu processes listed after 200 came and went, %zu before", n, n0);
        SleepMs(50);
    }
    SYSTEM_MEMORY_T m;
    size_t len = 0;
    if (NT_SUCCESS(NtQuerySystemInformation(SystemMemoryInformation, &m, sizeof(m), &len)))
        printf("utest_proc: after 200 processes: %llu of %llu pages available\n",
               (unsigned long long)m.AvailablePages, (unsigned long long)m.PhysicalPages);
}

UTEST(proc, missing_image_is_refused)
{
    HANDLE h = 0x5555;
    NTSTATUS st = NtCreateProcess("no_such_program", "no_such_program", &h);
    UT_ASSERT_MSG(!NT_SUCCESS(st), "NtCreateProcess(\"no_such_program\") returned %s", UtStatusText(st));
    UT_ASSERT_MSG(st == STATUS_OBJECT_NAME_NOT_FOUND, "NtCreateProcess(\"no_such_program\") returned %s; NT says "
                  "STATUS_OBJECT_NAME_NOT_FOUND", UtStatusText(st));
}

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}
