/*
 * IoInitSystem: the I/O manager's start at boot (phase 1 in NT): the
 * object types it owns (Device, Driver, File), the MDL lookaside list,
 * the file services, then the drivers built into the kernel, each
 * started through IoCreateDriver as NT starts a boot driver.
 */
#include "io/iop.h"
#include "io/dmap.h"
#include "kernel/ktest/ktest.h"

static int io_counters(KT_COUNTER *out, int max)
{
    if (max < 1)
        return 0;
    out[0] = (KT_COUNTER){ "IRPs allocated", (uint64_t)IopIrpsInUse };
    return 1;
}

void IoInitSystem(void)
{
    IopInitializeCancel();
    IopInitializeMdls();
    IopInitializeDma();
    IopInitializeIrps();
    IopInitializeDrivers();
    IopInitializeDevices();
    IopCreateObjectTypes();
    IopRegisterServices();
    IopInitializeCompletionPorts();
    IopInitializeIoRings();
    KtRegisterCounters(io_counters);
    IopStartBootDrivers();
}
