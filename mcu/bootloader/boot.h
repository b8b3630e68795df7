/* The device side of the flashing protocol in C (mcu/FLASHING.md), the same rules as the simulated
 * bootloader (boards/flash/device.ts): A/B slots, write + read back + advance, resume, SHA-256 and
 * ECDSA P-256 signature check before a slot is bootable, trial boot with rollback.
 * A board provides the byte link (boot_putc and feeding boot_rx) and the boot check. */
#ifndef BOOT_H
#define BOOT_H
#include <stdint.h>

#define BOOT_SLOT_BYTES (256u * 1024u)

/* Feed one received byte (from the UART). Replies go out through board_putc. */
void boot_rx(uint8_t b);

/* Provided by the board: can the image in this package entry start? NULL if so, else why. */
const char *board_boot_check(const uint8_t *elf, uint32_t len);

/* The trusted key (generated at build time): P-256 public key X || Y, big-endian. */
extern const uint8_t boot_trusted_key[64];

/* Load the slots from non-volatile storage at power-up (boot_init), and the board's storage:
 * board_nv_read/board_nv_write of `len` bytes at `offset`; return 0 when there is none. */
void boot_init(void);
int board_nv_read(uint32_t offset, void *p, uint32_t len);
int board_nv_write(uint32_t offset, const void *p, uint32_t len);
#endif
