/*
 * IoInitSystem: the I/O manager's start at boot (phase 1 in NT). Today it
 * only makes the MDL lookaside list; driver objects and the first drivers
 * start here as they are written.
 */
#include "io/iop.h"

void IoInitSystem(void)
{
    IopInitializeMdls();
}
