/* lxb.h: what the Linux-side benchmark programs share: the TSC, a
 * calibration of it against CLOCK_MONOTONIC_RAW, and the one output line.
 *
 * Every figure is printed as
 *     lx: NAME UNIT V1 V2 ... Vn
 * one value per repetition (after a warm-up that is not printed); the host
 * (scripts/linux/run.py) takes the median, minimum and maximum over all
 * repetitions of all boots and prints `bench: linux.NAME ...` lines.
 * Under QEMU's TCG the guest's RDTSC reads the host's TSC (plus an offset),
 * so cycles here are host TSC cycles, the unit mdlos's `make bench` uses. */
#ifndef LXB_H
#define LXB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t lxb_rdtsc(void)
{
    uint32_t lo, hi;
    /* LFENCE keeps the read from passing earlier loads on real hardware;
     * under TCG instructions retire in order anyway. */
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t lxb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* TSC cycles per nanosecond, measured once by lxb_calibrate(). */
extern double lxb_tsc_per_ns;
void lxb_calibrate(void);

static inline double lxb_cycles_to_ns(uint64_t cycles)
{
    return (double)cycles / lxb_tsc_per_ns;
}

/* Print one figure's repetitions: "lx: NAME UNIT v1 v2 ...". */
void lxb_report(const char *name, const char *unit, const double *values, int n);

/* A fatal error: say so on the console (the host sees "lx: error") and
 * leave with status 1. */
void lxb_die(const char *what);

int lxb_cpu_main(int argc, char **argv);
int lxb_disk_main(int argc, char **argv);
int lxb_swap_main(int argc, char **argv);

#endif
