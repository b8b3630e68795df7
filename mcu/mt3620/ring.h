/* MT3620 intercore ring buffer, one direction (shared/reference/hardware.md, "Intercore
 * communication"; the same model as boards/mt3620/mailbox.ts, and test/mcu/ring.test.ts holds the
 * two to the same bytes): a 64-byte header (writePosition, readPosition, 14 reserved words), then
 * the data area of `size` bytes (a power of two); each block = u32 length + message, padded to 16
 * bytes; a write leaves 16 bytes spare so it never catches up with the reader. Positions are byte
 * offsets into the data area. */
#ifndef MT3620_RING_H
#define MT3620_RING_H
#include <stdint.h>

#define RING_HDR 64u
#define RING_ALIGN 16u
#define RING_SPARE 16u

typedef struct {
  volatile uint32_t write, read, reserved[14];
} ring_hdr;

typedef struct {
  ring_hdr *hdr;
  uint32_t size; /* data area bytes, a power of two */
} ring_t;

/* Append one message. MBOX_OK, MBOX_FULL (no room now) or MBOX_TOO_BIG (never fits). */
uint32_t ring_write(ring_t *r, const uint8_t *msg, uint32_t len);
/* Take the next message into dst[0..max): its length, 0 when empty, or MBOX_TOO_BIG (skipped). */
uint32_t ring_read(ring_t *r, uint8_t *dst, uint32_t max);
#endif
