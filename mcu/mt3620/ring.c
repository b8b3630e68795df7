/* MT3620 intercore ring buffer: see ring.h. The writer owns `write`, the reader owns `read`; each
 * side publishes its position only after the bytes it covers are in place (DMB). */
#include "ring.h"
#include "mcu.h"

static uint32_t block_bytes(uint32_t n) { return (4u + n + RING_ALIGN - 1u) & ~(RING_ALIGN - 1u); }

static uint8_t *data_of(ring_t *r) { return (uint8_t *)r->hdr + RING_HDR; }

static uint32_t copy_in(ring_t *r, uint32_t pos, const uint8_t *src, uint32_t n) {
  uint8_t *d = data_of(r);
  for (uint32_t i = 0; i < n; i++) { d[pos] = src[i]; pos = (pos + 1u) & (r->size - 1u); }
  return pos;
}

static uint32_t copy_out(ring_t *r, uint32_t pos, uint8_t *dst, uint32_t n) {
  const uint8_t *d = data_of(r);
  for (uint32_t i = 0; i < n; i++) { dst[i] = d[pos]; pos = (pos + 1u) & (r->size - 1u); }
  return pos;
}

uint32_t ring_write(ring_t *r, const uint8_t *msg, uint32_t len) {
  uint32_t need = block_bytes(len);
  if (len > r->size || need + RING_SPARE > r->size) return MBOX_TOO_BIG;
  uint32_t w = r->hdr->write, rd = r->hdr->read;
  uint32_t used = (w - rd) & (r->size - 1u);
  if (r->size - used < need + RING_SPARE) return MBOX_FULL;
  uint8_t lenb[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
  copy_in(r, copy_in(r, w, lenb, 4), msg, len);
  __asm volatile("dmb" ::: "memory"); /* the block is in place before the position that publishes it */
  r->hdr->write = (w + need) & (r->size - 1u);
  return MBOX_OK;
}

uint32_t ring_read(ring_t *r, uint8_t *dst, uint32_t max) {
  uint32_t rd = r->hdr->read, w = r->hdr->write;
  if (rd == w) return 0;
  __asm volatile("dmb" ::: "memory"); /* read the block only after seeing the position */
  uint8_t lenb[4];
  uint32_t p = copy_out(r, rd, lenb, 4);
  uint32_t len = lenb[0] | lenb[1] << 8 | lenb[2] << 16 | (uint32_t)lenb[3] << 24;
  if (len <= max) copy_out(r, p, dst, len);
  __asm volatile("dmb" ::: "memory"); /* done with the bytes before handing them back */
  r->hdr->read = (rd + block_bytes(len)) & (r->size - 1u);
  return len <= max ? len : MBOX_TOO_BIG;
}
