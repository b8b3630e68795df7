/* mps2-an386 pieces shared by the normal build (hal.c) and the replay build (replay.c):
 * the debug UART, framed output lines and the exit path. */
#include "board.h"
#include "mcu.h"

void mps2_uart_init(void) {
  REG(UART0 + U_BAUDDIV) = SYSCLK_HZ / 115200u;
  REG(UART0 + U_CTRL) = 1u; /* TX enable */
}

void board_putc(char c) {
  while (REG(UART0 + U_STATE) & 1u) {} /* TX buffer full */
  REG(UART0 + U_DATA) = (uint8_t)c;
}

/* One mailbox message (or other binary record) as a text line: "@<tag> <hex bytes>\r\n".
 * Hex lines survive any terminal and are trivially framed (mcu/README.md, "UART framing"). */
void mps2_write_frame(char tag, const uint8_t *p, uint32_t len) {
  board_putc('@');
  board_putc(tag);
  board_putc(' ');
  for (uint32_t i = 0; i < len; i++) mcu_puthex(p[i], 2);
  board_putc('\r');
  board_putc('\n');
}

/* ARM semihosting SYS_EXIT (0x18) through BKPT 0xAB: QEMU (-semihosting-config enable=on) exits,
 * status 0 for ADP_Stopped_ApplicationExit (0x20026), 1 otherwise. On a board without a debugger
 * the BKPT faults; we then spin. */
void board_halt(uint32_t code) {
  register uint32_t r0 __asm("r0") = 0x18u;
  register uint32_t r1 __asm("r1") = code == 0 ? 0x20026u : 0x20023u;
  __asm volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
  for (;;) __asm volatile("wfi");
}
