/*
 * The I/O test devices from kernel mode: each transfer method as the
 * driver sees it, one IOCTL per method, and pend mode - completion from a
 * timer DPC, held IRPs released, cancelled before dispatch, while held,
 * racing the release, and cancelled by IRP_MJ_CLEANUP.
 */
#include "drivers/tests/drv_test_util.h"
#include "drivers/iotest/iotest_ioctl.h"

static const PCSTR names[3] = { "\\Device\\IoTestBuffered", "\\Device\\IoTestDirect", "\\Device\\IoTestNeither" };

static IOT_LAST_REQUEST last_request(PDEVICE_OBJECT dev)
{
    IOT_LAST_REQUEST r;
    ULONG_PTR info;
    KT_ST(DrvtIoctl(dev, NULL, IOCTL_IOTEST_LAST_REQUEST, NULL, 0, &r, sizeof(r), &info), STATUS_SUCCESS);
    KT_EQ(info, sizeof(r));
    return r;
}

static IOT_PEND_STATS pend_stats(PDEVICE_OBJECT dev)
{
    IOT_PEND_STATS st;
    ULONG_PTR info;
    KT_ST(DrvtIoctl(dev, NULL, IOCTL_IOTEST_PEND_STATS, NULL, 0, &st, sizeof(st), &info), STATUS_SUCCESS);
    return st;
}

static void set_pend(PDEVICE_OBJECT dev, PFILE_OBJECT fo, ULONG mode, ULONG ms)
{
    IOT_PEND p = { mode, ms };
    KT_ST(DrvtIoctl(dev, fo, IOCTL_IOTEST_SET_PEND, &p, sizeof(p), NULL, 0, NULL), STATUS_SUCCESS);
}

KTEST(iotest, reads_and_writes_at_any_offset_by_each_method)
{
    PUCHAR out = ExAllocatePoolWithTag(NonPagedPoolNx, 3 * PAGE_SIZE, DRVT_TAG);
    PUCHAR in = ExAllocatePoolWithTag(NonPagedPoolNx, 3 * PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(out && in);
    for (int k = 0; k < 3; k++) {
        PFILE_OBJECT fo;
        PDEVICE_OBJECT dev;
        DrvtOpen(names[k], &fo, &dev);
        ULONG_PTR info;
        PUCHAR src = out + 333, dst = in + 4000;   /* across page boundaries */
        DrvtFill(src, 5000, k);
        memset(dst, 0, 5000);
        KT_ST(DrvtReadWrite(dev, fo, IRP_MJ_WRITE, src, 5000, 777, &info), STATUS_SUCCESS);
        KT_EQ(info, 5000);
        KT_ST(DrvtReadWrite(dev, fo, IRP_MJ_READ, dst, 5000, 777, &info), STATUS_SUCCESS);
        KT_EQ(info, 5000);
        KT_ASSERT(DrvtCheck(dst, 5000, k));
        IOT_LAST_REQUEST r = last_request(dev);
        KT_EQ(r.MajorFunction, IRP_MJ_READ);
        KT_EQ(r.RequestorMode, KernelMode);
        KT_EQ(r.Length, 5000);
        KT_EQ(r.UserBuffer, k == 1 ? 0 : (uint64_t)dst);   /* direct: IoBuild leaves it unset */
        if (k == 0) {
            KT_EQ(r.HadMdl, 0);
            KT_NE(r.SystemBuffer, 0);
            KT_NE(r.SystemBuffer, (uint64_t)dst);          /* a copy */
        } else if (k == 1) {
            /* The buffer was locked for the read: its frames had one more
             * reference at dispatch than now, after completion. */
            KT_EQ(r.HadMdl, 1);
            KT_EQ(r.SystemBuffer, 0);
            KT_ASSERT(r.MdlFlags & MDL_PAGES_LOCKED);
            KT_EQ(r.MdlByteCount, 5000);
            KT_EQ(r.MdlByteOffset, BYTE_OFFSET(dst));
            KT_EQ(r.MdlVirtualAddress, (uint64_t)dst);
            KT_EQ(r.PfnCount, ADDRESS_AND_SIZE_TO_SPAN_PAGES(dst, 5000));
            for (ULONG i = 0; i < r.PfnCount; i++) {
                KT_EQ(r.Pfn[i], MmGetPhysicalAddress(dst + i * PAGE_SIZE).QuadPart >> PAGE_SHIFT);
                KT_EQ(r.RefsAtDispatch[i], r.RefsNow[i] + 1);
            }
        } else {
            KT_EQ(r.HadMdl, 0);
            KT_EQ(r.SystemBuffer, 0);
        }
        /* Cut at the end of the store; past it, end of file (disk full). */
        KT_ST(DrvtReadWrite(dev, fo, IRP_MJ_READ, dst, 1000, IOT_STORE_SIZE - 300, &info), STATUS_SUCCESS);
        KT_EQ(info, 300);
        KT_ST(DrvtReadWrite(dev, fo, IRP_MJ_READ, dst, 1000, IOT_STORE_SIZE, &info), STATUS_END_OF_FILE);
        KT_ST(DrvtReadWrite(dev, fo, IRP_MJ_WRITE, src, 10, IOT_STORE_SIZE, &info), STATUS_DISK_FULL);
        KT_ST(DrvtReadWrite(dev, fo, IRP_MJ_READ, dst, 0, 5, &info), STATUS_SUCCESS);
        ObDereferenceObject(fo);
    }
    ExFreePoolWithTag(out, DRVT_TAG);
    ExFreePoolWithTag(in, DRVT_TAG);
}

KTEST(iotest, one_ioctl_per_method)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT dev;
    DrvtOpen("\\Device\\IoTestNeither", &fo, &dev);
    UCHAR a[600], b[600];
    ULONG_PTR info;
    DrvtFill(a, sizeof(a), 3);
    /* METHOD_BUFFERED: echo + 1 through the system buffer. */
    memset(b, 0, sizeof(b));
    KT_ST(DrvtIoctl(dev, fo, IOCTL_IOTEST_ECHO, a, 100, b, 200, &info), STATUS_SUCCESS);
    KT_EQ(info, 100);
    for (int i = 0; i < 100; i++)
        KT_EQ(b[i], (UCHAR)(a[i] + 1));
    KT_EQ(b[100], 0);   /* only Information bytes come back */
    KT_ST(DrvtIoctl(dev, fo, IOCTL_IOTEST_ECHO, a, 100, b, 99, &info), STATUS_BUFFER_TOO_SMALL);
    IOT_LAST_REQUEST r = last_request(dev);
    KT_EQ(r.IoControlCode, IOCTL_IOTEST_ECHO);
    KT_NE(r.SystemBuffer, 0);
    KT_EQ(r.HadMdl, 0);
    /* METHOD_IN_DIRECT: the device reads the locked "output" buffer. */
    ULONG h = IOT_FNV_OFFSET;
    for (ULONG i = 0; i < sizeof(a); i++)
        h = (h ^ a[i]) * IOT_FNV_PRIME;
    KT_ST(DrvtIoctl(dev, fo, IOCTL_IOTEST_CHECKSUM, NULL, 0, a, sizeof(a), &info), STATUS_SUCCESS);
    KT_EQ(info, h);
    r = last_request(dev);
    KT_EQ(r.HadMdl, 1);
    KT_EQ(r.MdlByteCount, sizeof(a));
    KT_EQ(r.MdlFlags & MDL_WRITE_OPERATION, 0);   /* locked for reading */
    /* METHOD_OUT_DIRECT: the device writes the locked output buffer. */
    uint32_t seed = 0x1234;
    KT_ST(DrvtIoctl(dev, fo, IOCTL_IOTEST_FILL, &seed, sizeof(seed), b, sizeof(b), &info), STATUS_SUCCESS);
    KT_EQ(info, sizeof(b));
    for (ULONG i = 0; i < sizeof(b); i++)
        KT_EQ(b[i], IOT_PATTERN(seed, i));
    r = last_request(dev);
    KT_ASSERT(r.MdlFlags & MDL_WRITE_OPERATION);
    KT_ST(DrvtIoctl(dev, fo, IOCTL_IOTEST_FILL, &seed, 2, b, sizeof(b), &info), STATUS_INVALID_PARAMETER);
    /* METHOD_NEITHER: raw pointers (a kernel caller's, trusted). */
    memset(b, 0, sizeof(b));
    KT_ST(DrvtIoctl(dev, fo, IOCTL_IOTEST_NEITHER, a, 300, b, 300, &info), STATUS_SUCCESS);
    KT_EQ(info, 300);
    for (int i = 0; i < 300; i++)
        KT_EQ(b[i], (UCHAR)(a[i] + 1));
    r = last_request(dev);
    KT_EQ(r.Type3InputBuffer, (uint64_t)a);
    KT_EQ(r.UserBuffer, (uint64_t)b);
    KT_EQ(r.HadMdl, 0);
    KT_ST(DrvtIoctl(dev, fo, IOCTL_IOTEST_NEITHER, a, 300, b, 299, &info), STATUS_BUFFER_TOO_SMALL);
    KT_ST(DrvtIoctl(dev, fo, CTL_CODE(IOT_DEVICE_TYPE, 0x7FF, METHOD_BUFFERED, FILE_ANY_ACCESS), NULL, 0,
                           NULL, 0, &info),
          STATUS_INVALID_DEVICE_REQUEST);
    ObDereferenceObject(fo);
}

/* ---- pend mode ---- */

typedef struct {
    KIRQL Irql;
    PKTHREAD Thread;
    ULONG Calls;
} SEEN;

/* The creator's completion routine, on the top location: records where
 * completion ran and lets it go on to stage 2. */
static NTSTATUS record_completion(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
    UNREFERENCED_PARAMETER(dev), UNREFERENCED_PARAMETER(irp);
    SEEN *s = ctx;
    s->Irql = KeGetCurrentIrql();
    s->Thread = KeGetCurrentThread();
    s->Calls++;
    return STATUS_SUCCESS;
}

KTEST(iotest, a_pended_irp_is_completed_from_a_timer_dpc)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT dev;
    DrvtOpen("\\Device\\IoTestBuffered", &fo, &dev);
    set_pend(dev, fo, IOT_PEND_TIMER, 30);
    IOT_PEND_STATS s0 = pend_stats(dev);
    UCHAR buf[64];
    memset(buf, 0, sizeof(buf));
    KEVENT ev;
    IO_STATUS_BLOCK iosb = { { -1 }, 0 };
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    LARGE_INTEGER off = { 0 };
    PIRP irp = IoBuildSynchronousFsdRequest(IRP_MJ_READ, dev, buf, sizeof(buf), &off, &ev, &iosb);
    KT_ASSERT(irp != NULL);
    IoGetNextIrpStackLocation(irp)->FileObject = fo;
    SEEN seen = { 0, NULL, 0 };
    IoSetCompletionRoutine(irp, record_completion, &seen, TRUE, TRUE, TRUE);
    ULONG64 t0 = KeQueryInterruptTime();
    KT_ST(IoCallDriver(dev, irp), STATUS_PENDING);
    KT_EQ(pend_stats(dev).TimersOutstanding, 1);
    KT_EQ(KeWaitForSingleObject(&ev, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
    KT_GE(KeQueryInterruptTime() - t0, KI_MS(20));
    KT_ST(iosb.Status, STATUS_SUCCESS);
    KT_EQ(iosb.Information, sizeof(buf));
    KT_EQ(seen.Calls, 1);
    KT_EQ(seen.Irql, DISPATCH_LEVEL);         /* from the DPC */
    IOT_PEND_STATS s1 = pend_stats(dev);
    KT_EQ(s1.CompletedFromTimer - s0.CompletedFromTimer, 1);
    KT_EQ(s1.TimersOutstanding, 0);
    KT_EQ(s1.LastTimerIrql, DISPATCH_LEVEL);
    set_pend(dev, fo, IOT_PEND_NONE, 0);
    ObDereferenceObject(fo);
}

/* An IRP the test owns to the end (IoAllocateIrp, taken back by its
 * completion routine), so that it can be cancelled at any moment - also
 * after it completed - without being freed under the canceller. */
typedef struct {
    PIRP Irp;
    KEVENT Done;
    volatile LONG Completions;
    UCHAR Buf[32];
} OWNED;

static NTSTATUS owned_done(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
    UNREFERENCED_PARAMETER(dev), UNREFERENCED_PARAMETER(irp);
    OWNED *o = ctx;
    __atomic_add_fetch(&o->Completions, 1, __ATOMIC_ACQ_REL);
    KeSetEvent(&o->Done, 0, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

/* A 32-byte read of \Device\IoTestNeither (UserBuffer only, KernelMode). */
static void owned_init(OWNED *o, PDEVICE_OBJECT dev)
{
    o->Irp = IoAllocateIrp(dev->StackSize, FALSE);
    KT_ASSERT(o->Irp != NULL);
    KeInitializeEvent(&o->Done, NotificationEvent, FALSE);
    o->Completions = 0;
    o->Irp->RequestorMode = KernelMode;
    o->Irp->UserBuffer = o->Buf;
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(o->Irp);
    sl->MajorFunction = IRP_MJ_READ;
    sl->Parameters.Read.Length = sizeof(o->Buf);
    sl->Parameters.Read.ByteOffset.QuadPart = 0;
    IoSetCompletionRoutine(o->Irp, owned_done, o, TRUE, TRUE, TRUE);
}

static NTSTATUS owned_wait(OWNED *o)
{
    LARGE_INTEGER ten_s = { -KI_MS(10000) };
    KT_EQ(KeWaitForSingleObject(&o->Done, Executive, KernelMode, FALSE, &ten_s), STATUS_WAIT_0);
    return o->Irp->IoStatus.Status;
}

static ULONG release(PDEVICE_OBJECT dev)
{
    uint32_t n = 0;
    ULONG_PTR info;
    KT_ST(DrvtIoctl(dev, NULL, IOCTL_IOTEST_RELEASE, NULL, 0, &n, sizeof(n), &info), STATUS_SUCCESS);
    return n;
}

KTEST(iotest, held_irps_complete_when_released)
{
    PDEVICE_OBJECT dev = DrvtNamedDevice("\\Device\\IoTestNeither");
    KT_ASSERT(dev != NULL);
    set_pend(dev, NULL, IOT_PEND_HOLD, 0);
    static OWNED o[3];
    for (int i = 0; i < 3; i++) {
        owned_init(&o[i], dev);
        KT_ST(IoCallDriver(dev, o[i].Irp), STATUS_PENDING);
        KT_ASSERT(o[i].Irp->CancelRoutine != NULL);   /* held IRPs are cancelable */
    }
    KT_EQ(pend_stats(dev).Held, 3);
    KT_EQ(o[0].Completions, 0);
    KT_EQ(release(dev), 3);
    for (int i = 0; i < 3; i++) {
        KT_ST(owned_wait(&o[i]), STATUS_SUCCESS);
        KT_EQ(o[i].Irp->IoStatus.Information, sizeof(o[i].Buf));
        KT_EQ(o[i].Completions, 1);
        KT_EQ(o[i].Irp->CancelRoutine, NULL);
        IoFreeIrp(o[i].Irp);
    }
    KT_EQ(pend_stats(dev).Held, 0);
    set_pend(dev, NULL, IOT_PEND_NONE, 0);
}

KTEST(iotest, cancel_while_held_runs_the_cancel_routine)
{
    PDEVICE_OBJECT dev = DrvtNamedDevice("\\Device\\IoTestNeither");
    set_pend(dev, NULL, IOT_PEND_HOLD, 0);
    IOT_PEND_STATS s0 = pend_stats(dev);
    static OWNED o;
    owned_init(&o, dev);
    KT_ST(IoCallDriver(dev, o.Irp), STATUS_PENDING);
    KT_EQ(IoCancelIrp(o.Irp), TRUE);
    KT_ST(owned_wait(&o), STATUS_CANCELLED);
    KT_EQ(o.Irp->IoStatus.Information, 0);
    KT_EQ(o.Completions, 1);
    IOT_PEND_STATS s1 = pend_stats(dev);
    KT_EQ(s1.Cancelled - s0.Cancelled, 1);
    KT_EQ(s1.Held, 0);
    KT_EQ(release(dev), 0);
    IoFreeIrp(o.Irp);
    set_pend(dev, NULL, IOT_PEND_NONE, 0);
}

KTEST(iotest, cancel_before_dispatch_is_seen_when_the_driver_queues_it)
{
    PDEVICE_OBJECT dev = DrvtNamedDevice("\\Device\\IoTestNeither");
    set_pend(dev, NULL, IOT_PEND_HOLD, 0);
    IOT_PEND_STATS s0 = pend_stats(dev);
    static OWNED o;
    owned_init(&o, dev);
    /* No cancel routine yet: IoCancelIrp only sets Irp->Cancel. */
    KT_EQ(IoCancelIrp(o.Irp), FALSE);
    KT_EQ(o.Irp->Cancel, TRUE);
    /* The driver checks Irp->Cancel after setting its routine. */
    KT_ST(IoCallDriver(dev, o.Irp), STATUS_PENDING);
    KT_EQ(o.Completions, 1);
    KT_ST(o.Irp->IoStatus.Status, STATUS_CANCELLED);
    IOT_PEND_STATS s1 = pend_stats(dev);
    KT_EQ(s1.Cancelled - s0.Cancelled, 1);
    KT_EQ(s1.Held, 0);
    IoFreeIrp(o.Irp);
    set_pend(dev, NULL, IOT_PEND_NONE, 0);
}

/* ---- cancel racing the release ---- */

static struct {
    KEVENT Go, Gone;
    OWNED *Victim;
    volatile BOOLEAN Quit;
} racer;

static void racer_thread(PVOID unused)
{
    UNREFERENCED_PARAMETER(unused);
    for (;;) {
        KeWaitForSingleObject(&racer.Go, Executive, KernelMode, FALSE, NULL);
        if (racer.Quit)
            return;
        IoCancelIrp(racer.Victim->Irp);
        KeSetEvent(&racer.Gone, 0, FALSE);
    }
}

static KDPC race_dpc;
static KTIMER race_timer;
static volatile LONG race_dpc_runs;
static void race_dpc_routine(PKDPC d, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(d), UNREFERENCED_PARAMETER(a1), UNREFERENCED_PARAMETER(a2);
    IoCancelIrp(((OWNED *)ctx)->Irp);
    __atomic_add_fetch(&race_dpc_runs, 1, __ATOMIC_RELEASE);
}

KTEST(iotest, cancel_racing_release_completes_each_irp_once)
{
    PDEVICE_OBJECT dev = DrvtNamedDevice("\\Device\\IoTestNeither");
    set_pend(dev, NULL, IOT_PEND_HOLD, 0);
    IOT_PEND_STATS s0 = pend_stats(dev);
    KeInitializeEvent(&racer.Go, SynchronizationEvent, FALSE);
    KeInitializeEvent(&racer.Gone, SynchronizationEvent, FALSE);
    racer.Quit = FALSE;
    PKTHREAD t = KeCreateSystemThread(racer_thread, NULL, KI_DEFAULT_PRIORITY, "canceller");
    KT_ASSERT(t != NULL);
    KeInitializeTimer(&race_timer);
    static OWNED o;
    ULONG cancelled = 0, released = 0;
    for (int i = 0; i < 300; i++) {
        owned_init(&o, dev);
        racer.Victim = &o;
        KT_ST(IoCallDriver(dev, o.Irp), STATUS_PENDING);
        switch (i % 3) {
        case 0:   /* the canceller first, then the release */
            KeSetEvent(&racer.Go, 0, FALSE);
            KeWaitForSingleObject(&racer.Gone, Executive, KernelMode, FALSE, NULL);
            (void)release(dev);
            break;
        case 1:   /* the release first, then a cancel of a completed IRP */
            (void)release(dev);
            KeSetEvent(&racer.Go, 0, FALSE);
            KeWaitForSingleObject(&racer.Gone, Executive, KernelMode, FALSE, NULL);
            break;
        default:  /* a DPC due at the next tick, against a release at any moment */
        {
            LONG runs = race_dpc_runs;
            KeInitializeDpc(&race_dpc, race_dpc_routine, &o);
            LARGE_INTEGER due = { -1 };
            KeSetTimer(&race_timer, due, &race_dpc);
            /* The release at a moment spread over two clock periods (the
             * clock ticks at 100 Hz), timed by the TSC, so the tick lands
             * before, during or after it. Two, not one: a round starts just
             * after a tick (the wait below ends at one), so over one period
             * the release came first in 95 of 100 rounds. (Not a count of
             * PAUSEs: under TCG each PAUSE leaves the translated code, and
             * the rounds cost 2 s of CPU, 25 ms each.) Once the DPC has
             * run, spinning on cannot change who won: release at once.
             * A moment a whole clock period or more away comes after the
             * tick whenever the round began: the DPC wins those for sure,
             * so they wait for it halted, not spinning (under TCG a spin
             * costs the host its CPU: 0.85 s for the rounds otherwise). */
            ULONG64 delay = ((ULONG64)i * 2654435761u) % (HalTscPerMs() * 20), until = rdtsc() + delay;
            if (delay >= HalTscPerMs() * 10) {
                for (int ms = 0; race_dpc_runs == runs && ms < 5000; ms++)
                    DrvtSleep(1);
                KT_EQ(race_dpc_runs, runs + 1);
            }
            while (rdtsc() < until && race_dpc_runs == runs)
                ;
            (void)release(dev);
            /* The DPC must have run before the IRP can be freed. */
            for (int ms = 0; race_dpc_runs == runs && ms < 5000; ms++)
                DrvtSleep(1);
            KT_EQ(race_dpc_runs, runs + 1);
            break;
        }
        }
        NTSTATUS s = owned_wait(&o);
        KT_EQ(o.Completions, 1);
        KT_ASSERT(s == STATUS_CANCELLED || s == STATUS_SUCCESS);
        if (s == STATUS_CANCELLED)
            cancelled++;
        else
            released++;
        KT_EQ(o.Irp->CancelRoutine, NULL);
        IoFreeIrp(o.Irp);
    }
    racer.Quit = TRUE;
    KeSetEvent(&racer.Go, 0, FALSE);
    KeWaitForSingleObject(t, Executive, KernelMode, FALSE, NULL);
    KeDereferenceThread(t);
    IOT_PEND_STATS s1 = pend_stats(dev);
    KT_EQ(s1.Held, 0);
    KT_EQ(s1.Cancelled - s0.Cancelled, cancelled);
    KT_EQ(s1.Released - s0.Released, released);
    KT_GE(cancelled, 100);   /* every "canceller first" round at least */
    KT_GE(released, 100);    /* every "release first" round */
    kprintf("iotest: cancel/release race: %u cancelled, %u released\n", cancelled, released);
    set_pend(dev, NULL, IOT_PEND_NONE, 0);
    DrvtSleep(5);
}

KTEST(iotest, cleanup_cancels_the_files_held_irps)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT dev;
    DrvtOpen("\\Device\\IoTestDirect", &fo, &dev);
    /* A handle, so that closing it sends IRP_MJ_CLEANUP. */
    HANDLE h;
    KT_ST(ObOpenObjectByPointer(fo, 0, FILE_READ_DATA | FILE_WRITE_DATA, IoFileObjectType, KernelMode, &h),
          STATUS_SUCCESS);
    set_pend(dev, fo, IOT_PEND_HOLD, 0);   /* this file only */
    IOT_PEND_STATS s0 = pend_stats(dev);
    ULONG64 locked0 = MiMdlLockedFrames;
    UCHAR buf[2][100];
    static DRVT_ASYNC a[2];
    DrvtSendRead(&a[0], dev, fo, buf[0], sizeof(buf[0]), 0);
    DrvtSendRead(&a[1], dev, fo, buf[1], sizeof(buf[1]), 0);
    KT_ST(a[0].Returned, STATUS_PENDING);
    KT_ST(a[1].Returned, STATUS_PENDING);
    KT_GT(MiMdlLockedFrames, locked0);
    /* Another request without the file is not held. */
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(dev, NULL, IRP_MJ_READ, buf[0], 10, 0, &info), STATUS_SUCCESS);
    KT_EQ(pend_stats(dev).Held, 2);
    KT_ST(ObCloseHandle(h, KernelMode), STATUS_SUCCESS);
    KT_ST(DrvtWait(&a[0]), STATUS_CANCELLED);
    KT_ST(DrvtWait(&a[1]), STATUS_CANCELLED);
    IOT_PEND_STATS s1 = pend_stats(dev);
    KT_EQ(s1.CleanedUp - s0.CleanedUp, 2);
    KT_EQ(s1.Held, 0);
    KT_EQ(MiMdlLockedFrames, locked0);
    ObDereferenceObject(fo);
}

KTEST(iotest, closing_a_file_without_handles_cancels_its_held_irps)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT dev;
    DrvtOpen("\\Device\\IoTestBuffered", &fo, &dev);
    IOT_PEND bad = { IOT_PEND_TIMER, IOT_PEND_MAX_DELAY_MS + 1 };
    KT_ST(DrvtIoctl(dev, fo, IOCTL_IOTEST_SET_PEND, &bad, sizeof(bad), NULL, 0, NULL), STATUS_INVALID_PARAMETER);
    bad.Mode = 7;
    bad.DelayMs = 0;
    KT_ST(DrvtIoctl(dev, fo, IOCTL_IOTEST_SET_PEND, &bad, sizeof(bad), NULL, 0, NULL), STATUS_INVALID_PARAMETER);
    set_pend(dev, fo, IOT_PEND_HOLD, 0);
    IOT_PEND_STATS s0 = pend_stats(dev);
    UCHAR buf[40];
    static DRVT_ASYNC a;
    DrvtSendRead(&a, dev, fo, buf, sizeof(buf), 0);
    KT_ST(a.Returned, STATUS_PENDING);
    /* No handle: no IRP_MJ_CLEANUP. The last reference sends IRP_MJ_CLOSE,
     * which must not leave an IRP naming a freed file object. */
    ObDereferenceObject(fo);
    KT_ST(DrvtWait(&a), STATUS_CANCELLED);
    IOT_PEND_STATS s1 = pend_stats(dev);
    KT_EQ(s1.CleanedUp - s0.CleanedUp, 1);
    KT_EQ(s1.Held, 0);
}

KTEST(iotest, last_request_shows_the_buffer_locked_while_held_and_unlocked_after)
{
    PDEVICE_OBJECT dev = DrvtNamedDevice("\\Device\\IoTestDirect");
    KT_ASSERT(dev != NULL);
    PUCHAR raw = ExAllocatePoolWithTag(NonPagedPoolNx, 3 * PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(raw != NULL);
    PUCHAR buf = raw + 3000;
    set_pend(dev, NULL, IOT_PEND_HOLD, 0);
    static DRVT_ASYNC a;
    DrvtSendRead(&a, dev, NULL, buf, 6000, 0);
    KT_ST(a.Returned, STATUS_PENDING);
    IOT_LAST_REQUEST held = last_request(dev);
    KT_EQ(held.HadMdl, 1);
    KT_ASSERT(held.MdlFlags & MDL_PAGES_LOCKED);
    KT_EQ(held.PfnCount, 3);
    for (ULONG i = 0; i < held.PfnCount; i++)
        KT_EQ(held.RefsNow[i], held.RefsAtDispatch[i]);       /* still locked */
    KT_EQ(release(dev), 1);
    KT_ST(DrvtWait(&a), STATUS_SUCCESS);
    IOT_LAST_REQUEST after = last_request(dev);
    KT_EQ(after.Sequence, held.Sequence);                      /* the same request */
    for (ULONG i = 0; i < after.PfnCount; i++)
        KT_EQ(after.RefsNow[i], after.RefsAtDispatch[i] - 1);  /* unlocked at completion */
    set_pend(dev, NULL, IOT_PEND_NONE, 0);
    ExFreePoolWithTag(raw, DRVT_TAG);
}

/* A METHOD_NEITHER IOCTL or a neither-device read from a UserMode
 * requestor with a pointer that is bad: the driver's probe or copy raises
 * inside its ExTry, and that status completes the IRP. */
static NTSTATUS send_user_mode(PDEVICE_OBJECT dev, UCHAR major, PVOID in, ULONG inlen, PVOID out, ULONG outlen)
{
    static OWNED o;
    owned_init(&o, dev);
    PIRP irp = o.Irp;
    irp->RequestorMode = UserMode;
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->MajorFunction = major;
    if (major == IRP_MJ_DEVICE_CONTROL) {
        sl->Parameters.DeviceIoControl.IoControlCode = IOCTL_IOTEST_NEITHER;
        sl->Parameters.DeviceIoControl.InputBufferLength = inlen;
        sl->Parameters.DeviceIoControl.OutputBufferLength = outlen;
        sl->Parameters.DeviceIoControl.Type3InputBuffer = in;
    } else {
        sl->Parameters.Read.Length = outlen;
        sl->Parameters.Read.ByteOffset.QuadPart = 0;
    }
    irp->UserBuffer = out;
    IoCallDriver(dev, irp);
    NTSTATUS s = owned_wait(&o);
    KT_EQ(o.Completions, 1);
    IoFreeIrp(irp);
    return s;
}

KTEST(iotest, neither_with_a_bad_user_pointer_fails_with_the_exceptions_status)
{
    PDEVICE_OBJECT dev = DrvtNamedDevice("\\Device\\IoTestNeither");
    static UCHAR kbuf[64];
    /* A kernel address from a UserMode caller: the probe refuses it. */
    KT_ST(send_user_mode(dev, IRP_MJ_DEVICE_CONTROL, kbuf, 16, (PVOID)0x10000, 16), STATUS_ACCESS_VIOLATION);
    KT_ST(send_user_mode(dev, IRP_MJ_DEVICE_CONTROL, (PVOID)0x10000, 16, kbuf, 16), STATUS_ACCESS_VIOLATION);
    KT_ST(send_user_mode(dev, IRP_MJ_READ, NULL, 0, kbuf, 16), STATUS_ACCESS_VIOLATION);
    KT_ST(send_user_mode(dev, IRP_MJ_WRITE, NULL, 0, kbuf, 16), STATUS_ACCESS_VIOLATION);
    /* A user address with nothing there (the system process has no user
     * space): the probe passes, the copy faults, ExTry catches it. */
    KT_ST(send_user_mode(dev, IRP_MJ_READ, NULL, 0, (PVOID)0x10000, 16), STATUS_ACCESS_VIOLATION);
    /* Past the user range's end: refused by the probe. */
    KT_ST(send_user_mode(dev, IRP_MJ_DEVICE_CONTROL, (PVOID)(MmUserProbeAddress - 8), 16, (PVOID)0x10000, 16),
          STATUS_ACCESS_VIOLATION);
}
