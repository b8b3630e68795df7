/* ECDSA P-256 signature verification (FIPS 186-4 6.4.2; curve secp256r1, SEC 2 2.4.2).
 * 256-bit numbers are 8 little-endian 32-bit limbs. Arithmetic mod p and mod n uses Montgomery
 * multiplication (CIOS); inverses are a^(m-2) (Fermat); points are Jacobian with a = -3.
 * Verification handles public data only, so nothing here needs to be constant-time. */
#include <string.h>
#include "crypto.h"

typedef uint32_t bn[8];
typedef struct { bn m; uint32_t inv; bn rr; bn one; } mod_t; /* inv = -m^-1 mod 2^32, rr = R^2 mod m, one = R mod m */
typedef struct { bn x, y, z; } point; /* Jacobian, Montgomery form; z = 0: the point at infinity */

static const uint8_t P_BE[32] = {0xFF,0xFF,0xFF,0xFF,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0xFF,0xFF,0xFF,0xFF,0xFF,0xFF,0xFF,0xFF,0xFF,0xFF,0xFF,0xFF};
static const uint8_t N_BE[32] = {0xFF,0xFF,0xFF,0xFF,0x00,0x00,0x00,0x00,0xFF,0xFF,0xFF,0xFF,0xFF,0xFF,0xFF,0xFF,0xBC,0xE6,0xFA,0xAD,0xA7,0x17,0x9E,0x84,0xF3,0xB9,0xCA,0xC2,0xFC,0x63,0x25,0x51};
static const uint8_t B_BE[32] = {0x5A,0xC6,0x35,0xD8,0xAA,0x3A,0x93,0xE7,0xB3,0xEB,0xBD,0x55,0x76,0x98,0x86,0xBC,0x65,0x1D,0x06,0xB0,0xCC,0x53,0xB0,0xF6,0x3B,0xCE,0x3C,0x3E,0x27,0xD2,0x60,0x4B};
static const uint8_t GX_BE[32] = {0x6B,0x17,0xD1,0xF2,0xE1,0x2C,0x42,0x47,0xF8,0xBC,0xE6,0xE5,0x63,0xA4,0x40,0xF2,0x77,0x03,0x7D,0x81,0x2D,0xEB,0x33,0xA0,0xF4,0xA1,0x39,0x45,0xD8,0x98,0xC2,0x96};
static const uint8_t GY_BE[32] = {0x4F,0xE3,0x42,0xE2,0xFE,0x1A,0x7F,0x9B,0x8E,0xE7,0xEB,0x4A,0x7C,0x0F,0x9E,0x16,0x2B,0xCE,0x33,0x57,0x6B,0x31,0x5E,0xCE,0xCB,0xB6,0x40,0x68,0x37,0xBF,0x51,0xF5};

static void from_be(bn r, const uint8_t *b) {
  for (int i = 0; i < 8; i++) r[i] = (uint32_t)b[31 - 4 * i] | (uint32_t)b[30 - 4 * i] << 8 | (uint32_t)b[29 - 4 * i] << 16 | (uint32_t)b[28 - 4 * i] << 24;
}

static int cmp(const bn a, const bn b) {
  for (int i = 7; i >= 0; i--) if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}
static int is_zero(const bn a) {
  uint32_t x = 0;
  for (int i = 0; i < 8; i++) x |= a[i];
  return x == 0;
}
static uint32_t add(bn r, const bn a, const bn b) {
  uint64_t c = 0;
  for (int i = 0; i < 8; i++) { c += (uint64_t)a[i] + b[i]; r[i] = (uint32_t)c; c >>= 32; }
  return (uint32_t)c;
}
static uint32_t sub(bn r, const bn a, const bn b) {
  int64_t c = 0;
  for (int i = 0; i < 8; i++) { c += (int64_t)a[i] - b[i]; r[i] = (uint32_t)c; c >>= 32; }
  return (uint32_t)(c & 1);
}
static void mod_add(bn r, const bn a, const bn b, const mod_t *M) {
  if (add(r, a, b) || cmp(r, M->m) >= 0) sub(r, r, M->m);
}
static void mod_sub(bn r, const bn a, const bn b, const mod_t *M) {
  if (sub(r, a, b)) add(r, r, M->m);
}

/* r = a * b / R mod m, for a, b < m (CIOS). */
static void mont_mul(bn r, const bn a, const bn b, const mod_t *M) {
  uint32_t t[10] = {0};
  for (int i = 0; i < 8; i++) {
    uint64_t c = 0;
    for (int j = 0; j < 8; j++) { c += (uint64_t)a[j] * b[i] + t[j]; t[j] = (uint32_t)c; c >>= 32; }
    c += t[8]; t[8] = (uint32_t)c; t[9] = (uint32_t)(c >> 32);
    uint32_t u = t[0] * M->inv;
    c = ((uint64_t)u * M->m[0] + t[0]) >> 32;
    for (int j = 1; j < 8; j++) { c += (uint64_t)u * M->m[j] + t[j]; t[j - 1] = (uint32_t)c; c >>= 32; }
    c += t[8]; t[7] = (uint32_t)c; c >>= 32;
    t[8] = t[9] + (uint32_t)c; t[9] = 0;
  }
  if (t[8] || cmp(t, M->m) >= 0) sub(t, t, M->m);
  memcpy(r, t, 32);
}

static void mod_init(mod_t *M, const uint8_t *m_be) {
  from_be(M->m, m_be);
  uint32_t x = 1; /* Newton: x = m0^-1 mod 2^32 */
  for (int i = 0; i < 5; i++) x *= 2u - M->m[0] * x;
  M->inv = 0u - x;
  bn r = {1};
  for (int i = 0; i < 512; i++) mod_add(r, r, r, M); /* 2^512 mod m = R^2 */
  memcpy(M->rr, r, 32);
  bn one = {1};
  mont_mul(M->one, one, M->rr, M); /* R mod m */
}

static void to_mont(bn r, const bn a, const mod_t *M) { mont_mul(r, a, M->rr, M); }
static void from_mont(bn r, const bn a, const mod_t *M) {
  bn one = {1};
  mont_mul(r, a, one, M);
}
static void mont_inv(bn r, const bn a, const mod_t *M) { /* a^(m-2), a in Montgomery form */
  bn e, two = {2}, x;
  sub(e, M->m, two);
  memcpy(x, M->one, 32);
  for (int i = 255; i >= 0; i--) {
    mont_mul(x, x, x, M);
    if ((e[i / 32] >> (i % 32)) & 1) mont_mul(x, x, a, M);
  }
  memcpy(r, x, 32);
}

static mod_t FP, FN;

static void dbl(point *r, const point *p) { /* dbl-2001-b, a = -3 */
  if (is_zero(p->z)) { *r = *p; return; }
  bn delta, gamma, beta, alpha, t1, t2, x3, y3, z3;
  mont_mul(delta, p->z, p->z, &FP);
  mont_mul(gamma, p->y, p->y, &FP);
  mont_mul(beta, p->x, gamma, &FP);
  mod_sub(t1, p->x, delta, &FP);
  mod_add(t2, p->x, delta, &FP);
  mont_mul(alpha, t1, t2, &FP);
  mod_add(t1, alpha, alpha, &FP);
  mod_add(alpha, t1, alpha, &FP);       /* alpha = 3 (x - delta)(x + delta) */
  mont_mul(x3, alpha, alpha, &FP);
  mod_add(t1, beta, beta, &FP);          /* 2 beta */
  mod_add(t1, t1, t1, &FP);              /* 4 beta */
  mod_add(t2, t1, t1, &FP);              /* 8 beta */
  mod_sub(x3, x3, t2, &FP);
  mod_add(z3, p->y, p->z, &FP);
  mont_mul(z3, z3, z3, &FP);
  mod_sub(z3, z3, gamma, &FP);
  mod_sub(z3, z3, delta, &FP);
  mod_sub(t1, t1, x3, &FP);              /* 4 beta - x3 */
  mont_mul(y3, alpha, t1, &FP);
  mont_mul(t2, gamma, gamma, &FP);
  mod_add(t2, t2, t2, &FP);
  mod_add(t2, t2, t2, &FP);
  mod_add(t2, t2, t2, &FP);              /* 8 gamma^2 */
  mod_sub(y3, y3, t2, &FP);
  memcpy(r->x, x3, 32); memcpy(r->y, y3, 32); memcpy(r->z, z3, 32);
}

static void padd(point *r, const point *p, const point *q) { /* add-2007-bl */
  if (is_zero(p->z)) { *r = *q; return; }
  if (is_zero(q->z)) { *r = *p; return; }
  bn z1z1, z2z2, u1, u2, s1, s2, h, rr, i, j, v, t, x3, y3, z3;
  mont_mul(z1z1, p->z, p->z, &FP);
  mont_mul(z2z2, q->z, q->z, &FP);
  mont_mul(u1, p->x, z2z2, &FP);
  mont_mul(u2, q->x, z1z1, &FP);
  mont_mul(t, q->z, z2z2, &FP);
  mont_mul(s1, p->y, t, &FP);
  mont_mul(t, p->z, z1z1, &FP);
  mont_mul(s2, q->y, t, &FP);
  mod_sub(h, u2, u1, &FP);
  mod_sub(rr, s2, s1, &FP);
  mod_add(rr, rr, rr, &FP);
  if (is_zero(h)) {
    if (is_zero(rr)) { dbl(r, p); return; }
    memset(r, 0, sizeof *r); /* P + (-P) */
    return;
  }
  mod_add(i, h, h, &FP);
  mont_mul(i, i, i, &FP);
  mont_mul(j, h, i, &FP);
  mont_mul(v, u1, i, &FP);
  mont_mul(x3, rr, rr, &FP);
  mod_sub(x3, x3, j, &FP);
  mod_sub(x3, x3, v, &FP);
  mod_sub(x3, x3, v, &FP);
  mod_sub(t, v, x3, &FP);
  mont_mul(y3, rr, t, &FP);
  mont_mul(t, s1, j, &FP);
  mod_add(t, t, t, &FP);
  mod_sub(y3, y3, t, &FP);
  mod_add(z3, p->z, q->z, &FP);
  mont_mul(z3, z3, z3, &FP);
  mod_sub(z3, z3, z1z1, &FP);
  mod_sub(z3, z3, z2z2, &FP);
  mont_mul(z3, z3, h, &FP);
  memcpy(r->x, x3, 32); memcpy(r->y, y3, 32); memcpy(r->z, z3, 32);
}

/* DER INTEGER into a 32-byte big-endian buffer; returns bytes consumed, 0 on error. */
static uint32_t der_int(const uint8_t *p, uint32_t n, uint8_t out[32]) {
  if (n < 2 || p[0] != 0x02) return 0;
  uint32_t len = p[1];
  if (len == 0 || len > 33 || 2 + len > n) return 0;
  const uint8_t *v = p + 2;
  uint32_t l = len;
  while (l > 32 && *v == 0) { v++; l--; }
  if (l > 32) return 0;
  memset(out, 0, 32);
  memcpy(out + 32 - l, v, l);
  return 2 + len;
}

static int on_curve(const bn x, const bn y) { /* y^2 = x^3 - 3x + b, Montgomery form */
  bn l, r, t, b;
  from_be(t, B_BE);
  to_mont(b, t, &FP);
  mont_mul(l, y, y, &FP);
  mont_mul(r, x, x, &FP);
  mont_mul(r, r, x, &FP);
  mod_sub(r, r, x, &FP);
  mod_sub(r, r, x, &FP);
  mod_sub(r, r, x, &FP);
  mod_add(r, r, b, &FP);
  return cmp(l, r) == 0;
}

int p256_verify(const uint8_t pub[64], const uint8_t hash[32], const uint8_t *sig, uint32_t sig_len) {
  static int ready;
  if (!ready) { mod_init(&FP, P_BE); mod_init(&FN, N_BE); ready = 1; }
  /* signature: SEQUENCE { r, s } */
  if (sig_len < 8 || sig[0] != 0x30 || sig[1] != sig_len - 2) return 0;
  uint8_t rb[32], sb[32];
  uint32_t k = der_int(sig + 2, sig_len - 2, rb);
  if (!k || 2 + k + der_int(sig + 2 + k, sig_len - 2 - k, sb) != sig_len) return 0;
  bn r, s, e, w, u1, u2, t;
  from_be(r, rb); from_be(s, sb); from_be(e, hash);
  if (is_zero(r) || is_zero(s) || cmp(r, FN.m) >= 0 || cmp(s, FN.m) >= 0) return 0;
  if (cmp(e, FN.m) >= 0) sub(e, e, FN.m);
  /* w = s^-1, u1 = e w, u2 = r w (mod n) */
  to_mont(t, s, &FN);
  mont_inv(w, t, &FN);
  to_mont(t, e, &FN);
  mont_mul(t, t, w, &FN);
  from_mont(u1, t, &FN);
  to_mont(t, r, &FN);
  mont_mul(t, t, w, &FN);
  from_mont(u2, t, &FN);
  /* R = u1 G + u2 Q (Shamir's trick) */
  point G, Q, GQ, R;
  from_be(t, GX_BE); to_mont(G.x, t, &FP);
  from_be(t, GY_BE); to_mont(G.y, t, &FP);
  memcpy(G.z, FP.one, 32);
  from_be(t, pub); if (cmp(t, FP.m) >= 0) return 0;
  to_mont(Q.x, t, &FP);
  from_be(t, pub + 32); if (cmp(t, FP.m) >= 0) return 0;
  to_mont(Q.y, t, &FP);
  memcpy(Q.z, FP.one, 32);
  if (!on_curve(Q.x, Q.y)) return 0;
  padd(&GQ, &G, &Q);
  memset(&R, 0, sizeof R);
  for (int i = 255; i >= 0; i--) {
    dbl(&R, &R);
    int b1 = (u1[i / 32] >> (i % 32)) & 1, b2 = (u2[i / 32] >> (i % 32)) & 1;
    if (b1 && b2) padd(&R, &R, &GQ);
    else if (b1) padd(&R, &R, &G);
    else if (b2) padd(&R, &R, &Q);
  }
  if (is_zero(R.z)) return 0;
  /* affine x = X / Z^2, compared with r mod n */
  bn zi, x;
  mont_inv(zi, R.z, &FP);
  mont_mul(zi, zi, zi, &FP);
  mont_mul(x, R.x, zi, &FP);
  from_mont(x, x, &FP);
  if (cmp(x, FN.m) >= 0) sub(x, x, FN.m);
  return cmp(x, r) == 0;
}
