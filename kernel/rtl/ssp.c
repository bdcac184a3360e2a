/*
 * The stack protector. With -fstack-protector-strong the compiler puts
 * __stack_chk_guard (a per-boot random value, set in boot.asm before any C
 * runs) between a function's local arrays and its saved registers, and
 * checks it before returning; a changed value means the function wrote
 * past an array, and it calls __stack_chk_fail instead of returning into
 * what may now be an attacker's address. NT's equivalent is the /GS
 * cookie, whose failure is bugcheck 0x139 with P1 = 2.
 */
#include "kernel/ke/ke.h"

uintptr_t __stack_chk_guard = 0x2B992DDFA23249D6ULL;

__attribute__((noreturn)) void __stack_chk_fail(void)
{
    KeBugCheckRule(KERNEL_SECURITY_CHECK_FAILURE, FAST_FAIL_STACK_COOKIE_CHECK_FAILURE, 0, 0, 0,
                   "a function wrote past a local array over its stack cookie; the function is the caller "
                   "of __stack_chk_fail in the backtrace");
}
