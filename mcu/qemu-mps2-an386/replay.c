/* Replay build of the mps2-an386 image: instead of clocks and peripherals, the HAL answers from a
 * trace recorded in the simulator (test/mcu/qemu.test.ts records it with the core's onHal/onExport
 * hooks, tools/build-target.ts links it in as replay_trace[]). The entry points are called in the
 * recorded order with the recorded arguments; every HAL call must match the recorded one (name and
 * arguments) and gets the recorded return value; mbox_recv gets the recorded message bytes.
 * Output on the UART, one line each (mcu/README.md, "UART framing"):
 *   @S <hex>   every mbox_send payload (the frames the simulator's mailbox carried)
 *   @M <hex>   at the end: CRC-32 of linear memory (4 bytes, big-endian), the HAL calls replayed
 *              and the deepest stack use in bytes (4 bytes each, big-endian)
 *   @D <hex>   divergence: step index, expected and actual record word, then exit status 1
 *
 * Trace words (little-endian u32):
 *   entry point: 0xE0000000 | export << 8 | nargs, then nargs arguments
 *   HAL call:    0xA0000000 | hal << 8 | nargs << 4 | flags (1: returns, 2: bytes follow),
 *                then the arguments, the return value if any, and for bytes: length, packed bytes. */
#include <string.h>
#include "board.h"
#include "mcu.h"

extern const uint32_t replay_trace[];
extern const uint32_t replay_trace_words;

/* HAL indices: the order of HAL_IMPORTS in boards/mt3620/m4-core.ts (the encoder checks it). */
enum { H_PIN, H_GPIO_CONFIGURE, H_GPIO_WRITE, H_GPIO_READ, H_COUNTER_US, H_TIMER_SET, H_TIMER_CANCEL,
       H_MBOX_SEND, H_MBOX_RECV, H_MBOX_DOORBELL, H_UART_WRITE, H_SENSOR_POWER, H_IRQ_SAVE,
       H_IRQ_RESTORE, H_PANIC };

static uint32_t pos, steps;

__attribute__((noreturn)) static void diverge(uint32_t expected, uint32_t actual) {
  uint8_t b[12];
  uint32_t v[3] = {steps, expected, actual};
  for (int i = 0; i < 3; i++) for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(v[i] >> (24 - 8 * k));
  mps2_write_frame('D', b, 12);
  board_halt(1);
}

static uint32_t next(void) {
  if (pos >= replay_trace_words) diverge(0, 0xFFFFFFFFu);
  return replay_trace[pos++];
}

/* Take the next record, which must be HAL call `h` with these arguments; returns its result. */
static uint32_t expect(uint32_t h, uint32_t n, uint32_t a0, uint32_t a1) {
  uint32_t w = next();
  uint32_t want = 0xA0000000u | h << 8 | n << 4;
  if ((w & ~0xFu) != want) diverge(want, w);
  uint32_t args[2] = {a0, a1};
  for (uint32_t i = 0; i < n; i++) {
    uint32_t a = next();
    if (a != args[i]) diverge(a, args[i]);
  }
  steps++;
  uint32_t ret = (w & 1u) ? next() : 0;
  if (w & 2u) { /* bytes the simulator's mailbox wrote into linear memory */
    uint32_t len = next();
    memcpy(fw_span(a0, len), &replay_trace[pos], len);
    pos += (len + 3u) / 4u;
  }
  return ret;
}

uint32_t hal_pin(uint32_t role) { return expect(H_PIN, 1, role, 0); }
void hal_gpio_configure(uint32_t g, uint32_t m) { expect(H_GPIO_CONFIGURE, 2, g, m); }
void hal_gpio_write(uint32_t g, uint32_t l) { expect(H_GPIO_WRITE, 2, g, l); }
uint32_t hal_gpio_read(uint32_t g) { return expect(H_GPIO_READ, 1, g, 0); }
uint32_t hal_counter_us(void) { return expect(H_COUNTER_US, 0, 0, 0); }
void hal_timer_set(uint32_t id, uint32_t d) { expect(H_TIMER_SET, 2, id, d); }
void hal_timer_cancel(uint32_t id) { expect(H_TIMER_CANCEL, 1, id, 0); }
uint32_t hal_mbox_send(uint32_t p, uint32_t n) {
  uint32_t r = expect(H_MBOX_SEND, 2, p, n);
  if (r == MBOX_OK) mps2_write_frame('S', fw_span(p, n), n); /* what went into the ring */
  return r;
}
uint32_t hal_mbox_recv(uint32_t p, uint32_t max) { return expect(H_MBOX_RECV, 2, p, max); }
void hal_mbox_doorbell(uint32_t b) { expect(H_MBOX_DOORBELL, 1, b, 0); }
void hal_uart_write(uint32_t p, uint32_t n) {
  expect(H_UART_WRITE, 2, p, n);
  mps2_write_frame('U', fw_span(p, n), n);
}
void hal_sensor_power(uint32_t r, uint32_t on) { expect(H_SENSOR_POWER, 2, r, on); }
uint32_t hal_irq_save(void) { return expect(H_IRQ_SAVE, 0, 0, 0); }
void hal_irq_restore(uint32_t s) { expect(H_IRQ_RESTORE, 1, s, 0); }
void hal_panic(uint32_t line, uint32_t col) {
  expect(H_PANIC, 2, line, col);
  mcu_fault("firmware panic (line, column)", line, col);
}

void board_irq(uint32_t irq) { (void)irq; }

void board_init(void) { mps2_uart_init(); }

static uint32_t crc32(const uint8_t *p, uint32_t n) { /* IEEE 802.3, as zlib */
  uint32_t c = 0xFFFFFFFFu;
  for (uint32_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

/* Replaces the WFI main loop (common/main.c): entry points in recorded order. */
void board_run(void) {
  while (pos < replay_trace_words) {
    uint32_t w = next();
    if ((w >> 28) != 0xEu) diverge(0xE0000000u, w);
    uint32_t e = (w >> 8) & 0xFFu, n = w & 0xFFu, a[3] = {0, 0, 0};
    for (uint32_t i = 0; i < n && i < 3; i++) a[i] = next();
    switch (e) {
      case 0: fw_init(); break;
      case 1: fw_idle(); break;
      case 2: fw_isr_gpio(a[0], a[1], a[2]); break;
      case 3: fw_isr_timer(a[0]); break;
      case 4: fw_isr_mailbox(a[0]); break;
      default: diverge(0xE0000000u, w);
    }
  }
  uint32_t crc = crc32(fw_memory(), FW_MEMORY_BYTES);
  uint32_t v[3] = {crc, steps, mcu_stack_used()};
  uint8_t b[12];
  for (int i = 0; i < 3; i++) for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(v[i] >> (24 - 8 * k));
  mps2_write_frame('M', b, 12);
  board_halt(0);
}
