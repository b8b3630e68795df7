/* Bootloader protocol, device side (mcu/FLASHING.md); mirrors boards/flash/device.ts message for
 * message. The slots and their metadata are kept in RAM and written through to the board's
 * non-volatile storage (board_nv_*: on QEMU a host file through semihosting), chunk first, then the
 * metadata that makes it count, so a power cut at any point loses at most the unacknowledged chunk. */
#include <string.h>
#include "mcu.h"
#include "boot.h"
#include "crypto.h"

enum { HELLO = 0x01, BEGIN = 0x02, DATA = 0x03, END = 0x04, BOOT = 0x05,
       INFO = 0x81, READY = 0x82, ACK = 0x83, NAK = 0x84, DONE = 0x85, ERROR = 0x86, BOOTED = 0x87 };
enum { NAK_CRC = 1, NAK_OFFSET = 2, NAK_NO_SESSION = 3, NAK_TOO_LONG = 4, NAK_VERIFY = 5 };
enum { E_BAD_REQUEST = 1, E_TOO_BIG = 2, E_NO_SESSION = 3, E_INCOMPLETE = 4, E_HASH = 5, E_SIGNATURE = 6, E_NOTHING = 7 };
enum { S_EMPTY = 0, S_WRITING = 1, S_PENDING = 2, S_CONFIRMED = 3, S_REJECTED = 4 };
#define MAX_CHUNK 1024u
#define MAX_BODY (1u + 2u + 4u + MAX_CHUNK + 4u + 64u)

static uint8_t slot_data[2][BOOT_SLOT_BYTES];
/* Metadata, as stored at offset 0 of the non-volatile storage; slot k's bytes at NV_DATA + k * BOOT_SLOT_BYTES. */
static struct meta {
  uint32_t magic; /* "RVF1" */
  int32_t active;
  struct { uint32_t state, size, written; uint8_t sha[32]; } slot[2];
} meta;
#define slots meta.slot
#define active meta.active
#define NV_MAGIC 0x31465652u
#define NV_DATA 512u

static void save_meta(void) { board_nv_write(0, &meta, sizeof meta); }

void boot_init(void) {
  active = -1;
  if (board_nv_read(0, &meta, sizeof meta) && meta.magic == NV_MAGIC) {
    for (int k = 0; k < 2; k++) {
      memset(slot_data[k], 0xFF, BOOT_SLOT_BYTES);
      uint32_t n = slots[k].state == S_WRITING ? slots[k].written : slots[k].size;
      if (n > BOOT_SLOT_BYTES || !board_nv_read(NV_DATA + (uint32_t)k * BOOT_SLOT_BYTES, slot_data[k], n)) { slots[k].state = S_EMPTY; slots[k].size = slots[k].written = 0; }
    }
    return;
  }
  memset(&meta, 0, sizeof meta);
  meta.magic = NV_MAGIC;
  active = -1;
  for (int k = 0; k < 2; k++) memset(slot_data[k], 0xFF, BOOT_SLOT_BYTES);
}

/* ---------- framing: 0x7E, body escaped with 0x7D ^ 0x20, 0x7E; body = type, seq LE, payload, CRC-32 LE ---------- */
static uint32_t crc32(const uint8_t *p, uint32_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint32_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

static void put_escaped(uint8_t b) {
  if (b == 0x7E || b == 0x7D) { board_putc(0x7D); board_putc((char)(b ^ 0x20)); }
  else board_putc((char)b);
}

static void reply(uint8_t type, uint16_t seq, const uint8_t *p, uint32_t n) {
  uint8_t head[3] = {type, (uint8_t)seq, (uint8_t)(seq >> 8)};
  uint32_t c = 0xFFFFFFFFu;
  board_putc(0x7E);
  for (uint32_t i = 0; i < 3 + n; i++) {
    uint8_t b = i < 3 ? head[i] : p[i - 3];
    c ^= b;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    put_escaped(b);
  }
  c = ~c;
  for (int k = 0; k < 4; k++) put_escaped((uint8_t)(c >> (8 * k)));
  board_putc(0x7E);
}

static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }
static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void nak(uint16_t seq, uint8_t reason, uint32_t expected) {
  uint8_t p[5] = {reason};
  put32(p + 1, expected);
  reply(NAK, seq, p, 5);
}

static void error(uint16_t seq, uint8_t code, const char *a, const char *b, const char *c) {
  static uint8_t p[200];
  uint32_t n = 1;
  p[0] = code;
  for (const char *s = a; s && *s && n < sizeof p; s++) p[n++] = (uint8_t)*s;
  for (const char *s = b; s && *s && n < sizeof p; s++) p[n++] = (uint8_t)*s;
  for (const char *s = c; s && *s && n < sizeof p; s++) p[n++] = (uint8_t)*s;
  reply(ERROR, seq, p, n);
}

static int target(void) { return active == 0 ? 1 : 0; }
static int writing(void) { return slots[target()].state == S_WRITING ? target() : -1; }

/* ---------- package (mcu/PACKAGE.md): find the signature and the entries ---------- */
static void sha256(const uint8_t *p, uint32_t n, uint8_t out[32]) {
  sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, p, n);
  sha256_final(&c, out);
}

/* Next `"key":` in [p, end) after *at; returns the position after it, or 0. */
static uint32_t find_key(const char *h, uint32_t n, uint32_t at, const char *key) {
  uint32_t k = (uint32_t)strlen(key);
  for (uint32_t i = at; i + k <= n; i++) if (memcmp(h + i, key, k) == 0) return i + k;
  return 0;
}

static char key_hex[17], pkg_hex[17];
static const char SIGNED_BY_OTHER[] = "signed by another key";

/* NULL when the package is well formed and signed by the trusted key; else why not. */
static const char *check_package(const uint8_t *img, uint32_t size) {
  if (size < 16 || memcmp(img, "ROVERPK1", 8) != 0) return "not a rover package (bad magic)";
  uint32_t hlen = get32(img + 8);
  if (12u + hlen > size) return "truncated header";
  const char *h = (const char *)img + 12;
  uint32_t off = 12 + hlen, at = 0;
  while ((at = find_key(h, hlen, at, "\"bytes\":")) != 0) { /* entries follow the header in order */
    uint32_t v = 0;
    while (at < hlen && h[at] >= '0' && h[at] <= '9') v = v * 10 + (uint32_t)(h[at++] - '0');
    if (v > size - off) return "entry beyond the end of the package";
    off += v;
  }
  if (off + 4 > size) return "signature missing";
  uint32_t slen = get32(img + off);
  if (off + 4 + slen != size) return "signature length does not match the file size";
  /* key id: first 16 hex digits of SHA-256(SubjectPublicKeyInfo DER) */
  static const uint8_t spki_prefix[27] = {0x30,0x59,0x30,0x13,0x06,0x07,0x2a,0x86,0x48,0xce,0x3d,0x02,0x01,0x06,0x08,0x2a,0x86,0x48,0xce,0x3d,0x03,0x01,0x07,0x03,0x42,0x00,0x04};
  uint8_t spki[91], d[32];
  memcpy(spki, spki_prefix, 27);
  memcpy(spki + 27, boot_trusted_key, 64);
  sha256(spki, 91, d);
  static const char hx[] = "0123456789abcdef";
  for (int i = 0; i < 8; i++) { key_hex[2 * i] = hx[d[i] >> 4]; key_hex[2 * i + 1] = hx[d[i] & 15]; }
  uint32_t k = find_key(h, hlen, 0, "\"keyId\":\"");
  if (!k || k + 16 > hlen) return "no signer key id";
  memcpy(pkg_hex, h + k, 16);
  if (memcmp(pkg_hex, key_hex, 16) != 0) return SIGNED_BY_OTHER;
  sha256(img, off, d);
  if (!p256_verify(boot_trusted_key, d, img + off + 4, slen)) return "signature does not verify: the package was altered or signed by another key";
  return 0;
}

/* The entry `path` of a checked package. */
static const uint8_t *package_entry(const uint8_t *img, const char *path, uint32_t *len) {
  uint32_t hlen = get32(img + 8), off = 12 + hlen, at = 0, pl = (uint32_t)strlen(path);
  const char *h = (const char *)img + 12;
  while ((at = find_key(h, hlen, at, "\"path\":\"")) != 0) {
    int match = at + pl < hlen && memcmp(h + at, path, pl) == 0 && h[at + pl] == '"';
    uint32_t b = find_key(h, hlen, at, "\"bytes\":"), v = 0;
    while (b < hlen && h[b] >= '0' && h[b] <= '9') v = v * 10 + (uint32_t)(h[b++] - '0');
    if (match) { *len = v; return img + off; }
    off += v;
    at = b;
  }
  return 0;
}

/* ---------- messages ---------- */
static void handle(uint8_t type, uint16_t seq, const uint8_t *p, uint32_t n) {
  static uint8_t out[32];
  switch (type) {
    case HELLO: {
      out[0] = 1; out[1] = 2;
      put32(out + 2, BOOT_SLOT_BYTES);
      out[6] = (uint8_t)active;
      for (int k = 0; k < 2; k++) { out[7 + 9 * k] = (uint8_t)slots[k].state; put32(out + 8 + 9 * k, slots[k].size); put32(out + 12 + 9 * k, slots[k].written); }
      return reply(INFO, seq, out, 25);
    }
    case BEGIN: {
      if (n != 36) return error(seq, E_BAD_REQUEST, "BEGIN: size u32 + sha256[32]", 0, 0);
      uint32_t size = get32(p);
      if (size == 0 || size > BOOT_SLOT_BYTES) return error(seq, E_TOO_BIG, "image does not fit a slot", 0, 0);
      int k = target();
      if (!(slots[k].state == S_WRITING && slots[k].size == size && memcmp(slots[k].sha, p + 4, 32) == 0)) {
        memset(slot_data[k], 0xFF, BOOT_SLOT_BYTES);
        slots[k].state = S_WRITING; slots[k].size = size; slots[k].written = 0;
        memcpy(slots[k].sha, p + 4, 32);
        save_meta();
      }
      out[0] = (uint8_t)k;
      put32(out + 1, slots[k].written);
      return reply(READY, seq, out, 5);
    }
    case DATA: {
      int k = writing();
      if (k < 0) return nak(seq, NAK_NO_SESSION, 0);
      if (n < 5 || n > 4 + MAX_CHUNK) return nak(seq, NAK_TOO_LONG, slots[k].written);
      uint32_t off = get32(p), len = n - 4;
      if (off != slots[k].written) return nak(seq, NAK_OFFSET, slots[k].written);
      if (off + len > slots[k].size) return nak(seq, NAK_TOO_LONG, slots[k].written);
      memcpy(slot_data[k] + off, p + 4, len);
      if (memcmp(slot_data[k] + off, p + 4, len) != 0) return nak(seq, NAK_VERIFY, slots[k].written); /* read back */
      board_nv_write(NV_DATA + (uint32_t)k * BOOT_SLOT_BYTES + off, p + 4, len); /* the chunk, then... */
      slots[k].written = off + len;
      save_meta(); /* ...the offset that makes it count */
      put32(out, slots[k].written);
      return reply(ACK, seq, out, 4);
    }
    case END: {
      int k = writing();
      if (k < 0) return error(seq, E_NO_SESSION, "END without an image being written", 0, 0);
      if (slots[k].written != slots[k].size) return error(seq, E_INCOMPLETE, "image incomplete", 0, 0);
      uint8_t d[32];
      sha256(slot_data[k], slots[k].size, d);
      if (memcmp(d, slots[k].sha, 32) != 0) { slots[k].state = S_EMPTY; save_meta(); return error(seq, E_HASH, "image SHA-256 differs from BEGIN", 0, 0); }
      const char *why = check_package(slot_data[k], slots[k].size);
      if (why) {
        slots[k].state = S_REJECTED;
        save_meta();
        if (why == SIGNED_BY_OTHER) { /* name both keys, as the simulated device does */
          static char m[120];
          memcpy(m, "not bootable: signed by key ", 28); memcpy(m + 28, pkg_hex, 16);
          memcpy(m + 44, ", not by the trusted key ", 25); memcpy(m + 69, key_hex, 16);
          memcpy(m + 85, ": refused", 10);
          return error(seq, E_SIGNATURE, m, 0, 0);
        }
        return error(seq, E_SIGNATURE, "not bootable: ", why, 0);
      }
      slots[k].state = S_PENDING;
      save_meta();
      out[0] = (uint8_t)k;
      return reply(DONE, seq, out, 1);
    }
    case BOOT: {
      int k = slots[0].state == S_PENDING ? 0 : slots[1].state == S_PENDING ? 1 : -1;
      static uint8_t m[200];
      const char *ab = "AB";
      if (k < 0) {
        if (active < 0) return error(seq, E_NOTHING, "no confirmed or pending image", 0, 0);
        m[0] = (uint8_t)active; m[1] = 0;
        memcpy(m + 2, "booted slot ", 12); m[14] = (uint8_t)ab[active];
        return reply(BOOTED, seq, m, 15);
      }
      uint32_t len = 0;
      const uint8_t *elf = package_entry(slot_data[k], "rtcore/app.elf", &len);
      const char *why = elf ? board_boot_check(elf, len) : "no rtcore/app.elf in the package";
      uint32_t n2 = 2;
#define PUT(s) for (const char *q_ = (s); *q_ && n2 < sizeof m; q_++) m[n2++] = (uint8_t)*q_
      if (!why) {
        slots[k].state = S_CONFIRMED;
        active = k;
        save_meta();
        m[0] = (uint8_t)k; m[1] = 0;
        PUT("booted slot "); m[n2++] = (uint8_t)ab[k]; PUT(" (new image confirmed)");
        return reply(BOOTED, seq, m, n2);
      }
      slots[k].state = S_REJECTED;
      save_meta();
      m[0] = (uint8_t)active; m[1] = 1;
      PUT("slot "); m[n2++] = (uint8_t)ab[k]; PUT(" failed to boot ("); PUT(why); PUT("); ");
      if (active < 0) { PUT("no previous image"); } else { PUT("rolled back to slot "); m[n2++] = (uint8_t)ab[active]; }
      return reply(BOOTED, seq, m, n2);
    }
    default:
      return error(seq, E_BAD_REQUEST, "unknown message type", 0, 0);
  }
}

static uint8_t body[MAX_BODY];
static uint32_t blen;
static int in_frame, esc;
static uint16_t last_seq;

static void finish(void) {
  if (blen < 7) return;
  if (crc32(body, blen - 4) != get32(body + blen - 4)) { /* cannot trust it: say where we are */
    int k = writing();
    return nak(last_seq, NAK_CRC, k < 0 ? 0 : slots[k].written);
  }
  last_seq = (uint16_t)(body[1] | body[2] << 8);
  handle(body[0], last_seq, body + 3, blen - 7);
}

void boot_rx(uint8_t b) {
  if (b == 0x7E) {
    if (in_frame && blen) finish();
    in_frame = 1; blen = 0; esc = 0;
    return;
  }
  if (!in_frame) return;
  if (esc) { body[blen++] = b ^ 0x20; esc = 0; }
  else if (b == 0x7D) esc = 1;
  else body[blen++] = b;
  if (blen >= MAX_BODY) { in_frame = 0; blen = 0; int k = writing(); nak(last_seq, NAK_CRC, k < 0 ? 0 : slots[k].written); }
}
