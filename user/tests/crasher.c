/*
 * crasher CASE: does one bad thing, for user/tests/utest_fault.c. The
 * kernel must end the process with the NT status of the exception (the
 * parent reads it with NtQueryInformationProcess) and nothing else.
 * If the bad thing does not fault, crasher exits with CRASHER_SURVIVED;
 * an unknown CASE exits with CRASHER_UNKNOWN_CASE; a failed set-up step
 * (an allocation the case needs) exits with CRASHER_SETUP_FAILED.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "user/tests/crasher.h"

/* Hide a constant from the optimizer, so a NULL or kernel address is
 * really dereferenced (not folded into a trap or deleted). */
static inline uint64_t opaque(uint64_t v)
{
    __asm__ volatile("" : "+r"(v));
    return v;
}

static uint8_t read8(uint64_t address)
{
    return *(volatile uint8_t *)opaque(address);
}

static void write8(uint64_t address, uint8_t v)
{
    *(volatile uint8_t *)opaque(address) = v;
}

typedef int (*FN)(void);

static int call(uint64_t address)
{
    return ((FN)opaque(address))();
}

/* Code bytes for `mov eax, 42; ret`, in writable data. */
static uint8_t data_code[16] = { 0xB8, 42, 0, 0, 0, 0xC3 };
static const char rodata_string[64] = "crasher: a read-only string in .rodata";

static void *alloc(size_t size, uint32_t type, uint32_t protect)
{
    void *base = NULL;
    NTSTATUS st = NtAllocateVirtualMemory(NtCurrentProcess(), &base, 0, &size, type, protect);
    if (!NT_SUCCESS(st)) {
        printf("crasher: NtAllocateVirtualMemory failed: 0x%08x\n", (uint32_t)st);
        exit(CRASHER_SETUP_FAILED);
    }
    return base;
}

static void setup_check(NTSTATUS st, const char *what)
{
    if (!NT_SUCCESS(st)) {
        printf("crasher: %s failed: 0x%08x\n", what, (uint32_t)st);
        exit(CRASHER_SETUP_FAILED);
    }
}

static __attribute__((noinline)) uint64_t recurse(uint64_t depth, uint64_t limit)
{
    volatile uint8_t frame[4096];
    frame[4095] = (uint8_t)depth;   /* top first: pages are touched in order, as stack growth wants */
    frame[0] = (uint8_t)depth;
    if (depth >= limit)
        return frame[0];
    return recurse(depth + 1, limit) + frame[4095];
}


/* ---- CPU state a user program owns: RFLAGS bits, segments, modes ---- */

#define RFLAGS_TF (1ULL << 8)
#define RFLAGS_DF (1ULL << 10)
#define RFLAGS_NT (1ULL << 14)
#define RFLAGS_AC (1ULL << 18)
#define RFLAGS_ID (1ULL << 21)

/* Sets BITS in RFLAGS (POPF: ring 3 may change these; IOPL and IF it may
 * not, POPF leaves them alone) and makes system call NUMBER at once,
 * with no instruction in between; returns its status and the RFLAGS it
 * came back with. Flags a compiler-generated instruction could trip over
 * (DF, AC) are cleared again before any C code runs. */
static uint64_t flags_and_syscall(uint64_t bits, uint64_t number, uint64_t *after)
{
    uint64_t status, flags;
    __asm__ volatile("pushfq\n\t"
                     "orq %[bits], (%%rsp)\n\t"
                     "popfq\n\t"
                     "syscall\n\t"
                     "pushfq\n\t"
                     "popq %[flags]\n\t"
                     "pushfq\n\t"
                     "andq %[clear], (%%rsp)\n\t"
                     "popfq"
                     : "=a"(status), [flags] "=&r"(flags)
                     : "a"(number), [bits] "r"(bits), [clear] "r"(~(RFLAGS_DF | RFLAGS_AC | RFLAGS_NT))
                     : "rcx", "r11", "memory", "cc");
    *after = flags;
    return status;
}

/* The same, then a fault-raising instruction instead of a system call. */
#define FLAGS_THEN(bits, insn)                                                                   \
    __asm__ volatile("pushfq\n\t"                                                                \
                     "orq %0, (%%rsp)\n\t"                                                       \
                     "popfq\n\t" insn : : "r"((uint64_t)(bits)) : "memory", "cc")

/* Far-jumps into the 32-bit user code segment (0x1B, KGDT64_R3_CMCODE |
 * 3: WoW64's segment on NT) and runs INSN there. The code is in the
 * image, below 4 GiB, so EIP reaches it; DS is loaded with the user data
 * selector first (a null DS faults in compatibility mode). A far JMP
 * through memory, not a far RET: this QEMU pops a far return's stack with
 * supervisor accesses, which SMAP refuses (see "far_return"). */
#define IN_COMPAT_MODE(insn)                                                                     \
    do {                                                                                         \
        struct { uint32_t offset; uint16_t selector; } __attribute__((packed)) far_ptr;          \
        __asm__ volatile("movl $0x23, %%eax\n\t"                                                 \
                         "movw %%ax, %%ds\n\t"                                                   \
                         "leaq 1f(%%rip), %%rax\n\t"                                             \
                         "movl %%eax, %0\n\t"                                                    \
                         "movw $0x1B, 4+%0\n\t"                                                  \
                         "ljmpl *%0\n\t"                                                         \
                         ".code32\n"                                                            \
                         "1:\n\t" insn "\n\t"                                                    \
                         "ud2\n\t"                                                               \
                         ".code64" : "=m"(far_ptr) : "b"(bounds) : "rax", "rcx", "r11", "memory"); \
    } while (0)

static int32_t bounds[2] = { 10, 20 };   /* BOUND's [lower, upper] pair */

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: crasher CASE (see user/tests/crasher.h)\n");
        return CRASHER_UNKNOWN_CASE;
    }
    const char *c = argv[1];
    if (strcmp(c, "none") == 0) {
        return 0;
    } else if (strcmp(c, "null_read") == 0 || strcmp(c, "null") == 0) {
        read8(0);
    } else if (strcmp(c, "null_write") == 0) {
        write8(8, 1);
    } else if (strcmp(c, "null_call") == 0) {
        call(0);
    } else if (strcmp(c, "write_text") == 0) {
        write8((uint64_t)(uintptr_t)&main, 0xCC);
    } else if (strcmp(c, "write_rodata") == 0) {
        write8((uint64_t)(uintptr_t)rodata_string, 'X');
    } else if (strcmp(c, "write_readonly") == 0) {
        uint8_t *p = alloc(PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        p[0] = 1;   /* fine while it is read-write */
        void *base = p;
        size_t size = PAGE_SIZE;
        uint32_t old = 0;
        setup_check(NtProtectVirtualMemory(NtCurrentProcess(), &base, &size, PAGE_READONLY, &old),
                    "NtProtectVirtualMemory(PAGE_READONLY)");
        if (read8((uint64_t)(uintptr_t)p) != 1)
            exit(CRASHER_SETUP_FAILED);
        write8((uint64_t)(uintptr_t)p, 2);
    } else if (strcmp(c, "exec_data") == 0) {
        call((uint64_t)(uintptr_t)data_code);
    } else if (strcmp(c, "exec_stack") == 0) {
        uint8_t code[16];
        memcpy(code, data_code, sizeof(code));
        call((uint64_t)(uintptr_t)code);
    } else if (strcmp(c, "exec_heap") == 0) {
        uint8_t *p = alloc(PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        memcpy(p, data_code, sizeof(data_code));
        call((uint64_t)(uintptr_t)p);
    } else if (strcmp(c, "exec_readonly") == 0) {
        uint8_t *p = alloc(PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        memcpy(p, data_code, sizeof(data_code));
        void *base = p;
        size_t size = PAGE_SIZE;
        uint32_t old = 0;
        setup_check(NtProtectVirtualMemory(NtCurrentProcess(), &base, &size, PAGE_READONLY, &old),
                    "NtProtectVirtualMemory(PAGE_READONLY)");
        call((uint64_t)(uintptr_t)p);
    } else if (strcmp(c, "kernel_read") == 0) {
        read8(0xFFFFF80000000000ULL);
    } else if (strcmp(c, "kernel_image_read") == 0) {
        /* Mapped (the kernel image), but supervisor-only. */
        read8(CRASHER_KERNEL_IMAGE);
    } else if (strcmp(c, "kernel_write") == 0) {
        write8(CRASHER_KERNEL_IMAGE + 0x1000, 0);
    } else if (strcmp(c, "kernel_exec") == 0) {
        call(CRASHER_KERNEL_IMAGE);
    } else if (strcmp(c, "noncanonical_read") == 0) {
        read8(0x0000800000000000ULL);   /* #GP, not #PF: still an access violation */
    } else if (strcmp(c, "stack_overflow") == 0) {
        recurse(0, 1ULL << 40);
    } else if (strcmp(c, "read_reserved") == 0) {
        uint8_t *p = alloc(16 * PAGE_SIZE, MEM_RESERVE, PAGE_READWRITE);
        read8((uint64_t)(uintptr_t)p + 5 * PAGE_SIZE);
    } else if (strcmp(c, "read_decommitted") == 0) {
        uint8_t *p = alloc(4 * PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        p[PAGE_SIZE] = 1;
        void *base = p + PAGE_SIZE;
        size_t size = PAGE_SIZE;
        setup_check(NtFreeVirtualMemory(NtCurrentProcess(), &base, &size, MEM_DECOMMIT), "MEM_DECOMMIT");
        read8((uint64_t)(uintptr_t)p + PAGE_SIZE);
    } else if (strcmp(c, "read_released") == 0) {
        uint8_t *p = alloc(4 * PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        p[0] = 1;
        void *base = p;
        size_t size = 0;
        setup_check(NtFreeVirtualMemory(NtCurrentProcess(), &base, &size, MEM_RELEASE), "MEM_RELEASE");
        read8((uint64_t)(uintptr_t)p);
    } else if (strcmp(c, "read_noaccess") == 0) {
        uint8_t *p = alloc(PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS);
        read8((uint64_t)(uintptr_t)p);
    } else if (strcmp(c, "privileged_instruction") == 0) {
        __asm__ volatile("hlt");
    } else if (strcmp(c, "io_port") == 0) {
        __asm__ volatile("outb %%al, $0x80" : : "a"(0));
    } else if (strcmp(c, "illegal_instruction") == 0) {
        __asm__ volatile("ud2");
    } else if (strcmp(c, "divide_by_zero") == 0) {
        volatile uint64_t zero = opaque(0);
        volatile uint64_t r = 1000 / zero;
        (void)r;
    } else if (strcmp(c, "breakpoint") == 0) {
        __asm__ volatile("int3");
    } else if (strcmp(c, "nt_syscall") == 0) {
        /* NT (nested task) set at SYSCALL: unmasked, the kernel ran with
         * it and its IRETQ raised #GP - with the user GS loaded. */
        uint64_t after;
        setup_check((NTSTATUS)flags_and_syscall(RFLAGS_NT, SYS_NtYieldExecution, &after), "NtYieldExecution with NT set");
        return (int)CRASHER_SURVIVED;
    } else if (strcmp(c, "flags_syscall") == 0) {
        /* Every flag ring 3 can set, at once, then a service that copies
         * to user memory (AC would switch SMAP off, DF reverse the copy). */
        uint64_t after;
        setup_check((NTSTATUS)flags_and_syscall(RFLAGS_NT | RFLAGS_AC | RFLAGS_DF | RFLAGS_ID | 0xD5,
                                                SYS_NtYieldExecution, &after), "NtYieldExecution with every flag set");
        if (after & RFLAGS_NT)
            printf("crasher: NT still set after the system call (RFLAGS %#llx)\n", (unsigned long long)after);
        return (int)CRASHER_SURVIVED;
    } else if (strcmp(c, "nt_breakpoint") == 0) {
        FLAGS_THEN(RFLAGS_NT | RFLAGS_AC, "int3");
    } else if (strcmp(c, "nt_null_read") == 0) {
        FLAGS_THEN(RFLAGS_NT, "movb 0, %%al");
    } else if (strcmp(c, "single_step") == 0) {
        FLAGS_THEN(RFLAGS_TF, "nop\n\tnop");
    } else if (strcmp(c, "single_step_syscall") == 0) {
        /* TF set by POPF traps after the next instruction: the SYSCALL,
         * whose FMASK clears TF in the kernel; the trap comes in ring 3. */
        uint64_t after;
        flags_and_syscall(RFLAGS_TF, SYS_NtYieldExecution, &after);
    } else if (strcmp(c, "icebp") == 0) {
        __asm__ volatile(".byte 0xF1");   /* INT1: a #DB without any DPL check */
    } else if (strcmp(c, "int_overflow") == 0) {
        __asm__ volatile("int $4");       /* #OF's gate is DPL 3 (INTO is invalid in 64-bit mode) */
    } else if (strcmp(c, "int_timer") == 0) {
        __asm__ volatile("int $0x20");    /* an interrupt vector: DPL 0, so #GP */
    } else if (strcmp(c, "int_page_fault") == 0) {
        __asm__ volatile("int $14");      /* an exception vector without DPL 3: #GP */
    } else if (strcmp(c, "int_syscall_vector") == 0) {
        __asm__ volatile("int $0x2e");    /* NT's old system-call gate: not one here */
    } else if (strcmp(c, "misaligned_ac") == 0) {
        /* AC set with CR0.AM on: a misaligned access in ring 3 is #AC. */
        static uint8_t buf[16];
        uint64_t p = (uint64_t)(uintptr_t)&buf[1];
        __asm__ volatile("pushfq\n\t"
                         "orq %0, (%%rsp)\n\t"
                         "popfq\n\t"
                         "movl (%1), %%eax"
                         : : "r"(RFLAGS_AC), "r"(p) : "rax", "memory", "cc");
    } else if (strcmp(c, "x87_divide_by_zero") == 0) {
        /* An unmasked x87 exception: #MF at the next waiting instruction. */
        static uint16_t cw = 0x037B;   /* all masked but ZM (bit 2) */
        __asm__ volatile("fninit\n\tfldcw %0\n\tfld1\n\tfldz\n\tfdivrp\n\tfwait" : : "m"(cw));
    } else if (strcmp(c, "compat_syscall") == 0) {
        /* SYSCALL from compatibility mode: #UD on Intel, IA32_CSTAR on AMD
         * (and QEMU), which was 0 - ring 0 at address 0. */
        IN_COMPAT_MODE("syscall");
    } else if (strcmp(c, "compat_bound") == 0) {
        /* BOUND exists only outside 64-bit mode: #BR. */
        IN_COMPAT_MODE("movl $5, %%eax\n\t.byte 0x62, 0x03");   /* bound eax, [ebx]: 5 < 10 */
    } else if (strcmp(c, "compat_breakpoint") == 0) {
        IN_COMPAT_MODE("int3");
    } else if (strcmp(c, "sysenter") == 0) {
        /* IA32_SYSENTER_CS is 0: #GP on Intel (and QEMU), #UD on AMD in long mode. */
        __asm__ volatile("sysenter" : : : "rcx", "r11", "memory");
    } else if (strcmp(c, "far_return") == 0) {
        /* A far return to the same 64-bit code segment: fine on hardware;
         * this QEMU (TCG) pops its stack with supervisor accesses, which
         * SMAP refuses - a #PF from ring 3 without the U bit. */
        __asm__ volatile("leaq 1f(%%rip), %%rax\n\t"
                         "pushq $0x2B\n\t"
                         "pushq %%rax\n\t"
                         "lretq\n"
                         "1:" : : : "rax", "memory");
    } else if (strcmp(c, "exit") == 0) {
        return argc > 2 ? (int)strtoul(argv[2], NULL, 0) : 0;
    } else {
        printf("crasher: unknown case '%s'\n", c);
        return CRASHER_UNKNOWN_CASE;
    }
    return CRASHER_SURVIVED;
}
