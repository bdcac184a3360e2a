/* Exit statuses of user/tests/crasher.c when it does not crash. */
#pragma once
#define CRASHER_SURVIVED     0x5AFE0001   /* the bad access did not fault */
#define CRASHER_UNKNOWN_CASE 0x5AFE0002
#define CRASHER_SETUP_FAILED 0x5AFE0003   /* a system call the case needs failed */
/* The kernel image (linker.ld: 0xFFFFFFFF80000000 + 1 MiB): mapped, but
 * supervisor-only. */
#define CRASHER_KERNEL_IMAGE 0xFFFFFFFF80100000ULL
