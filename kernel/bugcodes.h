/*
 * Bugcheck codes (NT's values). KeBugCheckEx's report names each one and
 * states the rule it stands for (kernel/bugcheck.c).
 */
#pragma once

#define IRQL_NOT_LESS_OR_EQUAL              0x0000000A
#define KMODE_EXCEPTION_NOT_HANDLED         0x0000001E
#define BAD_POOL_HEADER                     0x00000019
#define NO_PAGES_AVAILABLE                  0x0000004D
#define PFN_LIST_CORRUPT                    0x0000004E
#define NO_MORE_SYSTEM_PTES                 0x0000003F
#define TARGET_MDL_TOO_SMALL                0x00000040
#define PAGE_FAULT_IN_NONPAGED_AREA         0x00000050
#define PROCESS_HAS_LOCKED_PAGES            0x00000076
#define UNEXPECTED_KERNEL_MODE_TRAP         0x0000007F
#define NMI_HARDWARE_FAILURE                0x00000080
#define MACHINE_CHECK_EXCEPTION             0x0000009C
#define BAD_POOL_CALLER                     0x000000C2
#define DRIVER_VERIFIER_DETECTED_VIOLATION  0x000000C4
#define DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS 0x000000CB
#define BUGCODE_ID_DRIVER                   0x000000E1
#define MANUALLY_INITIATED_CRASH            0x000000E2
#define INVALID_MDL_RANGE                   0x0000012E
#define KERNEL_SECURITY_CHECK_FAILURE       0x00000139

/* KERNEL_SECURITY_CHECK_FAILURE parameter 1 (NT's FAST_FAIL_* codes) */
#define FAST_FAIL_STACK_COOKIE_CHECK_FAILURE 2
