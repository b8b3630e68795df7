/* The bootloader image for QEMU mps2-an386 (rover flash --target qemu://mps2-an386): the protocol
 * of mcu/bootloader/boot.c over UART0, polled (CMSDK UART, DDI 0479 4.4: STATE bit 1 = RX full). */
#include "board.h"
#include "mcu.h"
#include "boot.h"

/* Non-volatile storage: QEMU's mps2-an386 has no flash device, so the slots are written through
 * to a host file with ARM semihosting file calls (SYS_OPEN 0x01, SYS_SEEK 0x0A, SYS_WRITE 0x05,
 * SYS_READ 0x06); its name is compiled in (boot_flash_file, "" = none: RAM only). A QEMU killed
 * mid-transfer is a power cut: the next QEMU on the same file resumes. */
extern const char boot_flash_file[];

static uint32_t semihost(uint32_t op, const void *args) {
  register uint32_t r0 __asm("r0") = op;
  register const void *r1 __asm("r1") = args;
  __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static int32_t nv = -1;

static int nv_open(void) {
  if (nv >= 0) return 1;
  uint32_t n = 0;
  while (boot_flash_file[n]) n++;
  if (!n) return 0;
  uint32_t a[3] = {(uint32_t)boot_flash_file, 3 /* "r+b" */, n};
  nv = (int32_t)semihost(0x01, a);
  if (nv < 0) {
    a[1] = 7; /* "w+b": create */
    nv = (int32_t)semihost(0x01, a);
  }
  return nv >= 0;
}

int board_nv_read(uint32_t offset, void *p, uint32_t len) {
  if (!nv_open()) return 0;
  uint32_t s[2] = {(uint32_t)nv, offset};
  if (semihost(0x0A, s) != 0) return 0;
  uint32_t a[3] = {(uint32_t)nv, (uint32_t)p, len};
  return semihost(0x06, a) == 0; /* returns the bytes NOT read */
}

int board_nv_write(uint32_t offset, const void *p, uint32_t len) {
  if (!nv_open()) return 0;
  uint32_t s[2] = {(uint32_t)nv, offset};
  if (semihost(0x0A, s) != 0) return 0;
  uint32_t a[3] = {(uint32_t)nv, (uint32_t)p, len};
  return semihost(0x05, a) == 0; /* returns the bytes NOT written */
}

int main(void) {
  mps2_uart_init();
  boot_init();
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
