/* The HAL on the MT3620 real-time core (Cortex-M4F at 197.6 MHz): every import of rtcore/hal.ts.
 *
 * Sources for the registers: shared/reference/hardware.md (GPT block, mailbox, ring buffers, TCM,
 * SYSRAM), and the public MT3620 M4 register headers, drivers and Azure Sphere bare-metal samples
 * (GPT control bits and IRQ numbers, GPIO group blocks, EINT, debug UART). Lines marked
 * CHECK-ON-HARDWARE are in neither and have not been verified on a device yet (we have none in CI);
 * see mcu/README.md.
 *
 * Interrupts (one NVIC priority for all, so handlers never nest, as in the simulator):
 *   IRQ 1      GPT0 (GPT0/GPT1 share it)  -> isr_timer(0)
 *   IRQ 11     mailbox (hardware.md)      -> isr_mailbox(bits)
 *   IRQ 20+n   EINT n = GPIO n, n < 24    -> isr_gpio(n, level, GPT3 count at entry) */
#include "mcu.h"
#include "ring.h"

#define REG(a) (*(volatile uint32_t *)(a))

/* ---- GPT block (hardware.md, "MT3620 timers") ---- */
#define GPT 0x21030000u
#define GPT_ISR 0x00u       /* bit 0: GPT0 expired (write 1 to clear) */
#define GPT_IER 0x04u       /* bit 0: GPT0 interrupt enable */
#define GPT0_CTRL 0x10u     /* bit 0 enable, bit 1 repeat, bit 2 speed (1 = 32768 Hz, 0 = ~1 kHz), bit 3 restart */
#define GPT0_ICNT 0x14u     /* initial count: GPT0 counts down from it and expires at 0 */
#define GPT3_CTRL 0x50u     /* bit 0 enable; bits 16..21 osc_cnt_1us */
#define GPT3_INIT 0x54u
#define GPT3_CNT 0x58u
#define GPT3_EXPIRE 0x5Cu
#define OSC_CNT_1US 0x19u   /* 26 MHz / (0x19 + 1) = 1 MHz (hardware.md) */
#define GPT0_HZ 32768u
#define IRQ_GPT0 1u         /* NVIC IRQ of GPT0 and GPT1 (GPT3: IRQ 2), as the MT3620 M4 drivers use them */

/* ---- Mailbox (hardware.md, "Intercore communication") ---- */
#define MBOX 0x21050000u
#define MBOX_TX_INT_PORT 0x14u /* SW_TX_INT_PORT: bit 0 "sent", bit 1 "received" */
#define MBOX_RX_INT_EN 0x18u
#define MBOX_RX_INT_STS 0x1Cu  /* bit 1: HL core sent to us; bit 0: HL core took our messages (CHECK-ON-HARDWARE) */
#define MBOX_CMD 0x50u
#define MBOX_DATA 0x54u
#define MBOX_FIFO_CNT 0x58u
#define CMD_OUTBOUND 0xba5e0001u
#define CMD_INBOUND 0xba5e0002u
#define CMD_END_OF_SETUP 0xba5e0003u
#define IRQ_MBOX 11u

/* ---- Shared-memory rings: ring.c (hardware.md; same model as boards/mt3620/mailbox.ts) ---- */

/* ---- GPIO group blocks (MT3620 M4 register map) ---- */
#define GPIO_DIN 0x04u
#define GPIO_DOUT_SET 0x14u
#define GPIO_DOUT_RESET 0x18u
#define GPIO_OE_SET 0x24u
#define GPIO_OE_RESET 0x28u
#define GPIO_IES_SET 0x64u /* input enable */
#define EINT 0x21000000u   /* DBNC_CON[n] at 4n: bit 7 dual edge, bit 8 polarity, bit 9 enable */
#define EINT_DUAL (1u << 7)
#define EINT_EN (1u << 9)
#define IRQ_EINT(n) (20u + (n))

/* ---- Debug UART of the RT core (16550-style, Azure Sphere samples) ---- */
#define UART 0x21040000u
#define UART_THR 0x00u
#define UART_LSR 0x14u /* bit 5: THR empty */

#define NVIC_ISER(n) (0xE000E100u + 4u * ((n) >> 5))
#define NVIC_ISPR(n) (0xE000E200u + 4u * ((n) >> 5))
#define NVIC_IPR(n) (0xE000E400u + (n))
#define IRQ_PRIORITY 0x40u

/* ================= time ================= */
uint32_t hal_counter_us(void) {
  uint32_t c = REG(GPT + GPT3_CNT);
  /* GPT3 is a one-shot counter: with EXPIRE = 2^32 - 1 it runs 71.6 minutes, then stops.
   * Restart it from 0 so it behaves as the u32 wrapping counter of the HAL contract.
   * CHECK-ON-HARDWARE: whether it stops or wraps by itself. */
  if (c == 0xFFFFFFFFu) {
    REG(GPT + GPT3_CTRL) = OSC_CNT_1US << 16;
    REG(GPT + GPT3_CTRL) = (OSC_CNT_1US << 16) | 1u;
  }
  return c;
}

static uint32_t timer_deadline;
static volatile uint32_t timer_armed;

void hal_timer_set(uint32_t id, uint32_t deadline) {
  if (id != 0) mcu_fault("timer id not provided by this board", id, 0);
  uint32_t s = primask_save();
  REG(GPT + GPT0_CTRL) = 0;
  REG(GPT + GPT_ISR) = 1u;
  timer_deadline = deadline;
  timer_armed = 1;
  int32_t diff = (int32_t)(deadline - hal_counter_us()); /* wrap-aware */
  if (diff <= 0) {
    REG(NVIC_ISPR(IRQ_GPT0)) = 1u << (IRQ_GPT0 & 31u); /* fire at once */
  } else {
    /* 32 kHz ticks, rounded up; the handler waits out the remaining microseconds. */
    uint32_t ticks = (uint32_t)(((uint64_t)diff * GPT0_HZ + 999999u) / 1000000u);
    REG(GPT + GPT0_ICNT) = ticks;
    REG(GPT + GPT0_CTRL) = (1u << 2) | (1u << 3) | 1u; /* 32 kHz, restart, one-shot, enable */
  }
  primask_restore(s);
}

void hal_timer_cancel(uint32_t id) {
  if (id != 0) return;
  uint32_t s = primask_save();
  REG(GPT + GPT0_CTRL) = 0;
  REG(GPT + GPT_ISR) = 1u;
  timer_armed = 0;
  primask_restore(s);
}

/* ================= GPIO ================= */
/* Block base and bit of a GPIO; 0 when the pin has no GPIO block the RT core can drive. */
static uint32_t gpio_block(uint32_t g, uint32_t *bit) {
  if (g < 24u) { *bit = 1u << (g & 3u); return 0x38010000u + 0x10000u * (g >> 2); } /* GPIO0..23: groups 0..5 */
  if (g >= 26u && g <= 40u) { *bit = 1u << ((g - 26u) % 5u); return 0x38070000u + 0x10000u * ((g - 26u) / 5u); } /* ISU0..2 */
  if (g >= 66u && g <= 75u) { *bit = 1u << ((g - 66u) % 5u); return 0x380A0000u + 0x10000u * ((g - 66u) / 5u); } /* ISU3..4 */
  return 0;
}

static uint32_t gpio_base(uint32_t g, uint32_t *bit) {
  uint32_t b = gpio_block(g, bit);
  if (!b) mcu_fault("GPIO not available to the RT core", g, 0);
  return b;
}

void hal_gpio_configure(uint32_t g, uint32_t mode) {
  uint32_t bit, b = gpio_base(g, &bit);
  if (mode == GPIO_OUTPUT) {
    REG(b + GPIO_OE_SET) = bit;
  } else {
    REG(b + GPIO_OE_RESET) = bit;
    REG(b + GPIO_IES_SET) = bit;
  }
  if (mode == GPIO_INPUT_IRQ) {
    if (g >= 24u) mcu_fault("no external interrupt for this GPIO", g, 0);
    REG(EINT + 4u * g) = EINT_EN | EINT_DUAL; /* both edges, no debounce */
    REG(NVIC_IPR(0) + IRQ_EINT(g)) = IRQ_PRIORITY;
    REG(NVIC_ISER(IRQ_EINT(g))) = 1u << (IRQ_EINT(g) & 31u);
  } else if (g < 24u) {
    REG(EINT + 4u * g) = 0;
  }
}

void hal_gpio_write(uint32_t g, uint32_t level) {
  uint32_t bit, b = gpio_base(g, &bit);
  REG(b + (level ? GPIO_DOUT_SET : GPIO_DOUT_RESET)) = bit;
}

uint32_t hal_gpio_read(uint32_t g) {
  uint32_t bit, b = gpio_base(g, &bit);
  return (REG(b + GPIO_DIN) & bit) != 0;
}

uint32_t hal_pin(uint32_t role) { return role < 4 ? (uint32_t)rig_role_gpio[role] : (uint32_t)-1; }

void hal_sensor_power(uint32_t r, uint32_t on) {
  if (r >= 2 || rig_vcc_gpio[r] < 0) return; /* supply not switched on this rig */
  hal_gpio_configure((uint32_t)rig_vcc_gpio[r], GPIO_OUTPUT);
  hal_gpio_write((uint32_t)rig_vcc_gpio[r], on);
}

/* ================= intercore mailbox and rings ================= */
static ring_t out_ring, in_ring; /* RT -> HL, HL -> RT */

/* Descriptor: low 5 bits log2(size), header address = value & ~0x1F (hardware.md). */
static void ring_of(ring_t *r, uint32_t desc) {
  r->size = 1u << (desc & 0x1Fu);
  r->hdr = (ring_hdr *)(uintptr_t)(desc & ~0x1Fu);
}

static void mailbox_setup(void) {
  uint32_t got = 0;
  while (got != 7u) { /* the HL app's runtime sends both descriptors, then end of setup */
    while (REG(MBOX + MBOX_FIFO_CNT) == 0) {}
    uint32_t data = REG(MBOX + MBOX_DATA); /* DATA before CMD: reading CMD pops the entry */
    uint32_t cmd = REG(MBOX + MBOX_CMD);
    if (cmd == CMD_OUTBOUND) { ring_of(&out_ring, data); got |= 1u; }
    else if (cmd == CMD_INBOUND) { ring_of(&in_ring, data); got |= 2u; }
    else if (cmd == CMD_END_OF_SETUP) got |= 4u;
  }
  REG(MBOX + MBOX_RX_INT_EN) = 3u;
  REG(MBOX + MBOX_RX_INT_STS) = 3u;
  REG(NVIC_IPR(0) + IRQ_MBOX) = IRQ_PRIORITY;
  REG(NVIC_ISER(IRQ_MBOX)) = 1u << (IRQ_MBOX & 31u);
}

uint32_t hal_mbox_send(uint32_t ptr, uint32_t len) { return ring_write(&out_ring, fw_span(ptr, len), len); }

uint32_t hal_mbox_recv(uint32_t ptr, uint32_t max) { return ring_read(&in_ring, fw_span(ptr, max), max); }

void hal_mbox_doorbell(uint32_t bits) {
  __asm volatile("dsb" ::: "memory"); /* ring writes complete before the HL core is told */
  REG(MBOX + MBOX_TX_INT_PORT) = bits & 3u;
}

/* ================= interrupts ================= */
void board_irq(uint32_t irq) {
  if (irq == IRQ_GPT0) {
    REG(GPT + GPT_ISR) = 1u;
    if (!timer_armed) return;
    while ((int32_t)(hal_counter_us() - timer_deadline) < 0) {} /* at most one 32 kHz tick */
    timer_armed = 0;
    fw_isr_timer(0);
  } else if (irq == IRQ_MBOX) {
    uint32_t sts = REG(MBOX + MBOX_RX_INT_STS);
    REG(MBOX + MBOX_RX_INT_STS) = sts;
    uint32_t bits = ((sts & 2u) ? 1u : 0u) | ((sts & 1u) ? 2u : 0u);
    if (bits) fw_isr_mailbox(bits);
  } else if (irq >= IRQ_EINT(0) && irq < IRQ_EINT(24)) {
    uint32_t capture = REG(GPT + GPT3_CNT); /* edge time: interrupt entry (12 cycles, 61 ns) */
    uint32_t g = irq - IRQ_EINT(0);
    fw_isr_gpio(g, hal_gpio_read(g), capture);
  }
}

/* ================= UART, masks, panic, halt ================= */
void board_putc(char c) {
  while (!(REG(UART + UART_LSR) & (1u << 5))) {}
  REG(UART + UART_THR) = (uint8_t)c;
}

void hal_uart_write(uint32_t ptr, uint32_t len) {
  const uint8_t *p = fw_span(ptr, len);
  for (uint32_t i = 0; i < len; i++) board_putc((char)p[i]);
}

uint32_t hal_irq_save(void) { return primask_save(); }
void hal_irq_restore(uint32_t s) { primask_restore(s); }
void hal_panic(uint32_t line, uint32_t column) { mcu_fault("firmware panic (line, column)", line, column); }

void board_halt(uint32_t code) {
  (void)code;
  __asm volatile("cpsid i" ::: "memory");
  for (;;) __asm volatile("wfi");
}

void board_init(void) {
  /* Debug UART 115200-8-N-1 from the 26 MHz clock, as the Azure Sphere RT samples set it up:
   * LCR 0xBF opens the divisor/enhanced registers, then HIGHSPEED 3, divisor 1, sample count 224,
   * sample point 110, fractional divider 223, LCR 3 (8 bits). CHECK-ON-HARDWARE */
  REG(UART + 0x0Cu) = 0xBFu;
  REG(UART + 0x08u) = 0x10u;
  REG(UART + 0x24u) = 3u;
  REG(UART + 0x04u) = 0u;
  REG(UART + 0x00u) = 1u;
  REG(UART + 0x28u) = 224u;
  REG(UART + 0x2Cu) = 110u;
  REG(UART + 0x58u) = 0u;
  REG(UART + 0x54u) = 223u;
  REG(UART + 0x0Cu) = 3u;
  /* GPT3: the free-running 1 MHz counter (hardware.md). */
  REG(GPT + GPT3_CTRL) = OSC_CNT_1US << 16;
  REG(GPT + GPT3_INIT) = 0;
  REG(GPT + GPT3_EXPIRE) = 0xFFFFFFFFu;
  REG(GPT + GPT3_CTRL) = (OSC_CNT_1US << 16) | 1u;
  /* GPT0: the compare timer behind timer_set(0). */
  REG(GPT + GPT0_CTRL) = 0;
  REG(GPT + GPT_ISR) = 1u;
  REG(GPT + GPT_IER) = 1u;
  REG(NVIC_IPR(0) + IRQ_GPT0) = IRQ_PRIORITY;
  REG(NVIC_ISER(IRQ_GPT0)) = 1u << (IRQ_GPT0 & 31u);
  mailbox_setup();
}
