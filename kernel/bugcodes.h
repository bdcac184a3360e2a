/*
 * Every bugcheck code the kernel raises, by NT's name and value (bugcodes.h
 * in the WDK), in value order; code names a bugcheck by these, never by
 * number. KeBugCheckEx's report names each one and states the rule it
 * stands for (kernel/ke/bugcheck.c).
 */
#pragma once

#define APC_INDEX_MISMATCH                    0x00000001
#define INVALID_PROCESS_ATTACH_ATTEMPT        0x00000005
#define IRQL_NOT_GREATER_OR_EQUAL             0x00000009
#define IRQL_NOT_LESS_OR_EQUAL                0x0000000A
#define SPIN_LOCK_ALREADY_OWNED               0x0000000F
#define SPIN_LOCK_NOT_OWNED                   0x00000010
#define THREAD_NOT_MUTEX_OWNER                0x00000011
#define REFERENCE_BY_POINTER                  0x00000018
#define BAD_POOL_HEADER                       0x00000019
#define MEMORY_MANAGEMENT                     0x0000001A
#define KMODE_EXCEPTION_NOT_HANDLED           0x0000001E
#define PHASE0_INITIALIZATION_FAILED          0x00000031
#define NO_MORE_IRP_STACK_LOCATIONS           0x00000035
#define NO_MORE_SYSTEM_PTES                   0x0000003F
#define TARGET_MDL_TOO_SMALL                  0x00000040
#define MULTIPLE_IRP_COMPLETE_REQUESTS        0x00000044
#define CANCEL_STATE_IN_COMPLETED_IRP         0x00000048
#define IRQL_GT_ZERO_AT_SYSTEM_SERVICE        0x0000004A
#define NO_PAGES_AVAILABLE                    0x0000004D
#define PFN_LIST_CORRUPT                      0x0000004E
#define PAGE_FAULT_IN_NONPAGED_AREA           0x00000050
#define PROCESS_HAS_LOCKED_PAGES              0x00000076
#define KERNEL_DATA_INPAGE_ERROR              0x0000007A
#define UNEXPECTED_KERNEL_MODE_TRAP           0x0000007F
#define NMI_HARDWARE_FAILURE                  0x00000080
#define MACHINE_CHECK_EXCEPTION               0x0000009C
#define ATTEMPTED_WRITE_TO_READONLY_MEMORY    0x000000BE
#define BAD_POOL_CALLER                       0x000000C2
#define DRIVER_VERIFIER_DETECTED_VIOLATION    0x000000C4
#define DRIVER_VERIFIER_IOMANAGER_VIOLATION   0x000000C9
#define IRQL_UNEXPECTED_VALUE                 0x000000C8
#define DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS   0x000000CB
#define DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS 0x000000CE
#define SYSTEM_PTE_MISUSE                     0x000000DA
#define BUGCODE_ID_DRIVER                     0x000000E1
#define MANUALLY_INITIATED_CRASH              0x000000E2
#define DRIVER_VERIFIER_DMA_VIOLATION         0x000000E6
#define ATTEMPTED_EXECUTE_OF_NOEXECUTE_MEMORY 0x000000FC
#define INVALID_MDL_RANGE                     0x0000012E
#define KERNEL_SECURITY_CHECK_FAILURE         0x00000139
#define BAD_OBJECT_HEADER                     0x00000189

/* KERNEL_SECURITY_CHECK_FAILURE parameter 1 (NT's FAST_FAIL_* codes) */
#define FAST_FAIL_STACK_COOKIE_CHECK_FAILURE 2
