/* Cortex-M4F startup shared by every board: the vector table, the reset handler (copy .data,
 * zero .bss, enable the FPU), fault handlers that report over the debug UART and halt.
 * References: ARMv7-M Architecture Reference Manual (ARM DDI 0403E) B1.5 (exception model,
 * vector table), B3.2.20 (CPACR at 0xE000ED88), B1.4.3 (IPSR). */
#include <stdint.h>
#include "mcu.h"

extern uint32_t __stack_top, __stack_bottom, __data_load, __data_start, __data_end, __bss_start, __bss_end;
int main(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u) /* coprocessor access control */
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)  /* configurable fault status */
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)

volatile uint32_t mcu_irq_seen;

#define STACK_PAINT 0x5AC3A55Au

/* Deepest stack use since reset: bytes from the top to the lowest word no longer painted. */
uint32_t mcu_stack_used(void) {
  uint32_t *p = &__stack_bottom;
  while (p < &__stack_top && *p == STACK_PAINT) p++;
  return (uint32_t)((uint8_t *)&__stack_top - (uint8_t *)p);
}

__attribute__((noreturn)) void Reset_Handler(void) {
  uint32_t *src = &__data_load, *dst = &__data_start;
  while (dst < &__data_end) *dst++ = *src++;
  for (dst = &__bss_start; dst < &__bss_end; dst++) *dst = 0;
  /* Paint the stack below us, so mcu_stack_used() can find the high-water mark. */
  uint32_t sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (dst = &__stack_bottom; (uint32_t)dst < sp - 64u; dst++) *dst = STACK_PAINT;
  SCB_CPACR |= 0xFu << 20; /* CP10, CP11 full access: the FPU (single precision) */
  __asm volatile("dsb\n isb");
  main();
  for (;;) board_halt(2);
}

/* Faults: the stacked PC (frame word 6) tells where; CFSR/HFSR tell why. */
__attribute__((used)) void fault_report(uint32_t *frame, uint32_t exc) {
  mcu_puts("\r\nCPU FAULT exception ");
  mcu_puthex(exc, 2);
  mcu_puts(" pc 0x");
  mcu_puthex(frame[6], 8);
  mcu_puts(" cfsr 0x");
  mcu_puthex(SCB_CFSR, 8);
  mcu_puts(" hfsr 0x");
  mcu_puthex(SCB_HFSR, 8);
  mcu_puts("\r\n");
  board_halt(3);
}

__attribute__((naked)) void Fault_Handler(void) {
  __asm volatile(
      "tst lr, #4\n"
      "ite eq\n"
      "mrseq r0, msp\n"
      "mrsne r0, psp\n"
      "mrs r1, ipsr\n"
      "b fault_report\n");
}

/* Every external interrupt enters here; IPSR holds 16 + the NVIC IRQ number. */
void Irq_Handler(void) {
  uint32_t ipsr;
  __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
  mcu_irq_seen = 1;
  board_irq(ipsr - 16u);
}

static void Ignore_Handler(void) {}

#define IRQS 64 /* MT3620 M4: mailbox IRQ 11, EINT0..23 = IRQ 20..43; mps2-an386: timers 8, 9 */

__attribute__((section(".vectors"), used)) void (*const vector_table[16 + IRQS])(void) = {
  (void (*)(void))&__stack_top,
  Reset_Handler,
  Fault_Handler, /* NMI */
  Fault_Handler, /* HardFault */
  Fault_Handler, /* MemManage */
  Fault_Handler, /* BusFault */
  Fault_Handler, /* UsageFault */
  0, 0, 0, 0,
  Ignore_Handler, /* SVCall */
  Ignore_Handler, /* DebugMonitor */
  0,
  Ignore_Handler, /* PendSV */
  Ignore_Handler, /* SysTick */
  [16 ... 16 + IRQS - 1] = Irq_Handler,
};
