/*
 * KeFlushIoBuffers: keep the processor's caches and memory in step around
 * a DMA transfer. On x86 there is nothing to do: device DMA is
 * cache-coherent - a bus master's reads are snooped (they see data still
 * in a CPU cache) and its writes invalidate the cached copies (Intel SDM
 * vol. 3, 11.3: write-back memory is kept coherent with bus agents). NT's
 * x86/x64 KeFlushIoBuffers is an empty macro for this reason. On a
 * machine without snooping (some ARM systems), the cache lines of the
 * buffer would be written back before a device reads it and invalidated
 * before the processor reads what a device wrote; the calls stay in
 * mdlos's DMA code so a reader sees where that work belongs.
 */
#include "io/io.h"

volatile ULONG64 KiFlushIoBuffersCalls;   /* how often the DMA code asked (tests check the call sites) */

void KeFlushIoBuffers(PMDL Mdl, BOOLEAN ReadOperation, BOOLEAN DmaOperation)
{
    UNREFERENCED_PARAMETER(Mdl);
    UNREFERENCED_PARAMETER(ReadOperation);
    UNREFERENCED_PARAMETER(DmaOperation);
    KiFlushIoBuffersCalls++;
}
