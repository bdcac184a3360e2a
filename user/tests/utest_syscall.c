/*
 * user.syscall.*: the system-call boundary. Every pointer argument of every
 * system call is tried with NULL, a kernel address, a non-canonical address,
 * free (unmapped) user address space, a reserved-but-uncommitted page, a
 * PAGE_NOACCESS page, and - for what the kernel writes - a read-only page of
 * the image (.rodata and .text); pointer+length ranges that run past the end
 * of user space or wrap around are tried too. Each must return a failure
 * NTSTATUS (STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER, ...) and the
 * process must live on. Each test first makes one valid call, so a system
 * call that is simply missing fails here instead of passing by accident.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utest.h>
#include "user/tests/child.h"

#define P PAGE_SIZE
#define SELF NtCurrentProcess()
#define KERNEL_VA 0xFFFFF80000000000ULL
#define NONCANONICAL 0x0000800000000000ULL
#define WRAP_BASE 0x00007FFFFFFFF000ULL
#define WRAP_SIZE 0x0000100000000000ULL
#define BAD_HANDLE ((HANDLE)0x1234)

typedef struct {
    uint64_t address;
    const char *what;
} BADPTR;

/* A whole page of .rodata, so the kernel cannot write any of it. */
static const uint8_t ro_page[P] __attribute__((aligned(4096))) = { 1, 2, 3 };

static BADPTR bad[16];
static int n_in, n_out;   /* bad[0..n_in): bad to read; bad[0..n_out): bad to write */

static void *alloc(size_t size, uint32_t type, uint32_t protect)
{
    void *base = NULL;
    NTSTATUS st = NtAllocateVirtualMemory(SELF, &base, 0, &size, type, protect);
    UT_ASSERT_MSG(NT_SUCCESS(st), "set-up: NtAllocateVirtualMemory(type %#x, protect %#x) failed: %s", type, protect,
                  UtStatusText(st));
    return base;
}

static uint64_t find_free(void)
{
    uint64_t a = 0x100000000ULL;
    for (int i = 0; i < 1000; i++) {
        MEMORY_BASIC_INFORMATION_T m;
        size_t len = 0;
        if (!NT_SUCCESS(NtQueryVirtualMemory(SELF, (void *)a, MemoryBasicInformation, &m, sizeof(m), &len)))
            return a;   /* the vm suite reports a broken query; assume it is free */
        if (m.State == MEM_FREE && m.BaseAddress + m.RegionSize >= a + 0x10000)
            return a;
        a = (m.BaseAddress + m.RegionSize + 0xFFFF) & ~0xFFFFULL;
    }
    return 0x100000000ULL;
}

static void setup(void)
{
    int n = 0;
    bad[n++] = (BADPTR){ 0, "NULL" };
    bad[n++] = (BADPTR){ KERNEL_VA, "a kernel address" };
    bad[n++] = (BADPTR){ 0xFFFFFFFF80100000ULL, "the kernel image" };
    bad[n++] = (BADPTR){ NONCANONICAL, "a non-canonical address" };
    bad[n++] = (BADPTR){ find_free(), "an unmapped user address" };
    bad[n++] = (BADPTR){ (uintptr_t)alloc(16 * P, MEM_RESERVE, PAGE_READWRITE) + 4 * P, "a reserved, uncommitted page" };
    bad[n++] = (BADPTR){ (uintptr_t)alloc(P, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS), "a PAGE_NOACCESS page" };
    bad[n++] = (BADPTR){ MM_USER_PROBE_ADDRESS - 4, "a buffer running past the end of user space" };
    n_in = n;
    bad[n++] = (BADPTR){ (uintptr_t)ro_page, "a read-only .rodata page" };
    bad[n++] = (BADPTR){ (uintptr_t)&utest_main, "the program's code" };
    n_out = n;
}

/* NULL is allowed for optional pointers: skip it (it is bad[0]). */
#define FIRST_NON_NULL 1

static int implemented(NTSTATUS st)
{
    return st != STATUS_NOT_IMPLEMENTED && st != STATUS_INVALID_SYSTEM_SERVICE;
}

/* CALL, made with bad pointer B as WHAT, must fail. */
#define MUST_FAIL(call, arg_, bp_)                                                                                 \
    do {                                                                                                           \
        NTSTATUS s_ = (call);                                                                                      \
        BADPTR b_ = (bp_);                                                                                         \
        if (NT_SUCCESS(s_) || !implemented(s_))                                                                    \
            UT_FAIL("%s with %s = %s (%#llx) returned %s; expected a failure such as STATUS_ACCESS_VIOLATION", #call, \
                    arg_, b_.what, (unsigned long long)b_.address, UtStatusText(s_));                             \
    } while (0)

#define PTR(b) ((void *)(uintptr_t)(b).address)

/* ---- each system call with a pointer argument ---- */

UTEST(syscall, display_string_bad_pointers)
{
    setup();
    static const char ok[] = "utest_syscall: NtDisplayString works\n";
    UT_SUCCESS(NtDisplayString(ok, sizeof(ok) - 1));
    for (int i = 0; i < n_in; i++)
        MUST_FAIL(NtDisplayString(PTR(bad[i]), 16), "text", bad[i]);
    BADPTR wrap = { WRAP_BASE, "a range past the end of user space (length 2^44)" };
    MUST_FAIL(NtDisplayString(PTR(wrap), WRAP_SIZE), "text", wrap);
    BADPTR around = { (uintptr_t)ok, "a length that wraps around the address space" };
    MUST_FAIL(NtDisplayString(ok, ~0ULL - 0x100), "text", around);
}

UTEST(syscall, allocate_bad_pointers)
{
    setup();
    void *base = NULL;
    size_t size = P;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
    for (int i = 0; i < n_out; i++) {
        size = P;
        MUST_FAIL(NtAllocateVirtualMemory(SELF, PTR(bad[i]), 0, &size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE),
                  "base (in/out)", bad[i]);
        base = NULL;
        MUST_FAIL(NtAllocateVirtualMemory(SELF, &base, 0, PTR(bad[i]), MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE),
                  "size (in/out)", bad[i]);
    }
    base = (void *)WRAP_BASE;
    size = WRAP_SIZE;
    BADPTR wrap = { WRAP_BASE, "the range 0x7FFFFFFFF000 + 2^44" };
    MUST_FAIL(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_RESERVE, PAGE_READWRITE), "*base, *size", wrap);
    base = (void *)0x10000000;
    size = ~0ULL - 0x10000000 + 0x2000;
    BADPTR around = { 0x10000000, "a size that wraps around the address space" };
    MUST_FAIL(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_RESERVE, PAGE_READWRITE), "*base, *size", around);
    MUST_FAIL(NtAllocateVirtualMemory(BAD_HANDLE, &base, 0, &size, MEM_RESERVE, PAGE_READWRITE), "process",
              ((BADPTR){ 0x1234, "a handle that does not exist" }));
}

UTEST(syscall, free_bad_pointers)
{
    setup();
    void *live = alloc(4 * P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    for (int i = 0; i < n_out; i++) {
        size_t size = 0;
        MUST_FAIL(NtFreeVirtualMemory(SELF, PTR(bad[i]), &size, MEM_RELEASE), "base (in/out)", bad[i]);
        void *base = live;
        MUST_FAIL(NtFreeVirtualMemory(SELF, &base, PTR(bad[i]), MEM_RELEASE), "size (in/out)", bad[i]);
        /* Probed before anything is done: the region is still there. */
        MEMORY_BASIC_INFORMATION_T m;
        size_t len = 0;
        UT_SUCCESS(NtQueryVirtualMemory(SELF, live, MemoryBasicInformation, &m, sizeof(m), &len));
        UT_ASSERT_MSG(m.State == MEM_COMMIT, "a failed NtFreeVirtualMemory (size = %s) changed the region: State %#x",
                      bad[i].what, m.State);
    }
    void *base = (void *)WRAP_BASE;
    size_t size = WRAP_SIZE;
    BADPTR wrap = { WRAP_BASE, "the range 0x7FFFFFFFF000 + 2^44" };
    MUST_FAIL(NtFreeVirtualMemory(SELF, &base, &size, MEM_DECOMMIT), "*base, *size", wrap);
    base = live;
    size = ~0ULL - (uintptr_t)live + 0x2000;
    BADPTR around = { (uintptr_t)live, "a size that wraps around the address space" };
    MUST_FAIL(NtFreeVirtualMemory(SELF, &base, &size, MEM_DECOMMIT), "*base, *size", around);
    base = live;
    size = 0;
    UT_SUCCESS(NtFreeVirtualMemory(SELF, &base, &size, MEM_RELEASE));
}

UTEST(syscall, protect_bad_pointers)
{
    setup();
    void *live = alloc(P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    void *base = live;
    size_t size = P;
    uint32_t old = 0;
    UT_SUCCESS(NtProtectVirtualMemory(SELF, &base, &size, PAGE_READWRITE, &old));
    UT_EQ(old, PAGE_READWRITE);
    for (int i = 0; i < n_out; i++) {
        size = P;
        MUST_FAIL(NtProtectVirtualMemory(SELF, PTR(bad[i]), &size, PAGE_READONLY, &old), "base (in/out)", bad[i]);
        base = live;
        MUST_FAIL(NtProtectVirtualMemory(SELF, &base, PTR(bad[i]), PAGE_READONLY, &old), "size (in/out)", bad[i]);
        base = live;
        size = P;
        MUST_FAIL(NtProtectVirtualMemory(SELF, &base, &size, PAGE_READONLY, PTR(bad[i])), "old_protect", bad[i]);
        /* Probed before anything is done: still read-write. */
        MEMORY_BASIC_INFORMATION_T m;
        size_t len = 0;
        UT_SUCCESS(NtQueryVirtualMemory(SELF, live, MemoryBasicInformation, &m, sizeof(m), &len));
        UT_ASSERT_MSG(m.Protect == PAGE_READWRITE,
                      "a failed NtProtectVirtualMemory (old_protect = %s) changed the protection to %#x", bad[i].what,
                      m.Protect);
    }
    base = (void *)WRAP_BASE;
    size = WRAP_SIZE;
    BADPTR wrap = { WRAP_BASE, "the range 0x7FFFFFFFF000 + 2^44" };
    MUST_FAIL(NtProtectVirtualMemory(SELF, &base, &size, PAGE_READONLY, &old), "*base, *size", wrap);
    base = live;
    size = ~0ULL - (uintptr_t)live + 0x2000;
    BADPTR around = { (uintptr_t)live, "a size that wraps around the address space" };
    MUST_FAIL(NtProtectVirtualMemory(SELF, &base, &size, PAGE_READONLY, &old), "*base, *size", around);
    *(volatile uint8_t *)live = 1;   /* still writable */
}

UTEST(syscall, query_vm_bad_pointers)
{
    setup();
    MEMORY_BASIC_INFORMATION_T m;
    size_t len = 0;
    UT_SUCCESS(NtQueryVirtualMemory(SELF, &m, MemoryBasicInformation, &m, sizeof(m), &len));
    UT_EQ(len, sizeof(m));
    UT_SUCCESS(NtQueryVirtualMemory(SELF, &m, MemoryBasicInformation, &m, sizeof(m), NULL));   /* optional */
    for (int i = 0; i < n_out; i++) {
        MUST_FAIL(NtQueryVirtualMemory(SELF, &m, MemoryBasicInformation, PTR(bad[i]), sizeof(m), &len), "buffer",
                  bad[i]);
        if (i >= FIRST_NON_NULL)
            MUST_FAIL(NtQueryVirtualMemory(SELF, &m, MemoryBasicInformation, &m, sizeof(m), PTR(bad[i])),
                      "return_length", bad[i]);
    }
    /* The address asked about must be a user address. */
    BADPTR k = { KERNEL_VA, "a kernel address" }, nc = { NONCANONICAL, "a non-canonical address" },
           top = { MM_USER_PROBE_ADDRESS, "MmUserProbeAddress" };
    MUST_FAIL(NtQueryVirtualMemory(SELF, PTR(k), MemoryBasicInformation, &m, sizeof(m), &len), "address", k);
    MUST_FAIL(NtQueryVirtualMemory(SELF, PTR(nc), MemoryBasicInformation, &m, sizeof(m), &len), "address", nc);
    MUST_FAIL(NtQueryVirtualMemory(SELF, PTR(top), MemoryBasicInformation, &m, sizeof(m), &len), "address", top);
    BADPTR wrap = { WRAP_BASE, "a buffer of 2^44 bytes at 0x7FFFFFFFF000" };
    MUST_FAIL(NtQueryVirtualMemory(SELF, &m, MemoryBasicInformation, PTR(wrap), WRAP_SIZE, &len), "buffer", wrap);
    UT_FAILS(NtQueryVirtualMemory(SELF, &m, MemoryBasicInformation, &m, 8, &len));   /* too short */
    UT_FAILS(NtQueryVirtualMemory(SELF, &m, 99, &m, sizeof(m), &len));               /* no such class */
    UT_FAILS(NtQueryVirtualMemory(BAD_HANDLE, &m, MemoryBasicInformation, &m, sizeof(m), &len));
}

/* A NUL-less image name that runs into a reserved page. */
static const char *unterminated_string(void)
{
    uint8_t *p = alloc(2 * P, MEM_RESERVE, PAGE_READWRITE);
    void *base = p;
    size_t size = P;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT, PAGE_READWRITE));
    memset(p, 'c', P);   /* "cccc...": no NUL before the page ends */
    return (const char *)p + P - 5;
}

UTEST(syscall, create_process_bad_pointers)
{
    setup();
    HANDLE h = 0;
    NTSTATUS code = -1;
    UT_SUCCESS(NtCreateProcess("child", "child exit 7", &h));
    UT_SUCCESS(NtWaitForSingleObject(h, 0, NULL));
    UT_SUCCESS(ProcessExitStatus(h, &code));
    UT_EQ(code, 7);
    UT_SUCCESS(NtClose(h));
    for (int i = 0; i < n_in; i++)
        MUST_FAIL(NtCreateProcess(PTR(bad[i]), "child exit 0", &h), "image", bad[i]);
    for (int i = FIRST_NON_NULL; i < n_in; i++)
        MUST_FAIL(NtCreateProcess("child", PTR(bad[i]), &h), "command_line", bad[i]);
    for (int i = 0; i < n_out; i++)
        MUST_FAIL(NtCreateProcess("child", "child exit 0", PTR(bad[i])), "process (the handle out)", bad[i]);
    BADPTR un = { (uintptr_t)unterminated_string(), "a string without NUL running into a reserved page" };
    MUST_FAIL(NtCreateProcess(PTR(un), "", &h), "image", un);
    MUST_FAIL(NtCreateProcess("child", PTR(un), &h), "command_line", un);
    UT_FAILS(NtCreateProcess("no_such_program", "", &h));
    UT_FAILS(NtCreateProcess("", "", &h));
    char longname[300];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    UT_FAILS(NtCreateProcess(longname, "", &h));
}

UTEST(syscall, wait_and_close_bad_arguments)
{
    setup();
    HANDLE h = 0;
    UT_SUCCESS(NtCreateProcess("child", "child exit 0", &h));
    UT_SUCCESS(NtWaitForSingleObject(h, 0, NULL));
    int64_t zero = 0;
    UT_SUCCESS(NtWaitForSingleObject(h, 0, &zero));   /* signaled: returns at once */
    for (int i = FIRST_NON_NULL; i < n_in; i++)
        MUST_FAIL(NtWaitForSingleObject(h, 0, PTR(bad[i])), "timeout", bad[i]);
    static const HANDLE bad_handles[] = { 0, 0x1234, 0xFFFFFFFF00000004ULL, 0x7FFFFFFFFFFFFFFFULL };
    for (size_t i = 0; i < sizeof(bad_handles) / sizeof(bad_handles[0]); i++) {
        NTSTATUS st = NtWaitForSingleObject(bad_handles[i], 0, &zero);
        UT_ASSERT_MSG(!NT_SUCCESS(st) && st != STATUS_TIMEOUT, "NtWaitForSingleObject(handle %#llx) returned %s",
                      (unsigned long long)bad_handles[i], UtStatusText(st));
        st = NtClose(bad_handles[i]);
        UT_ASSERT_MSG(!NT_SUCCESS(st), "NtClose(handle %#llx) returned %s", (unsigned long long)bad_handles[i],
                      UtStatusText(st));
    }
    UT_SUCCESS(NtClose(h));
    UT_STATUS(NtClose(h), STATUS_INVALID_HANDLE);   /* closed twice */
    UT_FAILS(NtWaitForSingleObject(h, 0, &zero));     /* a closed handle */
}

UTEST(syscall, query_process_bad_pointers)
{
    setup();
    PROCESS_BASIC_INFORMATION_T info;
    size_t len = 0;
    UT_SUCCESS(NtQueryInformationProcess(SELF, ProcessBasicInformation, &info, sizeof(info), &len));
    UT_EQ(len, sizeof(info));
    UT_SUCCESS(NtQueryInformationProcess(SELF, ProcessBasicInformation, &info, sizeof(info), NULL));   /* optional */
    for (int i = 0; i < n_out; i++) {
        MUST_FAIL(NtQueryInformationProcess(SELF, ProcessBasicInformation, PTR(bad[i]), sizeof(info), &len), "buffer",
                  bad[i]);
        MUST_FAIL(NtQueryInformationProcess(SELF, ProcessFaultCounters, PTR(bad[i]), sizeof(PROCESS_FAULT_COUNTERS_T),
                                            &len), "buffer", bad[i]);
        if (i >= FIRST_NON_NULL)
            MUST_FAIL(NtQueryInformationProcess(SELF, ProcessBasicInformation, &info, sizeof(info), PTR(bad[i])),
                      "return_length", bad[i]);
    }
    BADPTR wrap = { WRAP_BASE, "a buffer of 2^44 bytes at 0x7FFFFFFFF000" };
    MUST_FAIL(NtQueryInformationProcess(SELF, ProcessBasicInformation, PTR(wrap), WRAP_SIZE, &len), "buffer", wrap);
    UT_FAILS(NtQueryInformationProcess(SELF, ProcessBasicInformation, &info, sizeof(info) - 1, &len));
    UT_FAILS(NtQueryInformationProcess(SELF, 0x7777, &info, sizeof(info), &len));
    UT_FAILS(NtQueryInformationProcess(BAD_HANDLE, ProcessBasicInformation, &info, sizeof(info), &len));
}

UTEST(syscall, delay_bad_pointers)
{
    setup();
    int64_t interval = -1000;   /* 100 us, relative */
    UT_SUCCESS(NtDelayExecution(0, &interval));
    for (int i = 0; i < n_in; i++)
        MUST_FAIL(NtDelayExecution(0, PTR(bad[i])), "interval", bad[i]);
    UT_SUCCESS(NtYieldExecution());
}

/* No valid call here: it would wait for a line on the console. A kernel that
 * blocks before checking the pointers hangs this test (its time limit ends it). */
UTEST_T(syscall, read_console_bad_pointers, 20)
{
    setup();
    char buf[64];
    size_t got = 0;
    for (int i = 0; i < n_out; i++) {
        MUST_FAIL(NtReadConsole(PTR(bad[i]), sizeof(buf), &got), "buffer", bad[i]);
        MUST_FAIL(NtReadConsole(buf, sizeof(buf), PTR(bad[i])), "read", bad[i]);
    }
    BADPTR wrap = { WRAP_BASE, "a buffer of 2^44 bytes at 0x7FFFFFFFF000" };
    MUST_FAIL(NtReadConsole(PTR(wrap), WRAP_SIZE, &got), "buffer", wrap);
}

UTEST(syscall, query_system_bad_pointers)
{
    setup();
    SYSTEM_MEMORY_T m;
    size_t len = 0;
    UT_SUCCESS(NtQuerySystemInformation(SystemMemoryInformation, &m, sizeof(m), &len));
    UT_EQ(len, sizeof(m));
    UT_GT(m.PhysicalPages, 0);
    UT_LE(m.AvailablePages, m.PhysicalPages);
    for (int i = 0; i < n_out; i++) {
        MUST_FAIL(NtQuerySystemInformation(SystemMemoryInformation, PTR(bad[i]), sizeof(m), &len), "buffer", bad[i]);
        MUST_FAIL(NtQuerySystemInformation(SystemProcessList, PTR(bad[i]), 64 * sizeof(SYSTEM_PROCESS_T), &len),
                  "buffer", bad[i]);
        if (i >= FIRST_NON_NULL)
            MUST_FAIL(NtQuerySystemInformation(SystemMemoryInformation, &m, sizeof(m), PTR(bad[i])), "return_length",
                      bad[i]);
    }
    BADPTR wrap = { WRAP_BASE, "a buffer of 2^44 bytes at 0x7FFFFFFFF000" };
    MUST_FAIL(NtQuerySystemInformation(SystemMemoryInformation, PTR(wrap), WRAP_SIZE, &len), "buffer", wrap);
    UT_FAILS(NtQuerySystemInformation(SystemMemoryInformation, &m, sizeof(m) - 8, &len));
    UT_FAILS(NtQuerySystemInformation(0x7777, &m, sizeof(m), &len));
}

UTEST(syscall, get_command_line_bad_pointers)
{
    setup();
    char buf[256];
    size_t needed = 0;
    UT_SUCCESS(NtGetCommandLine(buf, sizeof(buf), &needed));
    for (int i = 0; i < n_out; i++) {
        MUST_FAIL(NtGetCommandLine(PTR(bad[i]), sizeof(buf), &needed), "buffer", bad[i]);
        if (i >= FIRST_NON_NULL)
            MUST_FAIL(NtGetCommandLine(buf, sizeof(buf), PTR(bad[i])), "needed", bad[i]);
    }
    BADPTR wrap = { WRAP_BASE, "a buffer of 2^44 bytes at 0x7FFFFFFFF000" };
    MUST_FAIL(NtGetCommandLine(PTR(wrap), WRAP_SIZE, &needed), "buffer", wrap);
}

/* ---- semantics of the mdlos-specific and process calls ---- */

UTEST(syscall, get_command_line_semantics)
{
    /* This process was started with "utest_syscall utest.one=user.syscall.get_command_line_semantics". */
    char want[128], buf[128];
    snprintf(want, sizeof(want), "%s utest.one=%s", __progname, UtCurrentTest());
    size_t needed = 0;
    memset(buf, 'Z', sizeof(buf));
    UT_SUCCESS(NtGetCommandLine(buf, sizeof(buf), &needed));
    UT_STREQ(buf, want);
    UT_EQ(needed, strlen(want) + 1);   /* the length with its NUL */
    /* Too small: a failure, nothing useful copied, and the size it needs. */
    needed = 0;
    NTSTATUS st = NtGetCommandLine(buf, 4, &needed);
    UT_ASSERT_MSG(!NT_SUCCESS(st), "NtGetCommandLine into 4 bytes returned %s; expected STATUS_BUFFER_TOO_SMALL",
                  UtStatusText(st));
    UT_EQ(needed, strlen(want) + 1);
    /* Exactly large enough works. */
    memset(buf, 'Z', sizeof(buf));
    UT_SUCCESS(NtGetCommandLine(buf, strlen(want) + 1, &needed));
    UT_STREQ(buf, want);
}

UTEST(syscall, query_own_process)
{
    PROCESS_BASIC_INFORMATION_T info;
    size_t len = 0;
    memset(&info, 0xCC, sizeof(info));
    UT_SUCCESS(NtQueryInformationProcess(SELF, ProcessBasicInformation, &info, sizeof(info), &len));
    UT_EQ(info.ExitStatus, STATUS_PENDING);   /* running */
    UT_NE(info.UniqueProcessId, 0);
    UT_NE(info.ParentProcessId, info.UniqueProcessId);
    PROCESS_FAULT_COUNTERS_T c;
    UT_SUCCESS(NtQueryInformationProcess(SELF, ProcessFaultCounters, &c, sizeof(c), &len));
    UT_EQ(len, sizeof(c));
    UT_GT(c.WorkingSetSize, 0);
    UT_GE(c.PeakWorkingSetSize, c.WorkingSetSize);
    UT_GT(c.PrivatePages, 0);   /* at least the stack */
}

UTEST(syscall, terminate_bad_handle_returns)
{
    UT_FAILS(NtTerminateProcess(BAD_HANDLE, 0x77));
    UT_FAILS(NtTerminateProcess(0, 0x77));
    /* ...and this process is still here to say so. */
}

UTEST(syscall, invalid_numbers_fail)
{
    static const uint64_t numbers[] = { SYS_COUNT, SYS_COUNT + 1, 0x1000, 0x7FFFFFFF, 0xFFFFFFFF };
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        NTSTATUS st = (NTSTATUS)NtSystemCall6(numbers[i], 1, 2, 3, 4, 5, 6);
        UT_ASSERT_MSG(!NT_SUCCESS(st), "system call number %#llx returned %s; expected STATUS_INVALID_SYSTEM_SERVICE",
                      (unsigned long long)numbers[i], UtStatusText(st));
    }
}

/* regs_check(out, number): loads a known value into every register the
 * convention preserves, makes system call NUMBER, and stores the registers
 * (and RAX) into OUT[0..12]. */
uint64_t regs_check(uint64_t *out, uint64_t number);
__asm__(".text\n"
        ".globl regs_check\n"
        ".type regs_check, @function\n"
        "regs_check:\n"
        "    push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
        "    push %rdi\n"
        "    mov %rsi, %rax\n"
        "    movabs $0x1111111111111101, %rbx\n"
        "    movabs $0x2222222222222202, %rbp\n"
        "    movabs $0x3333333333333303, %r12\n"
        "    movabs $0x4444444444444404, %r13\n"
        "    movabs $0x5555555555555505, %r14\n"
        "    movabs $0x6666666666666606, %r15\n"
        "    movabs $0x7777777777777707, %rdi\n"
        "    movabs $0x8888888888888808, %rsi\n"
        "    movabs $0x9999999999999909, %rdx\n"
        "    movabs $0xAAAAAAAAAAAAAA0A, %r8\n"
        "    movabs $0xBBBBBBBBBBBBBB0B, %r9\n"
        "    movabs $0xCCCCCCCCCCCCCC0C, %r10\n"
        "    syscall\n"
        "    push %rax\n"
        "    mov 8(%rsp), %rax\n"
        "    mov %rbx, 0(%rax)\n mov %rbp, 8(%rax)\n mov %r12, 16(%rax)\n mov %r13, 24(%rax)\n"
        "    mov %r14, 32(%rax)\n mov %r15, 40(%rax)\n mov %rdi, 48(%rax)\n mov %rsi, 56(%rax)\n"
        "    mov %rdx, 64(%rax)\n mov %r8, 72(%rax)\n mov %r9, 80(%rax)\n mov %r10, 88(%rax)\n"
        "    pop %rcx\n mov %rcx, 96(%rax)\n"
        "    pop %rdi\n"
        "    pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
        "    mov 96(%rdi), %rax\n"
        "    ret\n"
        ".size regs_check, . - regs_check\n");

UTEST(syscall, registers_preserved)
{
    static const char *const names[] = { "rbx", "rbp", "r12", "r13", "r14", "r15", "rdi", "rsi", "rdx", "r8", "r9",
                                         "r10" };
    static const uint64_t want[] = { 0x1111111111111101, 0x2222222222222202, 0x3333333333333303,
                                     0x4444444444444404, 0x5555555555555505, 0x6666666666666606,
                                     0x7777777777777707, 0x8888888888888808, 0x9999999999999909,
                                     0xAAAAAAAAAAAAAA0A, 0xBBBBBBBBBBBBBB0B, 0xCCCCCCCCCCCCCC0C };
    uint64_t out[13];
    uint64_t numbers[] = { SYS_NtYieldExecution, SYS_COUNT + 5 };   /* a real call, and the error path */
    for (size_t n = 0; n < 2; n++) {
        memset(out, 0, sizeof(out));
        regs_check(out, numbers[n]);
        for (int i = 0; i < 12; i++)
            UT_ASSERT_MSG(out[i] == want[i], "system call %llu changed %s: %#llx, was %#llx",
                          (unsigned long long)numbers[n], names[i], (unsigned long long)out[i],
                          (unsigned long long)want[i]);
    }
    UT_ASSERT_MSG(!NT_SUCCESS((NTSTATUS)out[12]), "system call %#llx returned %s", (unsigned long long)numbers[1],
                  UtStatusText((NTSTATUS)out[12]));
}

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}

/* The kernel's sampling profiler from ring 3 (NtSetSystemInformation's
 * SystemProfileControl, SystemProfileInformation): a spin in user mode is
 * counted as user samples, stopped it counts nothing more, and a bad
 * command or length changes nothing. */
static NTSTATUS profile_command(uint32_t c)
{
    return NtSetSystemInformation(SystemProfileControl, &c, sizeof(c));
}

UTEST(syscall, profiler_counts_ring_3)
{
    SYSTEM_PROFILE_T p;
    size_t len = 0;
    UT_SUCCESS(NtQuerySystemInformation(SystemProfileInformation, &p, sizeof(p), NULL));
    uint32_t was_running = p.Running;   /* a prof= boot: left running, as found */
    UT_SUCCESS(profile_command(PROFILE_STOP));
    UT_SUCCESS(profile_command(PROFILE_CLEAR));
    UT_SUCCESS(NtQuerySystemInformation(SystemProfileInformation, &p, sizeof(p), &len));
    UT_EQ(len, sizeof(p));
    UT_EQ(p.Running, 0);
    UT_EQ(p.Samples, 0);
    UT_SUCCESS(profile_command(PROFILE_START));
    /* 150 ms of TSC time in ring 3 (the interrupt time says how long). */
    SYSTEM_INTERRUPT_TIME_T t0, t1;
    UT_SUCCESS(NtQuerySystemInformation(SystemInterruptTime, &t0, sizeof(t0), NULL));
    do {
        for (int i = 0; i < 10000; i++)
            __asm__ volatile("" ::: "memory");
        NtQuerySystemInformation(SystemInterruptTime, &t1, sizeof(t1), NULL);
    } while (t1.InterruptTime - t0.InterruptTime < 150 * 10000);
    UT_SUCCESS(profile_command(PROFILE_STOP));
    UT_SUCCESS(NtQuerySystemInformation(SystemProfileInformation, &p, sizeof(p), NULL));
    UT_EQ(p.Running, 0);
    UT_GE(p.Hz, 20);
    UT_GE(p.Samples, 10);          /* 150 at the default 1000 Hz, fewer on a loaded host */
    UT_EQ(p.Samples, p.User + p.Idle + p.Kernel);
    UT_GE(p.User * 100, p.Samples * 70);   /* the loop is ring 3 but for one query in 10000 iterations */
    SYSTEM_PROFILE_T q;
    UT_SUCCESS(NtQuerySystemInformation(SystemProfileInformation, &q, sizeof(q), NULL));
    UT_EQ(q.Samples, p.Samples);   /* stopped: nothing more */
    UT_STATUS(profile_command(0), STATUS_INVALID_PARAMETER);
    UT_STATUS(profile_command(PROFILE_REPORT + 1), STATUS_INVALID_PARAMETER);
    uint32_t c = PROFILE_START;
    UT_STATUS(NtSetSystemInformation(SystemProfileControl, &c, 3), STATUS_INFO_LENGTH_MISMATCH);
    UT_STATUS(NtSetSystemInformation(SystemMemoryInformation, &c, 4), STATUS_INVALID_INFO_CLASS);
    UT_STATUS(NtQuerySystemInformation(SystemProfileInformation, &q, sizeof(q) - 8, NULL), STATUS_INFO_LENGTH_MISMATCH);
    UT_SUCCESS(NtQuerySystemInformation(SystemProfileInformation, &q, sizeof(q), NULL));
    UT_EQ(q.Running, 0);           /* none of them started it */
    UT_SUCCESS(profile_command(PROFILE_CLEAR));
    if (was_running)
        UT_SUCCESS(profile_command(PROFILE_START));
}
