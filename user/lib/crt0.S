/*
 * _start: where every user program begins (the ELF entry point). The
 * kernel enters with RSP at the top of the initial stack; nothing else is
 * assumed about the registers. Sets the stack-protector cookie, aligns the
 * stack as the SysV ABI wants at a call, and hands over to C.
 */
    .section .text.start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    xorl %ebp, %ebp                 /* the end of the frame-pointer chain */
    andq $-16, %rsp
    /* A cookie that is not a constant: mixes the stack address in. Set
       before any C function runs, as those check it on return. */
    movabsq $0x2F8A1C66E5D3B7A9, %rax
    movq %rsp, %rcx
    rolq $29, %rcx
    xorq %rcx, %rax
    movb $0, %al                    /* a NUL byte stops string overflows */
    movq %rax, __stack_chk_guard(%rip)
    call __libc_start               /* never returns */
    ud2
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
