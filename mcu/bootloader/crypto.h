/* Crypto of the device-side bootloader (mcu/FLASHING.md): SHA-256 (FIPS 180-4) and ECDSA P-256
 * signature verification (FIPS 186-4, SEC 2 curve secp256r1), small and constant-footprint,
 * no allocation. Verification only: the device never signs. */
#ifndef BOOT_CRYPTO_H
#define BOOT_CRYPTO_H
#include <stdint.h>

typedef struct {
  uint32_t h[8];
  uint64_t bytes;
  uint8_t buf[64];
  uint32_t used;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const uint8_t *p, uint32_t n);
void sha256_final(sha256_ctx *c, uint8_t out[32]);

/* pub: 64 bytes X || Y (big-endian). sig: DER SEQUENCE { INTEGER r, INTEGER s }.
 * Returns 1 when the signature of `hash` (SHA-256 of the message) is valid. */
int p256_verify(const uint8_t pub[64], const uint8_t hash[32], const uint8_t *sig, uint32_t sig_len);
#endif
