/* Robust figures for the mm benchmarks (mm/tests/bench_*.c) on a shared,
 * noisy host: a figure is timed as many short batches, and the batch
 * median is reported (with the minimum beside it). Under TCG the vCPU
 * thread is descheduled for whole host time slices when the machine is
 * busy; a batch of a few tens of microseconds rarely straddles one, so the
 * median batch is the code's cost, not the host's load. */
#pragma once
#include "kernel/mdlos.h"

#define BENCH_BATCHES 31

static inline void bench_sort(uint64_t *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

/* Report NAME (median per unit of work) and NAME_min from BENCH_BATCHES
 * batch times, each covering UNITS units of work. */
static inline void bench_report_batches(const char *name, uint64_t *batch, uint64_t units)
{
    char min_name[96];
    bench_sort(batch, BENCH_BATCHES);
    KtBenchReport(name, batch[BENCH_BATCHES / 2] / units, "cycles");
    ksnprintf(min_name, sizeof(min_name), "%s_min", name);
    KtBenchReport(min_name, batch[0] / units, "cycles");
}
