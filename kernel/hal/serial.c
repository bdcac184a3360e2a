/*
 * COM1, a 16550 UART at I/O port 0x3F8, polled. Under QEMU `-serial stdio`
 * every byte written to the transmit register appears on the host terminal,
 * which is how `make run` and the test runner see the kernel.
 */
#include "kernel/hal/halp.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"

#define COM1 0x3F8
#define UART_DATA 0        /* DLAB=0: transmit/receive buffer */
#define UART_IER  1        /* interrupt enable; DLAB=1: divisor high byte */
#define UART_FCR  2        /* FIFO control */
#define UART_LCR  3        /* line control: word length, DLAB bit 7 */
#define UART_MCR  4        /* modem control: DTR, RTS, OUT2 */
#define UART_LSR  5        /* line status: bit 0 data ready, bit 5 THR empty */

void HalSerialInit(void)
{
    outb(COM1 + UART_IER, 0x00);        /* polled: no UART interrupts */
    outb(COM1 + UART_LCR, 0x80);        /* DLAB=1 to reach the divisor */
    outb(COM1 + UART_DATA, 0x01);       /* 115200 / 1 = 115200 baud */
    outb(COM1 + UART_IER, 0x00);
    outb(COM1 + UART_LCR, 0x03);        /* 8 data bits, no parity, 1 stop */
    outb(COM1 + UART_FCR, 0xC7);        /* FIFOs on and cleared, 14-byte trigger */
    outb(COM1 + UART_MCR, 0x03);        /* DTR + RTS */
}

static void raw_put(char c)
{
    /* Bounded wait: a missing UART must not hang the kernel forever. */
    for (int spin = 0; spin < 100000 && !(inb(COM1 + UART_LSR) & 0x20); spin++)
        ;
    outb(COM1 + UART_DATA, (uint8_t)c);
}

void HalSerialPutChar(char c)
{
    if (c == '\n')
        raw_put('\r');  /* terminals want CR LF */
    raw_put(c);
}

int HalSerialGetChar(void)
{
    if (!(inb(COM1 + UART_LSR) & 0x01))
        return -1;
    return inb(COM1 + UART_DATA);
}
