/* PCI configuration mechanism #1 through HalGetBusDataByOffset. */
#include "kernel/mdlos.h"

KTEST(halpci, reads_the_host_bridge_ids)
{
    USHORT v = 0, dev = 0;
    KT_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, PCI_SLOT(0, 0), &v, 0, 2), 2);
    KT_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, PCI_SLOT(0, 0), &dev, 2, 2), 2);
    KT_EQ(v, 0x8086);
    KT_EQ(dev, 0x1237);            /* QEMU's i440FX */
}

KTEST(halpci, absent_function_reads_all_ones)
{
    ULONG v = 0;
    KT_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, PCI_SLOT(31, 7), &v, 0, 4), 4);
    KT_EQ(v, 0xFFFFFFFF);
    KT_EQ(HalGetBusDataByOffset(PCIConfiguration, 200, PCI_SLOT(0, 0), &v, 0, 4), 4);   /* no bus 200 */
    KT_EQ(v, 0xFFFFFFFF);
}

KTEST(halpci, unaligned_ranges_split_into_aligned_accesses)
{
    UCHAR whole[16], piece[13];
    KT_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, PCI_SLOT(0, 0), whole, 0, 16), 16);
    KT_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, PCI_SLOT(0, 0), piece, 1, 13), 13);
    KT_MEMEQ(piece, whole + 1, 13);
    /* Past the 256 bytes: clipped, then nothing; a bus type other than PCI: nothing. */
    ULONG v;
    KT_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, PCI_SLOT(0, 0), &v, 254, 4), 2);
    KT_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, PCI_SLOT(0, 0), &v, 256, 4), 0);
    KT_EQ(HalGetBusDataByOffset(Cmos, 0, 0, &v, 0, 4), 0);
}
