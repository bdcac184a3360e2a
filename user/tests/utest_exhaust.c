/*
 * user.exhaust.*: running out, from ring 3. A process creates children
 * until the kernel refuses: the refusal is a status (its handle table is
 * full: STATUS_INSUFFICIENT_RESOURCES - the table is first filled with
 * events to a few slots short of its bound of 4096, so that the handles
 * and not memory run out), the refused call started nothing,
 * nobody was killed, and once the children are ended and closed
 * everything is given back and programs still run. (The system-wide
 * limits, memory for processes and pool, are kernel tests:
 * kernel/ps/tests/exhaust_test.c.)
 */
#include <nt.h>
#include <stdio.h>
#include <string.h>
#include <utest.h>

#define MAX_TRIES 256

static uint32_t count_processes(void)
{
    static SYSTEM_PROCESS_T list[64];
    size_t need = 0;
    UT_SUCCESS(NtQuerySystemInformation(SystemProcessList, list, sizeof(list), &need));
    return (uint32_t)(need / sizeof(SYSTEM_PROCESS_T));
}

static uint64_t nonpaged_pool(void)
{
    SYSTEM_MEMORY_T m;
    UT_SUCCESS(NtQuerySystemInformation(SystemMemoryInformation, &m, sizeof(m), NULL));
    return m.NonPagedPoolBytes;
}

UTEST_T(exhaust, create_processes_until_refused, 120)
{
    static HANDLE h[MAX_TRIES];
    uint32_t before = count_processes();
    uint64_t pool = nonpaged_pool();
    static HANDLE ev[4096];
    int events = 0;
    while (events < 4096 && NT_SUCCESS(NtCreateEvent(&ev[events], EVENT_ALL_ACCESS, NULL, 0, 0)))
        events++;
    UT_GT(events, 16);
    for (int i = 0; i < 8; i++)   /* room for eight children */
        UT_SUCCESS(NtClose(ev[--events]));
    int n = 0;
    NTSTATUS st = STATUS_SUCCESS;
    while (n < MAX_TRIES && NT_SUCCESS(st = NtCreateProcess("child", "child sleep 30000", &h[n])))
        n++;
    UT_ASSERT_MSG(n < MAX_TRIES, "%d processes created and no refusal", n);
    UT_STATUS(st, STATUS_INSUFFICIENT_RESOURCES);
    UT_EQ(n, 8);
    /* The refused call started nothing: exactly N more processes, all alive. */
    UT_EQ(count_processes(), before + n);
    for (int i = 0; i < n; i++) {
        NTSTATUS code;
        UT_SUCCESS(ProcessExitStatus(h[i], &code));
        UT_EQ(code, STATUS_PENDING);
    }
    /* End them all; each reports the status it was ended with. */
    for (int i = 0; i < n; i++)
        UT_SUCCESS(NtTerminateProcess(h[i], 0x1234));
    for (int i = 0; i < n; i++) {
        int64_t t = -10 * 10000000LL;
        UT_STATUS(NtWaitForSingleObject(h[i], 0, &t), STATUS_WAIT_0);
        NTSTATUS code;
        UT_SUCCESS(ProcessExitStatus(h[i], &code));
        UT_EQ(code, 0x1234);
        UT_SUCCESS(NtClose(h[i]));
    }
    UT_EQ(count_processes(), before);
    for (int i = 0; i < events; i++)
        UT_SUCCESS(NtClose(ev[i]));
    /* Everything given back: the EPROCESSes go with their last handle, the
     * threads' stacks when the next thread runs (give it a moment). */
    for (int i = 0; i < 100 && nonpaged_pool() != pool; i++)
        SleepMs(10);
    UT_EQ(nonpaged_pool(), pool);
    /* and the handle table is usable again, programs run */
    NTSTATUS code = 0;
    UT_SUCCESS(RunProcess("child", "child exit 5", 10000, &code));
    UT_EQ(code, 5);
}

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}
