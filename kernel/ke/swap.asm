; The context switch. KiSwapContext(old, new) is called at DISPATCH_LEVEL
; by the scheduler. It pushes the callee-saved registers and RFLAGS on the
; old thread's stack, saves RSP in old->KernelStack, loads new->KernelStack
; and pops the new thread's registers: the "return" lands wherever the new
; thread last called KiSwapContext - or, for a thread that never ran, in
; KiThreadStartup, whose frame KeCreateSystemThread built.

default rel
section .text

%define KTHREAD_KERNEL_STACK 24     ; offsetof(KTHREAD, KernelStack): checked by a C static assert

global KiSwapContext
KiSwapContext:                 ; rdi = old, rsi = new
    pushfq
    cli                        ; no interrupt may see a half-switched CPU
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi + KTHREAD_KERNEL_STACK], rsp
    mov rsp, [rsi + KTHREAD_KERNEL_STACK]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    popfq                      ; the new thread's own interrupt flag
    ret

; A new thread's first "return" from KiSwapContext comes here, with the
; start routine in RBX and its context in R12 (set up by the creator).
extern KiThreadStart
global KiThreadStartup
KiThreadStartup:
    xor ebp, ebp               ; the end of this thread's frame chain
    push rbp                   ; and a 16-byte aligned stack for the call
    mov rdi, rbx
    mov rsi, r12
    call KiThreadStart         ; never returns
    ud2
