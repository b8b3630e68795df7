/* The firmware's life on the MCU, the same sequence as the simulated core (boards/mt3620/m4-core.ts):
 * instantiate (data segments + start function), init(), then idle() after every interrupt and WFI in
 * between. Interrupt handlers (board_irq) call the isr_* exports directly; all our IRQs share one
 * priority, so they never nest — as in the simulator, one handler runs at a time. */
#include "mcu.h"

void board_run(void) __attribute__((weak));

int main(void) {
  board_init();
  fw_instantiate();
  board_run();
  return 0;
}

void board_run(void) {
  fw_init();
  for (;;) {
    fw_idle();
    /* Sleep only if no interrupt ran since idle() looked: WFI with PRIMASK set still wakes on a
     * pending interrupt (ARMv7-M B1.5.19), which then runs as soon as PRIMASK is cleared. */
    __asm volatile("cpsid i" ::: "memory");
    if (!mcu_irq_seen) __asm volatile("dsb\n wfi");
    mcu_irq_seen = 0;
    __asm volatile("cpsie i\n isb" ::: "memory");
  }
}
