/*
 * \Device\Null through the real I/O path from kernel mode: what NT's
 * null device answers, and that it asks for no transfer method (neither
 * I/O: no system buffer, no MDL - the I/O manager's fixed cost only).
 */
#include "drivers/tests/drv_test_util.h"
#include "drivers/drivers.h"

KTEST(null, read_is_end_of_file_and_write_takes_everything)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT dev;
    DrvtOpen("\\Device\\Null", &fo, &dev);
    KT_EQ(dev->Flags & (DO_BUFFERED_IO | DO_DIRECT_IO), 0);
    KT_EQ(dev->DeviceType, FILE_DEVICE_NULL);
    UCHAR buf[100];
    memset(buf, 0x5A, sizeof(buf));
    ULONG_PTR info = 77;
    KT_ST(DrvtReadWrite(dev, fo, IRP_MJ_READ, buf, sizeof(buf), 0, &info), STATUS_END_OF_FILE);
    KT_EQ(info, 0);
    KT_EQ(buf[0], 0x5A);   /* untouched */
    KT_EQ(buf[99], 0x5A);
    KT_ST(DrvtReadWrite(dev, fo, IRP_MJ_WRITE, buf, sizeof(buf), 12345, &info), STATUS_SUCCESS);
    KT_EQ(info, sizeof(buf));
    KT_ST(DrvtReadWrite(dev, fo, IRP_MJ_WRITE, buf, 0, 0, &info), STATUS_SUCCESS);
    KT_EQ(info, 0);
    KT_ST(DrvtFlush(dev, fo), STATUS_SUCCESS);
    /* An IOCTL it does not know: the I/O manager's default dispatch. */
    KT_ST(DrvtIoctl(dev, fo, CTL_CODE(FILE_DEVICE_NULL, 1, METHOD_BUFFERED, FILE_ANY_ACCESS), NULL, 0, NULL,
                           0, &info),
          STATUS_INVALID_DEVICE_REQUEST);
    ObDereferenceObject(fo);
}

KTEST(null, dos_devices_nul_names_the_same_device)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT dev;
    DrvtOpen("\\DosDevices\\NUL", &fo, &dev);
    KT_EQ(fo->DeviceObject, DrvtNamedDevice("\\Device\\Null"));
    ObDereferenceObject(fo);
}

KTEST(null, a_read_reaches_it_with_neither_buffer_nor_mdl)
{
    /* The IRP a kernel caller builds for it carries the raw pointer only. */
    PFILE_OBJECT fo;
    PDEVICE_OBJECT dev;
    DrvtOpen("\\Device\\Null", &fo, &dev);
    UCHAR buf[16];
    KEVENT ev;
    IO_STATUS_BLOCK iosb;
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    LARGE_INTEGER off = { 0 };
    PIRP irp = IoBuildSynchronousFsdRequest(IRP_MJ_READ, dev, buf, sizeof(buf), &off, &ev, &iosb);
    KT_ASSERT(irp != NULL);
    KT_EQ(irp->MdlAddress, NULL);
    KT_EQ(irp->Flags & IRP_BUFFERED_IO, 0);
    KT_EQ(irp->UserBuffer, buf);
    KT_ST(IoCallDriver(dev, irp), STATUS_END_OF_FILE);
    KT_EQ(KeWaitForSingleObject(&ev, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
    KT_ST(iosb.Status, STATUS_END_OF_FILE);
    ObDereferenceObject(fo);
}

static BOOLEAN second_entry_ran;
static NTSTATUS second_entry(PDRIVER_OBJECT drv, PANSI_STRING reg)
{
    UNREFERENCED_PARAMETER(drv), UNREFERENCED_PARAMETER(reg);
    second_entry_ran = TRUE;
    return STATUS_SUCCESS;
}

/* io/driver.c once crashed here: the driver object that lost the name
 * race was deleted before it was on the driver list, and its delete
 * routine unlinked a zeroed list entry (IRQL_NOT_LESS_OR_EQUAL). */
KTEST(null, a_second_driver_of_the_same_name_is_refused)
{
    ANSI_STRING name;
    RtlInitAnsiString(&name, "\\Driver\\Null");
    PDRIVER_OBJECT d = (PDRIVER_OBJECT)1;
    second_entry_ran = FALSE;
    KT_ST(IoCreateDriver(&name, second_entry, &d), STATUS_OBJECT_NAME_COLLISION);
    KT_ASSERT(!second_entry_ran);
    /* The one that holds the name is untouched. */
    PFILE_OBJECT fo;
    PDEVICE_OBJECT dev;
    DrvtOpen("\\Device\\Null", &fo, &dev);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(dev, fo, IRP_MJ_WRITE, &info, 8, 0, &info), STATUS_SUCCESS);
    ObDereferenceObject(fo);
}

KTEST(null, unload_removes_the_device_and_its_link)
{
    ANSI_STRING n;
    RtlInitAnsiString(&n, "\\Driver\\Null");
    PVOID drv;
    KT_ST(ObReferenceObjectByName(&n, IoDriverObjectType, &drv), STATUS_SUCCESS);
    ObDereferenceObject(drv);
    KT_ST(IoUnloadDriver(drv), STATUS_SUCCESS);
    KT_EQ(DrvtNamedDevice("\\Device\\Null"), NULL);
    ANSI_STRING link;
    RtlInitAnsiString(&link, "\\DosDevices\\NUL");
    PVOID obj;
    KT_ASSERT(!NT_SUCCESS(ObReferenceObjectByName(&link, NULL, &obj)));
    KT_ST(IoCreateDriver(&n, NullDriverEntry, NULL), STATUS_SUCCESS);
    PFILE_OBJECT fo;
    PDEVICE_OBJECT dev;
    DrvtOpen("\\DosDevices\\NUL", &fo, &dev);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(dev, fo, IRP_MJ_WRITE, &info, 8, 0, &info), STATUS_SUCCESS);
    KT_EQ(info, 8);
    ObDereferenceObject(fo);
}
