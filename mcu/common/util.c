/* Debug output, HAL buffer checks and the fatal-error path shared by every board. */
#include "mcu.h"

void mcu_puts(const char *s) {
  while (*s) board_putc(*s++);
}

void mcu_puthex(uint32_t v, int digits) {
  static const char hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; i--) board_putc(hex[(v >> (4 * i)) & 15u]);
}

uint8_t *fw_span(uint32_t ptr, uint32_t len) {
  /* Same rule as the simulator (m4-core.ts `bytes`): the whole span inside linear memory. */
  if (ptr > FW_MEMORY_BYTES || len > FW_MEMORY_BYTES - ptr) mcu_fault("HAL buffer outside memory", ptr, len);
  return fw_memory() + ptr;
}

void mcu_fault(const char *what, uint32_t a, uint32_t b) {
  __asm volatile("cpsid i" ::: "memory");
  mcu_puts("\r\nFAULT ");
  mcu_puts(what);
  mcu_puts(" 0x");
  mcu_puthex(a, 8);
  mcu_puts(" 0x");
  mcu_puthex(b, 8);
  mcu_puts("\r\n");
  board_halt(1);
}
