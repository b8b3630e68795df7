/* The contract between the generic MCU runtime (mcu/common, mcu/runtime), the generated glue
 * (build/mcu/<target>/glue.c, written by tools/build-target.ts from the wasm2c header) and a board's
 * C HAL (mcu/<board>/hal.c). One HAL function per import in boards/mt3620/m4-core.ts HAL_IMPORTS,
 * same names, same wasm signatures (i32 -> uint32_t). */
#ifndef ROVER_MCU_H
#define ROVER_MCU_H
#include <stdint.h>

/* ---- The firmware (glue.c wraps the wasm2c-generated names, which differ between wabt versions) ---- */
void fw_instantiate(void);           /* static linear memory, data segments, start function */
void fw_init(void);
void fw_idle(void);
void fw_isr_gpio(uint32_t pin, uint32_t level, uint32_t capture);
void fw_isr_timer(uint32_t id);
void fw_isr_mailbox(uint32_t bits);
uint8_t *fw_memory(void);            /* base of the module's one 64 KiB page */
#define FW_MEMORY_BYTES 65536u

/* ---- The board's HAL: rtcore/hal.ts, implemented in C ---- */
uint32_t hal_pin(uint32_t role);
void hal_gpio_configure(uint32_t gpio, uint32_t mode);
void hal_gpio_write(uint32_t gpio, uint32_t level);
uint32_t hal_gpio_read(uint32_t gpio);
uint32_t hal_counter_us(void);
void hal_timer_set(uint32_t id, uint32_t deadline);
void hal_timer_cancel(uint32_t id);
uint32_t hal_mbox_send(uint32_t ptr, uint32_t len);
uint32_t hal_mbox_recv(uint32_t ptr, uint32_t max);
void hal_mbox_doorbell(uint32_t bits);
void hal_uart_write(uint32_t ptr, uint32_t len);
void hal_sensor_power(uint32_t ranger, uint32_t on);
uint32_t hal_irq_save(void);
void hal_irq_restore(uint32_t state);
void hal_panic(uint32_t line, uint32_t column);

/* rtcore/hal.ts constants */
#define GPIO_INPUT 0
#define GPIO_OUTPUT 1
#define GPIO_INPUT_IRQ 2
#define MBOX_OK 0
#define MBOX_FULL ((uint32_t)-1)
#define MBOX_TOO_BIG ((uint32_t)-2)

/* ---- Rig data (glue.c, generated from the rig file: boards/hardware.ts loadRig) ---- */
extern const int32_t rig_role_gpio[4];   /* Role.RANGER0_TRIG .. RANGER1_ECHO, -1 = not wired */
extern const int32_t rig_vcc_gpio[2];    /* load switch of each ranger's supply, -1 = none */

/* ---- What a board provides to the generic main loop and startup ---- */
void board_init(void);                   /* clocks, timers, UART, interrupt priorities */
void board_run(void);                    /* never returns: the main loop (common/main.c) or a replay */
void board_irq(uint32_t irq);            /* NVIC IRQ n (exception 16 + n) */
void board_putc(char c);                 /* polled debug UART */
__attribute__((noreturn)) void board_halt(uint32_t code); /* stop the core (QEMU: exit) */

/* ---- Helpers (common/util.c) ---- */
void mcu_puts(const char *s);
void mcu_puthex(uint32_t v, int digits);
/* A HAL buffer [ptr, ptr+len) inside linear memory, or a fault (like a wasm out-of-bounds trap). */
uint8_t *fw_span(uint32_t ptr, uint32_t len);
__attribute__((noreturn)) void mcu_fault(const char *what, uint32_t a, uint32_t b);

/* Deepest stack use since reset, in bytes (common/startup.c paints the stack). */
uint32_t mcu_stack_used(void);

/* Set by every interrupt handler: the main loop must call idle() once more before sleeping. */
extern volatile uint32_t mcu_irq_seen;

static inline uint32_t primask_save(void) {
  uint32_t m;
  __asm volatile("mrs %0, primask\n cpsid i" : "=r"(m)::"memory");
  return m & 1u;
}
static inline void primask_restore(uint32_t m) {
  if (!m) __asm volatile("cpsie i" ::: "memory");
}
#endif
