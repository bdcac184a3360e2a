/*
 * kmain: where C begins. boot/boot.asm arrives here in 64-bit mode on the
 * boot stack, running at the higher-half address, with the multiboot2
 * magic and the physical address of GRUB's boot information.
 */
#include "kernel/ke/ki.h"
#include "kernel/kd/kd.h"
#include "kernel/hal/hal.h"
#include "kernel/ktest/ktest.h"
#include "kernel/hal/x86.h"
#include "mm/mi.h"
#include "kernel/ps/psp.h"
#include "io/io.h"
#include "kernel/ex/ex.h"

uint64_t KiBootTsc;

static void print_memory_map(void)
{
    static const char *const types[] = { "?", "available", "reserved", "ACPI reclaimable", "ACPI NVS", "bad" };
    kprintf("Physical memory map (from the boot loader):\n");
    for (uint32_t i = 0; i < KiBootInfo.range_count; i++) {
        const KI_MEMORY_RANGE *r = &KiBootInfo.ranges[i];
        kprintf("  0x%012llx - 0x%012llx  %8llu KiB  %s\n", (unsigned long long)r->base,
                (unsigned long long)(r->base + r->length - 1), (unsigned long long)(r->length >> 10),
                r->type < ARRAYSIZE(types) ? types[r->type] : "other");
    }
}

static void mask_legacy_pic(void)
{
    /* The 8259 PICs still deliver IRQs 0-15 on vectors 8-15 unless masked,
     * colliding with CPU exceptions; the APIC replaces them (issue 4). */
    outb(0x21, 0xFF);
    outb(0xA1, 0xFF);
}

/* Start the first user process, `init` (a GRUB module), with the boot
 * command line; wait for it. Under `utest=` its exit status is the verdict,
 * with KFAILED kernel tests that ran first (`ktest.then_init`) counted too. */
static void RunInit(int kfailed)
{
    PEPROCESS init;
    /* `ubench` (make bench) runs the user-mode benchmark instead of init. */
    const char *first = KeGetOption("ubench") ? "ubench" : "init";
    NTSTATUS s = PsCreateProcess(first, KiBootInfo.cmdline, NULL, &init);
    if (!NT_SUCCESS(s)) {
        kprintf("init: cannot start (%#x): is the init module in the ISO?\n", (unsigned)s);
        if (KeGetOption("utest"))
            HalQemuExit(QEMU_EXIT_FAIL);
        return;
    }
    KeWaitForSingleObject(init, Executive, KernelMode, FALSE, NULL);
    kprintf("init ended with status %#x\n", (unsigned)init->ExitStatus);
    if (KeGetOption("utest") || KeGetOption("ubench")) {
        BOOLEAN ok = init->ExitStatus == 0 && !kfailed && MiVerifyPfnDatabase(FALSE);
        HalQemuExit(ok ? QEMU_EXIT_PASS : QEMU_EXIT_FAIL);
    }
    PsDereferenceProcess(init);
}

/*
 * `ktest.serve`: boot once, then take the name of the test to run from the
 * serial line. The test runner stops the machine while the kernel waits
 * here, saves it inside QEMU (savevm) and, for every bugcheck test, rewinds
 * it to that moment (loadvm) and sends the test's name (scripts/ktest.py,
 * docs/testing.md "Bugcheck tests from a snapshot"): a bugcheck ends a
 * machine, so each of those tests needs a machine of its own, and the
 * saved one that has just booted is that machine, minus the boot. The line
 * is read by polling the UART (its receive interrupt is off); the boot
 * thread does nothing else until the name comes, so whenever the machine
 * is saved it is a system that has finished its start and run no test
 * yet. The test then runs exactly as `ktest=NAME` would have run it, and
 * one name is served per restore: nothing a test did is there for the next.
 */
static void ServeOneTest(void)
{
    static char name[128];
    ULONG n = 0;
    kprintf("[ktest] serve: waiting for a test name on the serial line\n");
    for (;;) {
        int c = HalSerialGetChar();
        if (c < 0) {
            cpu_pause();
            continue;
        }
        if (c == '\r' || c == '\n') {
            if (n)
                break;
        } else if (c > ' ' && c < 0x7F && n + 1 < sizeof(name)) {
            name[n++] = (char)c;
        }
    }
    name[n] = 0;
    KtRunTests(name);
}

void kmain(uint32_t magic, uint32_t info_phys)
{
    HalConsoleInit();
    KiBootTsc = rdtsc();
    kprintf("mdlos: kmain reached\n");   /* the runner times boot to this line */
    KeMarkBootPhase("firmware_and_loader");   /* the TSC counts from reset */

    KdRegisterStack((ULONG_PTR)boot_stack, (ULONG_PTR)boot_stack_top);
    KiInitializePrcb();   /* GS:0 -> this CPU's PRCB, before anything takes a spin lock */
    BOOLEAN info_ok = KiParseMultiboot(magic, info_phys);
    mask_legacy_pic();
    KiInitGdt();
    KiInitIdt();
    if (!info_ok)
        KeBugCheckRule(PHASE0_INITIALIZATION_FAILED, magic, info_phys, 0, 0,
                       "mdlos must be started by a multiboot2 (GRUB) or multiboot1 (QEMU -kernel) loader with a well-formed boot information block");
    KiDropIdentityMap();
    KiInitCommandLine(KiBootInfo.cmdline);

    kprintf("mdlos 0.1 for x86-64: the NT memory manager and I/O model, for teaching\n");
    kprintf("Loaded by %s; command line \"%s\"\n", KiBootInfo.loader[0] ? KiBootInfo.loader : "?",
            KiBootInfo.cmdline);
    kprintf("Kernel image %p-%p, boot stack %p-%p (guard page below)\n", __kernel_start, __kernel_end,
            boot_stack, boot_stack_top);
    print_memory_map();
    kprintf("%llu KiB available\n", (unsigned long long)(KiTotalAvailableMemory() >> 10));
    KeMarkBootPhase("early");
    MmInitSystem();
    MiPrintAddressMap();
    KeMarkBootPhase("mm.pools_and_check");
    KiTimerInitialize();
    KeMarkBootPhase("ke.clock_calibration");
    KiInitializeScheduler();
    KiInitializeInterrupts();
    KiInitializeProfile();   /* `prof=HZ`: from here on, the boot is sampled too */
    KiSchedulerReady = TRUE;
    ObInitSystem();   /* the namespace, before any object: processes, events, devices */
    PsInitialize();
    KeMarkBootPhase("ps.images");
    ExInitializeEventObjects();
    IoInitSystem();
    KeMarkBootPhase("io.rest");
    MmInitializePagingFiles();   /* `pagefile=`: needs the disk driver */
    KiInitializeSystemCalls();
    PsRegisterNtServices();
    KeMarkBootPhase("rest");
    kprintf("ke: scheduler and clock running (local APIC timer, 100 Hz; TSC %llu kHz)\n",
            (unsigned long long)HalTscPerMs());
    KiPrintBootPhases();
    if (KeOptionEnabled("gdbcheck"))
        MiGdbCheckpoint();

    if (KeOptionEnabled("ktest.serve"))
        ServeOneTest();
    const char *pattern = KeGetOption("ktest");
    int kfailed = 0;
    if (pattern)
        kfailed = KtRunTests(pattern[0] ? pattern : "*");   /* returns only under ktest.then_init */
    pattern = KeGetOption("bench");
    if (pattern)
        KtRunBenchmarks(pattern[0] ? pattern : "*");
    /* `kd` on the command line skips init, so `make run CMDLINE=kd` lands
     * in the kernel's own shell; without it, kd> is where the kernel goes
     * when init cannot start or ends. */
    if (!KeOptionEnabled("kd"))
        RunInit(kfailed);
    KdShell();
}
