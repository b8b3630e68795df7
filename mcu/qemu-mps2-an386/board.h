/* ARM MPS2 FPGA image AN386 (Cortex-M4F) as QEMU models it (`qemu-system-arm -M mps2-an386`).
 * References: ARM AN386 application note ("Cortex-M4 SMM on V2M-MPS2"), memory map and IRQ table;
 * CMSDK APB timer and UART: ARM DDI 0479 (Cortex-M System Design Kit TRM) 4.3 and 4.4. */
#ifndef MPS2_BOARD_H
#define MPS2_BOARD_H
#include <stdint.h>
#define REG(a) (*(volatile uint32_t *)(a))

#define SYSCLK_HZ 25000000u /* AN386 FPGA system clock; QEMU's mps2 models it */

/* CMSDK APB timers (DDI 0479 4.3): down-counters, interrupt when VALUE reaches 0, then reload. */
#define TIMER0 0x40000000u /* NVIC IRQ 8: our one-shot compare timer (HAL timer id 0) */
#define TIMER1 0x40001000u /* NVIC IRQ 9: free-running, extended to 64 bits for counter_us */
#define T_CTRL 0x00u       /* bit 0 enable, bit 3 interrupt enable */
#define T_VALUE 0x04u
#define T_RELOAD 0x08u
#define T_INT 0x0Cu        /* read: INTSTATUS, write 1: INTCLEAR */
#define T_CTRL_EN 1u
#define T_CTRL_IRQ 8u
#define IRQ_TIMER0 8u
#define IRQ_TIMER1 9u

/* CMSDK APB UART0 (DDI 0479 4.4) */
#define UART0 0x40004000u
#define U_DATA 0x00u
#define U_STATE 0x04u  /* bit 0: TX buffer full */
#define U_CTRL 0x08u   /* bit 0: TX enable */
#define U_BAUDDIV 0x10u

/* NVIC (ARMv7-M B3.4) */
#define NVIC_ISER0 0xE000E100u
#define NVIC_ICER0 0xE000E180u
#define NVIC_ISPR0 0xE000E200u
#define NVIC_ICPR0 0xE000E280u
#define NVIC_IPR(n) (0xE000E400u + (n))

void mps2_uart_init(void);
void mps2_write_frame(char tag, const uint8_t *p, uint32_t len);
#endif
