/* Test program for QEMU mps2-an386 (test/mcu/bootloader.test.ts): the bootloader's SHA-256 and
 * ECDSA P-256 verification on the Cortex-M4F, against node:crypto. crypto_cases[] (generated):
 * each case = message length u32, message bytes, signature length u32, signature, public key X||Y.
 * Output: "@C <sha256 of each message><one byte per case: verify result>". */
#include <string.h>
#include "mcu.h"
#include "board.h"
#include "crypto.h"

extern const uint8_t crypto_cases[];
extern const uint32_t crypto_case_count;

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

int main(void) {
  static uint8_t out[64 * 33];
  uint32_t n = crypto_case_count, o = 0;
  const uint8_t *p = crypto_cases;
  mps2_uart_init();
  for (uint32_t i = 0; i < n; i++) {
    uint32_t ml = rd32(p); const uint8_t *msg = p + 4; p += 4 + ml;
    uint32_t sl = rd32(p); const uint8_t *sig = p + 4; p += 4 + sl;
    const uint8_t *pub = p; p += 64;
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, msg, ml);
    sha256_final(&c, out + o);
    out[32 * n + i] = (uint8_t)p256_verify(pub, out + o, sig, sl);
    o += 32;
  }
  mps2_write_frame('C', out, 33 * n);
  board_halt(0);
}

void board_irq(uint32_t irq) { (void)irq; }
uint8_t *fw_memory(void) { return 0; }
