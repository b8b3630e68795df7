/* The bootloader image for QEMU mps2-an386 (rover flash --target qemu://mps2-an386): the protocol
 * of mcu/bootloader/boot.c over UART0, polled (CMSDK UART, DDI 0479 4.4: STATE bit 1 = RX full). */
#include "board.h"
#include "mcu.h"
#include "boot.h"

int main(void) {
  mps2_uart_init();
  REG(UART0 + U_CTRL) = 3u; /* TX and RX enable */
  for (;;) {
    while (!(REG(UART0 + U_STATE) & 2u)) {}
    boot_rx((uint8_t)REG(UART0 + U_DATA));
  }
}

/* QEMU cannot run the MT3620 image: the check is its ELF header (ELF32, little-endian, EM_ARM,
 * Thumb entry point inside the MT3620 TCM at 0x00100000, 192 KB: mcu/mt3620/linker.ld). */
const char *board_boot_check(const uint8_t *e, uint32_t len) {
  if (len < 52 || e[0] != 0x7F || e[1] != 'E' || e[2] != 'L' || e[3] != 'F') return "not an ELF file";
  if (e[4] != 1 || e[5] != 1 || (e[18] | e[19] << 8) != 40) return "not a 32-bit little-endian ARM ELF";
  uint32_t entry = e[24] | e[25] << 8 | e[26] << 16 | (uint32_t)e[27] << 24;
  if (!(entry & 1u) || entry < 0x00100000u || entry >= 0x00100000u + 192u * 1024u) return "entry point outside the MT3620 TCM";
  return 0;
}

void board_irq(uint32_t irq) { (void)irq; }
uint8_t *fw_memory(void) { return 0; }
