/*
 * user.pci.*: SystemPciList from ring 3 lists the functions the PCI bus
 * driver found on the machine scripts/qemu.sh builds (the in-kernel pci.*
 * tests check the same table from inside): the i440FX and the PIIX3 on
 * bus 0, a bridge to bus 1, the two modern virtio-blk disks with their
 * BARs and MSI-X; and the class's buffer rules.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utest.h>

#define KERNEL_VA 0xFFFFFFFF80100000ULL

static SYSTEM_PCI_T *pci_list(size_t *n)
{
    size_t size = 64 * sizeof(SYSTEM_PCI_T), got = 0;
    SYSTEM_PCI_T *l = malloc(size);
    UT_ASSERT(l != NULL);
    UT_SUCCESS(NtQuerySystemInformation(SystemPciList, l, size, &got));
    UT_EQ(got % sizeof(SYSTEM_PCI_T), 0);
    *n = got / sizeof(SYSTEM_PCI_T);
    return l;
}

static SYSTEM_PCI_T *find(SYSTEM_PCI_T *l, size_t n, uint16_t vendor, uint16_t device, unsigned index)
{
    for (size_t i = 0; i < n; i++)
        if (l[i].VendorId == vendor && l[i].DeviceId == device && index-- == 0)
            return &l[i];
    return NULL;
}

UTEST(pci, lists_the_bridges_and_the_disks)
{
    size_t n;
    SYSTEM_PCI_T *l = pci_list(&n);
    UT_GE(n, 8);
    SYSTEM_PCI_T *host = find(l, n, 0x8086, 0x1237, 0), *isa = find(l, n, 0x8086, 0x7000, 0);
    UT_ASSERT(host && isa);
    UT_EQ(host->Bus, 0);
    UT_EQ(host->BaseClass, 6);
    UT_STREQ(host->DriverName, "\\Driver\\Pci");
    UT_EQ(isa->Bus, 0);
    UT_EQ(isa->SubClass, 1);
    SYSTEM_PCI_T *bridge = NULL;
    for (size_t i = 0; i < n; i++)
        if (l[i].HeaderType == 1)
            bridge = &l[i];
    UT_ASSERT(bridge != NULL);
    UT_EQ(bridge->SecondaryBus, 1);
    UT_EQ(bridge->BarCount, 2);
    for (unsigned k = 0; k < 2; k++) {
        SYSTEM_PCI_T *d = find(l, n, 0x1AF4, 0x1042, k);
        UT_ASSERT_MSG(d != NULL, "virtio-blk %u missing", k);
        UT_EQ(d->Bus, k);                      /* the first on bus 0, the second behind the bridge */
        UT_EQ(d->BaseClass, 1);
        UT_GE(d->Revision, 1);
        UT_EQ(d->InterruptPin, 1);
        UT_EQ(d->MsixTableSize, 2);
        UT_NE(d->MsixCap, 0);
        UT_EQ(d->Bars[0].Type, 0);
        UT_EQ(d->Bars[1].Type, 2);
        UT_EQ(d->Bars[1].Size, 0x1000);
        UT_EQ(d->Bars[4].Type, 3);
        UT_EQ(d->Bars[4].Size, 0x4000);
        UT_EQ(d->Bars[4].Prefetchable, 1);
        UT_EQ(d->Bars[5].Type, 4);
        UT_EQ(d->VendorCapCount, 5);
        unsigned seen = 0;
        for (unsigned v = 0; v < d->VendorCapCount; v++)
            seen |= 1u << d->VendorCfgTypes[v];
        UT_EQ(seen, 0x3E);                      /* cfg_types 1-5 */
        UT_STREQ(d->DriverName, "\\Driver\\Vblk");   /* drivers/virtio */
    }
    UT_EQ(find(l, n, 0x1AF4, 0x1042, 2), NULL);
    /* Each function once. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            UT_ASSERT(l[i].Bus != l[j].Bus || l[i].Device != l[j].Device || l[i].Function != l[j].Function);
    free(l);
}

UTEST(pci, buffer_rules)
{
    size_t n, got = 0;
    SYSTEM_PCI_T *l = pci_list(&n);
    /* One entry short: the length it needs, nothing else. */
    UT_STATUS(NtQuerySystemInformation(SystemPciList, l, (n - 1) * sizeof(SYSTEM_PCI_T), &got),
              STATUS_INFO_LENGTH_MISMATCH);
    UT_EQ(got, n * sizeof(SYSTEM_PCI_T));
    /* The same table twice: it is filled once at boot. */
    SYSTEM_PCI_T *again = pci_list(&got);
    UT_EQ(got, n);
    UT_MEMEQ(again, l, n * sizeof(SYSTEM_PCI_T));
    UT_FAILS(NtQuerySystemInformation(SystemPciList, (void *)KERNEL_VA, n * sizeof(SYSTEM_PCI_T), NULL));
    UT_FAILS(NtQuerySystemInformation(SystemPciList, (char *)l + 1, n * sizeof(SYSTEM_PCI_T), NULL));
    free(again);
    free(l);
}

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}
