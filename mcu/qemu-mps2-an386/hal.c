/* The HAL on QEMU's mps2-an386: a real clock and timer (CMSDK timers), the debug UART; no
 * external parts, so GPIO is a register file in RAM (outputs read back, inputs read 0, no edges)
 * and the intercore mailbox has no high-level core: every mbox_send is printed as an "@S" line
 * (so a host can read the frames) and succeeds, mbox_recv finds nothing. Enough to boot the real
 * firmware image, watch it schedule, time out on every echo and send its batches. */
#include "board.h"
#include "mcu.h"

#define GPIO_COUNT 76 /* as the MT3620 (boards/mt3620/chip.json) */
static uint8_t gpio_mode[GPIO_COUNT], gpio_level[GPIO_COUNT];

/* ---- time: TIMER1 free-running at SYSCLK, wraps counted in its interrupt ---- */
static volatile uint32_t timer1_wraps;

static uint64_t ticks(void) {
  uint32_t s = primask_save();
  uint32_t v = REG(TIMER1 + T_VALUE);
  uint32_t w = timer1_wraps;
  if (REG(TIMER1 + T_INT) & 1u) { /* wrapped, interrupt not yet taken */
    v = REG(TIMER1 + T_VALUE);
    w++;
  }
  primask_restore(s);
  return ((uint64_t)w << 32) | (0xFFFFFFFFu - v);
}

uint32_t hal_counter_us(void) { return (uint32_t)(ticks() / (SYSCLK_HZ / 1000000u)); }

static uint32_t timer_deadline;
static uint32_t timer_armed;

void hal_timer_set(uint32_t id, uint32_t deadline) {
  if (id != 0) mcu_fault("timer id not provided by this board", id, 0);
  uint32_t s = primask_save();
  REG(TIMER0 + T_CTRL) = 0;
  REG(TIMER0 + T_INT) = 1u;
  REG(NVIC_ICPR0) = 1u << IRQ_TIMER0;
  timer_deadline = deadline;
  timer_armed = 1;
  int32_t diff = (int32_t)(deadline - hal_counter_us()); /* wrap-aware, as the GPT compare */
  if (diff <= 0) {
    REG(NVIC_ISPR0) = 1u << IRQ_TIMER0; /* not in the future: fire at once */
  } else {
    REG(TIMER0 + T_RELOAD) = 0xFFFFFFFFu;
    REG(TIMER0 + T_VALUE) = (uint32_t)diff * (SYSCLK_HZ / 1000000u);
    REG(TIMER0 + T_CTRL) = T_CTRL_EN | T_CTRL_IRQ;
  }
  primask_restore(s);
}

void hal_timer_cancel(uint32_t id) {
  if (id != 0) return;
  uint32_t s = primask_save();
  REG(TIMER0 + T_CTRL) = 0;
  REG(TIMER0 + T_INT) = 1u;
  REG(NVIC_ICPR0) = 1u << IRQ_TIMER0;
  timer_armed = 0;
  primask_restore(s);
}

void board_irq(uint32_t irq) {
  if (irq == IRQ_TIMER1) {
    REG(TIMER1 + T_INT) = 1u;
    timer1_wraps++;
  } else if (irq == IRQ_TIMER0) {
    REG(TIMER0 + T_CTRL) = 0;
    REG(TIMER0 + T_INT) = 1u;
    if (!timer_armed) return;
    /* Never early: the tick division rounds down. */
    while ((int32_t)(hal_counter_us() - timer_deadline) < 0) {}
    timer_armed = 0;
    fw_isr_timer(0);
  }
}

void board_init(void) {
  mps2_uart_init();
  REG(TIMER1 + T_RELOAD) = 0xFFFFFFFFu;
  REG(TIMER1 + T_VALUE) = 0xFFFFFFFFu;
  REG(TIMER1 + T_CTRL) = T_CTRL_EN | T_CTRL_IRQ;
  /* One priority for every IRQ we use: handlers never nest (as in the simulator). */
  REG(NVIC_IPR(0) + IRQ_TIMER0) = 0x80u;
  REG(NVIC_IPR(0) + IRQ_TIMER1) = 0x80u;
  REG(NVIC_ISER0) = (1u << IRQ_TIMER0) | (1u << IRQ_TIMER1);
}

/* ---- pins (rig data) and GPIO ---- */
uint32_t hal_pin(uint32_t role) { return role < 4 ? (uint32_t)rig_role_gpio[role] : (uint32_t)-1; }

static void gpio_check(uint32_t g) {
  if (g >= GPIO_COUNT) mcu_fault("GPIO does not exist", g, 0);
}
void hal_gpio_configure(uint32_t g, uint32_t mode) {
  gpio_check(g);
  gpio_mode[g] = (uint8_t)mode;
}
void hal_gpio_write(uint32_t g, uint32_t level) {
  gpio_check(g);
  gpio_level[g] = level != 0;
}
uint32_t hal_gpio_read(uint32_t g) {
  gpio_check(g);
  return gpio_mode[g] == GPIO_OUTPUT ? gpio_level[g] : 0;
}
void hal_sensor_power(uint32_t r, uint32_t on) {
  if (r < 2 && rig_vcc_gpio[r] >= 0) hal_gpio_write((uint32_t)rig_vcc_gpio[r], on);
}

/* ---- intercore: frames out on the UART, nothing in ---- */
uint32_t hal_mbox_send(uint32_t ptr, uint32_t len) {
  mps2_write_frame('S', fw_span(ptr, len), len);
  return MBOX_OK;
}
uint32_t hal_mbox_recv(uint32_t ptr, uint32_t max) {
  (void)fw_span(ptr, max);
  return 0;
}
void hal_mbox_doorbell(uint32_t bits) { (void)bits; }

void hal_uart_write(uint32_t ptr, uint32_t len) {
  const uint8_t *p = fw_span(ptr, len);
  for (uint32_t i = 0; i < len; i++) board_putc((char)p[i]);
}

uint32_t hal_irq_save(void) { return primask_save(); }
void hal_irq_restore(uint32_t s) { primask_restore(s); }
void hal_panic(uint32_t line, uint32_t column) { mcu_fault("firmware panic (line, column)", line, column); }
