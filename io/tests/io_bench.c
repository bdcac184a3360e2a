/*
 * I/O manager benchmarks (make bench): what an IRP costs to allocate and
 * free, and one request's fixed cost through a device that completes at
 * once, from kernel mode (IoBuildSynchronousFsdRequest + IoCallDriver +
 * stage 2 inline). The user-mode figures (NtReadFile on \Device\Null,
 * RAM-disk throughput, buffered versus direct) are in user/ubench.c.
 */
#include "io/tests/io_test_util.h"
#include "kernel/ktest/kt_internal.h"

KBENCH(io, irp_allocate_free)
{
    static const CCHAR sizes[] = { 1, 4 };
    char what[48];
    for (ULONG s = 0; s < ARRAYSIZE(sizes); s++) {
        enum { N = 500 };
        for (int i = 0; i < 20; i++)   /* warm-up */
            IoFreeIrp(IoAllocateIrp(sizes[s], FALSE));
        uint64_t t0 = rdtsc();
        for (int i = 0; i < N; i++)
            IoFreeIrp(IoAllocateIrp(sizes[s], FALSE));
        uint64_t t1 = rdtsc();
        ksnprintf(what, sizeof(what), "stack_%d_cycles", sizes[s]);
        KtBenchReport(what, (t1 - t0) / N, "cycles");
    }
}

KBENCH(io, kernel_request_to_a_device_that_completes_at_once)
{
    PDEVICE_OBJECT dev = IotCreateDevice(IotCompleteAtOnce, 0);
    if (!dev) {
        KtBenchReport("no_device", 0, "error");
        return;
    }
    enum { N = 300 };
    static UCHAR buf[64];
    uint64_t total = 0;
    for (int i = -20; i < N; i++) {
        KEVENT ev;
        IO_STATUS_BLOCK iosb;
        KeInitializeEvent(&ev, NotificationEvent, FALSE);
        uint64_t t0 = rdtsc();
        PIRP irp = IoBuildSynchronousFsdRequest(IRP_MJ_READ, dev, buf, sizeof(buf), NULL, &ev, &iosb);
        if (IoCallDriver(dev, irp) == STATUS_PENDING || KeReadStateEvent(&ev) == 0)
            KeWaitForSingleObject(&ev, Executive, KernelMode, FALSE, NULL);
        uint64_t t1 = rdtsc();
        if (i >= 0)
            total += t1 - t0;
    }
    KtBenchReport("cycles_per_request", total / N, "cycles");
    IotDeleteDevice(dev);
}
