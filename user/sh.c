/*
 * sh: the mdlos shell. Reads a line (NtReadConsole: the kernel echoes and
 * edits it), runs a built-in or starts the program named by the first word
 * with the whole line as its command line (NT-style: the program name
 * first), and waits for it.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The programs on the ISO (the Makefile passes the names). */
#ifndef USER_PROGRAMS
#define USER_PROGRAMS "hello",
#endif
static const char *const programs[] = { USER_PROGRAMS };

static void print_status(const char *what, NTSTATUS st)
{
    const char *name = NtStatusName(st);
    printf("%s: status 0x%08x%s%s%s\n", what, (uint32_t)st, name ? " (" : "", name ? name : "", name ? ")" : "");
}

static void cmd_help(void)
{
    printf("built-in commands:\n"
           "  help          this list\n"
           "  ps            the processes (NtQuerySystemInformation SystemProcessList)\n"
           "  mem           physical memory and fault counts (SystemMemoryInformation)\n"
           "  devices       every device object: name, driver, flags, stack (SystemDeviceList)\n"
           "  drivers       every driver and its devices (from the device list)\n"
           "  handles [PID] every process's open handles, or one process's (SystemHandleList)\n"
           "  pci           the PCI functions: IDs, class, BARs, interrupt, MSI-X, driver (SystemPciList)\n"
           "  prof [start|stop|clear]  the kernel's sampling profiler; alone: its report\n"
           "                (NtSetSystemInformation SystemProfileControl; docs/performance.md)\n"
           "  exit [N]      leave the shell (init starts a new one)\n"
           "any other word runs the program of that name, with the line as its command\n"
           "line, e.g. `hello a \"b c\"`, `utest_vm user.vm.*`, `crasher null_read`,\n"
           "`dd if=pattern of=\\Device\\RamDisk0 bs=64K count=16`, `hexdump \\Device\\RamDisk0 0 64`.\n"
           "programs:");
    for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++)
        printf(" %s", programs[i]);
    printf("\n");
}

/* `prof start`, run something, `prof stop`, `prof`: the report is the
 * kernel's, printed on the console (kernel/ke/profile.c). */
static void cmd_prof(const char *arg)
{
    uint32_t c = strcmp(arg, "start") == 0 ? PROFILE_START
               : strcmp(arg, "stop") == 0  ? PROFILE_STOP
               : strcmp(arg, "clear") == 0 ? PROFILE_CLEAR
               : !*arg                     ? PROFILE_REPORT
                                           : 0;
    if (!c) {
        printf("prof: start, stop, clear, or nothing for the report\n");
        return;
    }
    NTSTATUS st = NtSetSystemInformation(SystemProfileControl, &c, sizeof(c));
    if (!NT_SUCCESS(st))
        print_status("prof", st);
}

static const char *state_name(uint32_t state)
{
    return state == 0 ? "running" : state == 1 ? "exiting" : "?";
}

static void cmd_ps(void)
{
    size_t size = 16 * sizeof(SYSTEM_PROCESS_T);
    for (int tries = 0; tries < 8; tries++) {
        SYSTEM_PROCESS_T *list = malloc(size);
        if (!list) {
            printf("ps: out of memory\n");
            return;
        }
        size_t got = 0;
        NTSTATUS st = NtQuerySystemInformation(SystemProcessList, list, size, &got);
        if (st == STATUS_INFO_LENGTH_MISMATCH || st == STATUS_BUFFER_TOO_SMALL || st == STATUS_BUFFER_OVERFLOW) {
            free(list);
            size = got > size ? got : size * 2;
            continue;
        }
        if (!NT_SUCCESS(st)) {
            print_status("ps: NtQuerySystemInformation(SystemProcessList)", st);
            free(list);
            return;
        }
        printf("%6s %6s %7s %8s %8s %7s %7s %-8s %s\n", "PID", "PPID", "THREADS", "WS", "PRIVATE", "SOFT", "HARD",
               "STATE", "IMAGE");
        for (size_t i = 0; i < got / sizeof(SYSTEM_PROCESS_T); i++) {
            SYSTEM_PROCESS_T *p = &list[i];
            printf("%6llu %6llu %7u %7lluK %7lluK %7llu %7llu %-8s %.32s\n", (unsigned long long)p->ProcessId,
                   (unsigned long long)p->ParentId, p->Threads, (unsigned long long)p->WorkingSetSize * 4,
                   (unsigned long long)p->PrivatePages * 4, (unsigned long long)p->SoftFaults,
                   (unsigned long long)p->HardFaults, state_name(p->State), p->ImageName);
        }
        free(list);
        return;
    }
    printf("ps: the process list keeps growing\n");
}

/* Every handle of every process (or of PID): value, type, granted access,
 * the object's pointer and handle counts, its name, its kernel address
 * (for GDB's `obj`). */
static void cmd_handles(const char *arg)
{
    uint64_t pid = 0;
    int one = *arg != 0;
    if (one)
        pid = strtoull(arg, NULL, 0);
    size_t size = 32 * sizeof(SYSTEM_HANDLE_T);
    for (int tries = 0; tries < 8; tries++) {
        SYSTEM_HANDLE_T *list = malloc(size);
        if (!list) {
            printf("handles: out of memory\n");
            return;
        }
        size_t got = 0;
        NTSTATUS st = NtQuerySystemInformation(SystemHandleList, list, size, &got);
        if (st == STATUS_INFO_LENGTH_MISMATCH) {
            free(list);
            size = got + 16 * sizeof(SYSTEM_HANDLE_T);
            continue;
        }
        if (!NT_SUCCESS(st)) {
            print_status("handles: NtQuerySystemInformation(SystemHandleList)", st);
            free(list);
            return;
        }
        printf("%6s %8s %-12s %10s %4s %4s %-18s %s\n", "PID", "HANDLE", "TYPE", "ACCESS", "PTR", "HND", "OBJECT",
               "NAME");
        size_t shown = 0;
        for (size_t i = 0; i < got / sizeof(SYSTEM_HANDLE_T); i++) {
            SYSTEM_HANDLE_T *h = &list[i];
            if (one && h->ProcessId != pid)
                continue;
            shown++;
            printf("%6llu %#8llx %-12.16s %#10x %4u %4u %#18llx %.64s\n", (unsigned long long)h->ProcessId,
                   (unsigned long long)h->Handle, h->TypeName, h->GrantedAccess, h->PointerCount, h->HandleCount,
                   (unsigned long long)h->Object, h->Name);
        }
        printf("%zu handle(s)\n", shown);
        free(list);
        return;
    }
    printf("handles: the handle list keeps growing\n");
}

/* The PCI bus driver's table: one line per function (bus:device.function,
 * vendor:device, class/subclass/prog-if, revision, interrupt pin and line,
 * MSI-X table size, the virtio capabilities' cfg_types, the driver bound),
 * then one per BAR in use. */
static void cmd_pci(void)
{
    static const char *types[] = { "-", "io", "mem32", "mem64", "-" };
    size_t size = 64 * sizeof(SYSTEM_PCI_T), got = 0;
    SYSTEM_PCI_T *list = malloc(size);
    if (!list) {
        printf("pci: out of memory\n");
        return;
    }
    NTSTATUS st = NtQuerySystemInformation(SystemPciList, list, size, &got);
    if (!NT_SUCCESS(st)) {
        print_status("pci: NtQuerySystemInformation(SystemPciList)", st);
        free(list);
        return;
    }
    size_t n = got / sizeof(SYSTEM_PCI_T);
    for (size_t i = 0; i < n; i++) {
        SYSTEM_PCI_T *p = &list[i];
        printf("%02x:%02x.%u %04x:%04x class %02x%02x%02x rev %02x", p->Bus, p->Device, p->Function, p->VendorId,
               p->DeviceId, p->BaseClass, p->SubClass, p->ProgIf, p->Revision);
        if (p->InterruptPin)
            printf(" INT%c line %u", 'A' + p->InterruptPin - 1, p->InterruptLine);
        if (p->HeaderType == 1)
            printf(" bridge to bus %u", p->SecondaryBus);
        if (p->MsixTableSize)
            printf(" msix %u", p->MsixTableSize);
        if (p->VendorCapCount) {
            printf(" vendor-caps");
            for (unsigned v = 0; v < p->VendorCapCount && v < 8; v++)
                printf("%c%u", v ? ',' : ' ', p->VendorCfgTypes[v]);
        }
        printf(" driver %.32s\n", p->DriverName[0] ? p->DriverName : "-");
        for (unsigned b = 0; b < 6; b++)
            if (p->Bars[b].Type >= 1 && p->Bars[b].Type <= 3)
                printf("    BAR%u %-5s %#llx size %#llx%s\n", b, types[p->Bars[b].Type],
                       (unsigned long long)p->Bars[b].Base, (unsigned long long)p->Bars[b].Size,
                       p->Bars[b].Prefetchable ? " prefetchable" : "");
    }
    printf("%zu PCI function(s)\n", n);
    free(list);
}

static void cmd_mem(void)
{
    SYSTEM_MEMORY_T m;
    size_t got = 0;
    memset(&m, 0, sizeof(m));
    NTSTATUS st = NtQuerySystemInformation(SystemMemoryInformation, &m, sizeof(m), &got);
    if (!NT_SUCCESS(st)) {
        print_status("mem: NtQuerySystemInformation(SystemMemoryInformation)", st);
        return;
    }
#define KB(pages) ((unsigned long long)(pages) * 4)
    printf("physical   %8lluK (%llu pages)\n", KB(m.PhysicalPages), (unsigned long long)m.PhysicalPages);
    printf("available  %8lluK   zeroed %lluK, free %lluK, standby %lluK\n", KB(m.AvailablePages),
           KB(m.ZeroedPages), KB(m.FreePages), KB(m.StandbyPages));
    printf("modified   %8lluK\n", KB(m.ModifiedPages));
    printf("commit     %8lluK of %lluK limit (peak %lluK)\n", KB(m.CommittedPages), KB(m.CommitLimitPages),
           KB(m.PeakCommitmentPages));
    printf("pool       nonpaged %llu bytes, paged %llu bytes\n", (unsigned long long)m.NonPagedPoolBytes,
           (unsigned long long)m.PagedPoolBytes);
    printf("faults     demand-zero %llu, soft %llu, copy-on-write %llu, image %llu, hard %llu\n",
           (unsigned long long)m.DemandZeroFaults, (unsigned long long)m.SoftFaults,
           (unsigned long long)m.CopyOnWriteFaults, (unsigned long long)m.ImageFaults,
           (unsigned long long)m.HardFaults);
    if (m.PagingFilePages) {
        printf("pagefile   %8lluK of %lluK in use; %llu pages in I/O now\n", KB(m.PagingFileInUse),
               KB(m.PagingFilePages), (unsigned long long)m.PagesInFlight);
        printf("writer     %llu pages in %llu clusters (%llu failed), %llu in-page reads (%llu failed, %llu pages "
               "read ahead), %llu collided faults\n", (unsigned long long)m.PagesWritten,
               (unsigned long long)m.WriteClusters, (unsigned long long)m.WriteErrors,
               (unsigned long long)m.InPageReads, (unsigned long long)m.InPageErrors,
               (unsigned long long)m.InPagePrefetched, (unsigned long long)m.CollidedFaults);
        printf("clusters  ");
        for (int i = 1; i <= 16; i++)
            if (m.ClusterSizes[i])
                printf(" %dx%llu", i, (unsigned long long)m.ClusterSizes[i]);
        printf("\n");
    } else {
        printf("pagefile   none (boot with pagefile=Harddisk1)\n");
    }
#undef KB
}

/* Device object flags and types (NT's wdm.h values; the kernel's are in
 * io/iomgr.h, which user mode does not include). */
#define DO_BUFFERED_IO 0x00000004
#define DO_EXCLUSIVE   0x00000008
#define DO_DIRECT_IO   0x00000010
#define DO_DEVICE_INITIALIZING 0x00000080

/* The device list, grown until it fits. Returns the count; *LIST to free. */
static size_t query_devices(SYSTEM_DEVICE_T **list, const char *who)
{
    size_t size = 16 * sizeof(SYSTEM_DEVICE_T);
    *list = NULL;
    for (int tries = 0; tries < 8; tries++) {
        SYSTEM_DEVICE_T *l = malloc(size);
        if (!l) {
            printf("%s: out of memory\n", who);
            return 0;
        }
        size_t got = 0;
        NTSTATUS st = NtQuerySystemInformation(SystemDeviceList, l, size, &got);
        if (st == STATUS_INFO_LENGTH_MISMATCH || st == STATUS_BUFFER_TOO_SMALL) {
            free(l);
            size = got > size ? got : size * 2;
            continue;
        }
        if (!NT_SUCCESS(st)) {
            char what[80];
            snprintf(what, sizeof(what), "%s: NtQuerySystemInformation(SystemDeviceList)", who);
            print_status(what, st);
            free(l);
            return 0;
        }
        *list = l;
        return got / sizeof(SYSTEM_DEVICE_T);
    }
    printf("%s: the device list keeps growing\n", who);
    return 0;
}

/* A device by its name, or "(unnamed) ADDRESS" for a filter's. */
static const char *device_label(const SYSTEM_DEVICE_T *l, size_t n, uint64_t dev, char *buf, size_t size)
{
    for (size_t i = 0; i < n; i++)
        if (l[i].Device == dev && l[i].Name[0]) {
            snprintf(buf, size, "%.63s", l[i].Name);
            return buf;
        }
    snprintf(buf, size, "(unnamed) %llx", (unsigned long long)dev);
    return buf;
}

static const char *type_name(uint32_t t)
{
    switch (t) {
    case 0x07: return "disk";
    case 0x15: return "null";
    case 0x22: return "unknown";
    default: return "?";
    }
}

static void cmd_devices(void)
{
    SYSTEM_DEVICE_T *l;
    size_t n = query_devices(&l, "devices");
    if (!l)
        return;
    printf("%-16s %-22s %-16s %-7s %-9s %5s %5s %6s %5s\n", "DEVICE", "NAME", "DRIVER", "TYPE", "FLAGS", "STACK",
           "ALIGN", "SECTOR", "OPENS");
    for (size_t i = 0; i < n; i++) {
        SYSTEM_DEVICE_T *d = &l[i];
        char flags[40] = "";
        if (d->Flags & DO_BUFFERED_IO)
            strlcat(flags, "buffered", sizeof(flags));
        else if (d->Flags & DO_DIRECT_IO)
            strlcat(flags, "direct", sizeof(flags));
        else
            strlcat(flags, "neither", sizeof(flags));
        if (d->Flags & DO_EXCLUSIVE)
            strlcat(flags, ",excl", sizeof(flags));
        if (d->Flags & DO_DEVICE_INITIALIZING)
            strlcat(flags, ",init", sizeof(flags));
        printf("%016llx %-22.63s %-16.31s %-7s %-9s %5u %5u %6u %5u\n", (unsigned long long)d->Device,
               d->Name[0] ? d->Name : "(unnamed)", d->DriverName, type_name(d->DeviceType), flags, d->StackSize,
               d->AlignmentRequirement + 1, d->SectorSize, d->ReferenceCount);
        char a[80];
        if (d->AttachedTo)
            printf("%16s   attached to %s\n", "", device_label(l, n, d->AttachedTo, a, sizeof(a)));
        if (d->AttachedDevice)
            printf("%16s   below %s\n", "", device_label(l, n, d->AttachedDevice, a, sizeof(a)));
    }
    printf("%llu devices; FLAGS: the transfer method the I/O manager uses (DO_BUFFERED_IO, DO_DIRECT_IO or\n"
           "neither); STACK: the IRP stack locations a request to it needs; ALIGN: the buffer alignment\n"
           "FILE_NO_INTERMEDIATE_BUFFERING requires (AlignmentRequirement + 1)\n", (unsigned long long)n);
    free(l);
}

/* The drivers, derived from the device list: each device names its driver. */
static void cmd_drivers(void)
{
    SYSTEM_DEVICE_T *l;
    size_t n = query_devices(&l, "drivers");
    if (!l)
        return;
    printf("%-20s %7s  %s\n", "DRIVER", "DEVICES", "NAMES");
    size_t drivers = 0;
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(l[j].DriverName, l[i].DriverName) == 0;
        if (seen)
            continue;
        drivers++;
        unsigned k = 0;
        char names[256] = "";
        for (size_t j = i; j < n; j++) {
            if (strcmp(l[j].DriverName, l[i].DriverName) != 0)
                continue;
            k++;
            char a[80];
            if (names[0])
                strlcat(names, " ", sizeof(names));
            strlcat(names, device_label(l, n, l[j].Device, a, sizeof(a)), sizeof(names));
        }
        printf("%-20.31s %7u  %s\n", l[i].DriverName[0] ? l[i].DriverName : "?", k, names);
    }
    printf("%llu drivers with devices (a driver without a device object is not in the device list)\n",
           (unsigned long long)drivers);
    free(l);
}

static void run(const char *image, const char *command_line)
{
    HANDLE h = 0;
    NTSTATUS st = NtCreateProcess(image, command_line, &h);
    if (!NT_SUCCESS(st)) {
        char what[96];
        snprintf(what, sizeof(what), "sh: %s: cannot run it", image);
        print_status(what, st);
        return;
    }
    st = NtWaitForSingleObject(h, 0, NULL);
    if (!NT_SUCCESS(st)) {
        print_status("sh: NtWaitForSingleObject", st);
    } else {
        NTSTATUS code = 0;
        st = ProcessExitStatus(h, &code);
        if (!NT_SUCCESS(st)) {
            print_status("sh: NtQueryInformationProcess", st);
        } else if (code != 0) {
            char what[96];
            snprintf(what, sizeof(what), "%s exited", image);
            print_status(what, code);
        }
    }
    NtClose(h);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char line[512];
    printf("mdlos shell: type 'help' for commands.\n");
    int failures = 0;
    for (;;) {
        printf("mdlos$ ");
        fflush(stdout);
        size_t n = 0;
        NTSTATUS st = NtReadConsole(line, sizeof(line) - 1, &n);
        if (!NT_SUCCESS(st)) {
            print_status("sh: NtReadConsole", st);
            if (++failures >= 3)
                return st;
            SleepMs(1000);
            continue;
        }
        failures = 0;
        if (n > sizeof(line) - 1)
            n = sizeof(line) - 1;
        line[n] = 0;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        char *cmd = line + strspn(line, " \t");
        if (!*cmd)
            continue;
        char whole[sizeof(line)];   /* a program gets the whole line, its name first (NT-style) */
        strcpy(whole, cmd);
        char *rest = cmd + strcspn(cmd, " \t");
        if (*rest)
            *rest++ = 0;
        rest += strspn(rest, " \t");
        if (strcmp(cmd, "help") == 0)
            cmd_help();
        else if (strcmp(cmd, "ps") == 0)
            cmd_ps();
        else if (strcmp(cmd, "mem") == 0)
            cmd_mem();
        else if (strcmp(cmd, "devices") == 0)
            cmd_devices();
        else if (strcmp(cmd, "drivers") == 0)
            cmd_drivers();
        else if (strcmp(cmd, "handles") == 0)
            cmd_handles(rest);
        else if (strcmp(cmd, "pci") == 0)
            cmd_pci();
        else if (strcmp(cmd, "prof") == 0)
            cmd_prof(rest);
        else if (strcmp(cmd, "exit") == 0)
            return *rest ? (int)strtol(rest, NULL, 0) : 0;
        else
            run(cmd, whole);
    }
}
