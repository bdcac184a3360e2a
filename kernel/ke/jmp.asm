; KiSetJmp / KiLongJmp: save and restore the callee-saved registers of the
; System V ABI (RBX, RBP, R12-R15), RSP and the return address. The ktest
; framework uses them to abandon a failed test from deep inside it.

default rel
section .text

global KiSetJmp
KiSetJmp:                      ; int KiSetJmp(KI_JMP_BUF *rdi)
    mov [rdi + 0], rbx
    mov [rdi + 8], rbp
    mov [rdi + 16], r12
    mov [rdi + 24], r13
    mov [rdi + 32], r14
    mov [rdi + 40], r15
    lea rdx, [rsp + 8]         ; RSP as it will be after our return
    mov [rdi + 48], rdx
    mov rdx, [rsp]             ; our return address
    mov [rdi + 56], rdx
    xor eax, eax
    ret

global KiLongJmp
KiLongJmp:                     ; void KiLongJmp(KI_JMP_BUF *rdi, int esi)
    mov rbx, [rdi + 0]
    mov rbp, [rdi + 8]
    mov r12, [rdi + 16]
    mov r13, [rdi + 24]
    mov r14, [rdi + 32]
    mov r15, [rdi + 40]
    mov rsp, [rdi + 48]
    mov eax, esi
    test eax, eax
    jnz .nonzero
    inc eax                    ; setjmp must never appear to return 0 twice
.nonzero:
    jmp [rdi + 56]

; KiCallOnStack(fn, arg, stack_top): call fn(arg) with RSP = stack_top,
; then come back to the caller's stack. Used to run code on a freshly
; made kernel stack (tests; thread start-up later).
global KiCallOnStack
KiCallOnStack:                 ; rdi = fn, rsi = arg, rdx = stack top
    push rbp
    mov rbp, rsp
    and rdx, -16               ; the ABI wants a 16-byte aligned stack at the call
    mov rsp, rdx
    mov rax, rdi
    mov rdi, rsi
    call rax
    mov rsp, rbp
    pop rbp
    ret

; ExpSetJmp(frame): the EX_FRAME starts with a KI_JMP_BUF.
global ExpSetJmp
ExpSetJmp:
    jmp KiSetJmp
