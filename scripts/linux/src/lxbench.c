/* lxbench: the Linux side of mdlos's `make bench`, one static program with
 * a subcommand per group of figures (it runs as the guest's only process,
 * started by scripts/linux/init.sh):
 *     lxbench cpu               null system call, demand-zero faults, page pins
 *     lxbench disk DEVICE       O_DIRECT throughput and latency, QD 1 and 32
 *     lxbench swap MIB          the 2x-RAM checksummed paging workload
 *     lxbench exit CODE         leave QEMU through isa-debug-exit (port 0xf4)
 */
#include "lxb.h"

#include <string.h>
#include <sys/io.h>
#include <unistd.h>

double lxb_tsc_per_ns;

void lxb_calibrate(void)
{
    /* 200 ms against the kernel's raw monotonic clock: long enough that the
     * two reads at each end (each a few microseconds under TCG) stay below
     * 0.01%. */
    uint64_t n0 = lxb_now_ns(), c0 = lxb_rdtsc();
    while (lxb_now_ns() - n0 < 200000000ull)
        ;
    uint64_t n1 = lxb_now_ns(), c1 = lxb_rdtsc();
    lxb_tsc_per_ns = (double)(c1 - c0) / (double)(n1 - n0);
    printf("lx: tsc.cycles_per_ms cycles %.0f\n", lxb_tsc_per_ns * 1e6);
}

void lxb_report(const char *name, const char *unit, const double *values, int n)
{
    printf("lx: %s %s", name, unit);
    for (int i = 0; i < n; i++)
        printf(" %.6g", values[i]);
    printf("\n");
    fflush(stdout);
}

void lxb_die(const char *what)
{
    printf("lx: error %s\n", what);
    perror(what);
    fflush(stdout);
    exit(1);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "exit") == 0) {
        /* QEMU's isa-debug-exit device ends QEMU with status (value << 1) | 1
         * when a value is written to its port, as mdlos's kernel does. */
        if (ioperm(0xf4, 4, 1) != 0)
            lxb_die("ioperm");
        outl((unsigned)strtoul(argv[2], NULL, 0), 0xf4);
        return 1;   /* not reached while the device is there */
    }
    if (argc < 2) {
        fprintf(stderr, "usage: lxbench cpu | disk DEVICE | swap MIB | exit CODE\n");
        return 2;
    }
    lxb_calibrate();
    if (strcmp(argv[1], "cpu") == 0)
        return lxb_cpu_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "disk") == 0)
        return lxb_disk_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "swap") == 0)
        return lxb_swap_main(argc - 1, argv + 1);
    fprintf(stderr, "lxbench: unknown subcommand %s\n", argv[1]);
    return 2;
}
