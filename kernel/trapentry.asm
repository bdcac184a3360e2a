; Trap entry stubs. The CPU pushes SS, RSP, RFLAGS, CS, RIP (and for some
; exceptions an error code); each stub makes the frame uniform by pushing a
; zero error code where the CPU does not, then the vector number. The common
; path saves every general register into a KTRAP_FRAME (kernel/ki.h) and
; calls KiTrapDispatch(frame).

default rel
section .text
extern KiTrapDispatch

; Exceptions that push an error code (Intel SDM vol. 3, table 6-1).
%macro TRAP_STUB 1
align 16
KiTrap%1:
%if %1 == 8 || %1 == 10 || %1 == 11 || %1 == 12 || %1 == 13 || %1 == 14 || %1 == 17 || %1 == 21 || %1 == 29 || %1 == 30
%else
    push 0
%endif
    push %1
    jmp KiTrapCommon
%endmacro

%assign v 0
%rep 256
TRAP_STUB v
%assign v v + 1
%endrep

align 16
global KiTrapCommon
KiTrapCommon:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp              ; KTRAP_FRAME *
    cld                       ; the C ABI assumes DF=0
    ; 5 CPU words + 2 stub words + 15 registers = 176 bytes: RSP is still
    ; 16-byte aligned here (the CPU aligned it before pushing), as a call needs.
    call KiTrapDispatch
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16               ; vector and error code
    iretq

section .rodata
global KiTrapStubs
align 8
KiTrapStubs:
%assign v 0
%rep 256
    dq KiTrap %+ v
%assign v v + 1
%endrep
