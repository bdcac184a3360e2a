; Trap entry stubs. The CPU pushes SS, RSP, RFLAGS, CS, RIP (and for some
; exceptions an error code); each stub makes the frame uniform by pushing a
; zero error code where the CPU does not, then the vector number. The common
; path saves every general register into a KTRAP_FRAME (kernel/ke/ki.h) and
; calls KiTrapDispatch(frame).

default rel
section .text

extern KiTrapDispatch

; The general registers in KTRAP_FRAME order (kernel/ke/ki.h): RAX is
; pushed first, so R15 ends up at the lowest address, where the frame starts.
%macro PUSH_GPRS 0
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
%endmacro
%macro POP_GPRS 0
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
%endmacro


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
    ; From ring 3 (the saved CS has RPL 3), GS still holds the user's
    ; base: SWAPGS to get the kernel's (the PRCB) and swap back on exit.
    test byte [rsp + 24], 3
    jz .from_kernel
    swapgs
.from_user:
    ; The CPU does not clear RFLAGS.AC on an interrupt: a user program that
    ; set it would switch SMAP off for the kernel. Clear it (IRETQ restores
    ; the user's own RFLAGS from the frame). NT, TF, RF and VM the CPU
    ; clears itself when it delivers an interrupt (SDM vol. 3, 6.12.1.3).
    pushfq
    and qword [rsp], ~0x40000
    popfq
    PUSH_GPRS
    mov rdi, rsp              ; KTRAP_FRAME *
    cld                       ; the C ABI assumes DF=0
    ; 5 CPU words + 2 stub words + 15 registers = 176 bytes: RSP is still
    ; 16-byte aligned here (the CPU aligned it before pushing), as a call needs.
    call KiTrapDispatch
    jmp KiExitToUser          ; (unless KiTrapDispatch ended the process)

.from_kernel:
    ; Ring 0 was interrupted, and GS is normally the kernel's - except in
    ; the few instructions between SYSCALL and its SWAPGS and between an
    ; exit's SWAPGS and its IRETQ. Only an NMI, a machine check, a double
    ; fault or a fault of the IRETQ itself can arrive there (interrupts
    ; are off), and all of them end in a bugcheck that reads the PRCB
    ; through GS: with the user's base it would fault again, and again.
    ; The base itself says whose it is: the kernel's is the PRCB, a high-
    ; half address; a user's is below 4 GiB, since ring 3 can only load
    ; one from a descriptor (CR4.FSGSBASE is off: WRGSBASE is #UD there).
    push rax
    push rcx
    push rdx
    mov ecx, 0xC0000101       ; IA32_GS_BASE
    rdmsr
    test edx, edx             ; bit 63 of the base
    pop rdx
    pop rcx
    pop rax
    js .kernel_gs
    swapgs
    PUSH_GPRS
    mov rdi, rsp
    cld
    call KiTrapDispatch
    POP_GPRS
    add rsp, 16
    swapgs                    ; the interrupted code had the user's GS
    iretq
.kernel_gs:
    PUSH_GPRS
    mov rdi, rsp
    cld
    call KiTrapDispatch
    POP_GPRS
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

section .text
; ---------------------------------------------------------------------
; The SYSCALL entry (IA32_LSTAR). SYSCALL saved the user RIP in RCX and
; RFLAGS in R11, masked RFLAGS (IF off, by IA32_FMASK) and loaded the
; kernel CS/SS - but not RSP: we are still on the user's stack, which must
; not be touched. SWAPGS makes GS the PRCB; the user RSP is parked there,
; the thread's kernel stack loaded, and a KTRAP_FRAME built with the
; interrupt frame's layout.
;
; A light frame, as NT's KiSystemCall64 builds: only what the way back
; needs and what the C code does not keep by itself. RBX and R12-R15 are
; callee-saved in the C ABI (SysV AMD64), so KiSystemService and every
; service give them back unchanged, and SYSRET returns them straight from
; the registers: saving them would be 5 stores and 5 loads for nothing,
; and under TCG each is an inline software-TLB check (most of a null
; call's translated code). RCX and R11 are not saved either: SYSCALL
; already overwrote them with RIP and RFLAGS, which are in the frame. RBP
; is stored (not reloaded: it is callee-saved too) so that a backtrace
; through the frame still finds the caller's frame pointer. Their slots
; are left unwritten: only the SYSRET path below may use such a frame, and
; NT does the same (its system-call trap frame has no R12-R15; a context
; call saves them apart when it needs them). The registers a system call
; keeps for ring 3 (all but RAX, RCX and R11: user.syscall.registers_preserved)
; are the argument registers, reloaded from the frame, and these five.
extern KiSystemService
global KiSystemCall64
KiSystemCall64:
    swapgs
    mov [gs:8], rsp            ; PRCB->UserRsp
    mov rsp, [gs:16]           ; PRCB->KernelRsp
    push qword 0x23            ; SS: user data | RPL 3
    push qword [gs:8]          ; RSP
    push r11                   ; RFLAGS
    push qword 0x2B            ; CS: user code | RPL 3
    push rcx                   ; RIP
    push qword 0               ; error code
    push qword 0x100           ; "vector" 0x100 marks a system call
    push rax                   ; the service number; the status goes here
    sub rsp, 16                ; RBX, RCX: not saved (see above)
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    sub rsp, 40                ; R11, R12-R15: not saved
    mov rdi, rsp
    cld
    sti                        ; system services run with interrupts on
    call KiSystemService       ; the status in the frame's RAX; APCs run, frame checked,
    ; interrupts off: KiExitToUser's work is done. Back by SYSRET: it takes
    ; RIP from RCX and RFLAGS from R11 and loads CS and SS from IA32_STAR
    ; without reading the GDT, which costs far less than IRETQ (under TCG,
    ; a helper that reads five words and two descriptors). KiCheckUserFrame
    ; has made RIP canonical - SYSRET with a non-canonical RCX faults in
    ; ring 0 on Intel CPUs, after the SWAPGS - and sanitized RFLAGS. Between
    ; the SWAPGS and SYSRET interrupts are off; an NMI or #MC arrives on its
    ; IST stack and finds the user's GS base by its value (KiTrapCommon).
    add rsp, 40                ; R15..R11
    pop r10
    pop r9
    pop r8
    add rsp, 8                 ; RBP: still the caller's, the C code kept it
    pop rdi
    pop rsi
    pop rdx
    add rsp, 16                ; RCX, RBX
    pop rax
    add rsp, 16                ; vector and error code
    mov rcx, [rsp]             ; RIP
    mov r11, [rsp + 16]        ; RFLAGS
    mov rsp, [rsp + 24]        ; the user's RSP: nothing is pushed from here on
    swapgs
    o64 sysret

; Leave to ring 3 through the frame at RSP: after a system call, an
; interrupt or exception from ring 3, or when a new user thread starts
; (KiStartUserThread). Every way back to ring 3 passes here, so here is
; where the frame is made safe to IRETQ to: KiCheckUserFrame sanitizes
; RFLAGS and checks CS, SS and RIP. An IRETQ that faults does so in ring
; 0 after the SWAPGS, with the user's GS - so it must never fault
; (KiCheckUserFrame explains why checking beats a Linux-style fixup).
; First the thread's queued APCs run (KiApcExitToUser, kernel/ke/apc.c:
; every return to ring 3 is a delivery point, the clock preempting a user
; thread included); they enable interrupts while they run and return with
; them off, so nothing can be queued unseen between the check and IRETQ.
extern KiCheckUserFrame
extern KiApcExitToUser
global KiExitToUser
global KiIretToUser
KiExitToUser:
    mov rbp, rsp              ; RBP is reloaded from the frame below
    and rsp, -16              ; a kernel-built frame need not be aligned
    mov rdi, rbp
    call KiApcExitToUser
    mov rdi, rbp
    call KiCheckUserFrame
    mov rsp, rbp
    ; Every frame here (an interrupt or exception from ring 3, a new
    ; thread's) gets all its registers back, by IRETQ. A system call's
    ; light frame never comes here: it has its own way out above.
    POP_GPRS
    add rsp, 16
    swapgs                     ; back to the user's GS
KiIretToUser:
    iretq

; SYSCALL from compatibility mode (32-bit code in ring 3, which the user
; code segment KGDT64_R3_CMCODE allows) goes to IA32_CSTAR on AMD CPUs and
; QEMU, and is #UD on Intel's. mdlos has no 32-bit system services: make
; it the #UD Intel raises, through the common trap path, so the process
; ends with STATUS_ILLEGAL_INSTRUCTION on either vendor. (With CSTAR left
; at 0, ring 0 jumped to address 0 on the user's stack and GS.)
global KiSystemCall32
KiSystemCall32:
    swapgs
    mov [gs:8], rsp
    mov rsp, [gs:16]
    push qword 0x23            ; SS
    push qword [gs:8]          ; RSP
    push r11                   ; RFLAGS
    push qword 0x1B            ; CS: the 32-bit user code segment | RPL 3
    sub rcx, 2                 ; RIP: the SYSCALL itself, as a #UD reports it
    push rcx
    push qword 0               ; error code
    push qword 6               ; #UD
    jmp KiTrapCommon.from_user

; KiStartUserThread(frame): enter ring 3 for the first time through a
; KTRAP_FRAME built by the kernel on the thread's kernel stack (the stack
; below it is used by KiExitToUser's call to KiCheckUserFrame).
global KiStartUserThread
KiStartUserThread:
    cli
    mov rsp, rdi
    jmp KiExitToUser
