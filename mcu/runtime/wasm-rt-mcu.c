/* Our wasm2c runtime for a bare-metal Cortex-M4F, replacing wabt's wasm-rt-impl.c.
 *
 * wasm2c (wabt 1.0.32, Debian bookworm) generates code that needs only these runtime symbols:
 *   wasm_rt_init / wasm_rt_is_initialized, wasm_rt_register_func_type, wasm_rt_allocate_memory,
 *   wasm_rt_grow_memory, wasm_rt_free_memory, wasm_rt_trap, wasm_rt_call_stack_depth.
 * (`tools/build-target.ts` links with --no-undefined semantics: a newer wabt needing more fails at
 * link time, naming the symbol.)
 *
 * Differences from wasm-rt-impl.c, by design:
 *  - Linear memory is a static array of the module's single 64 KiB page (asconfig.json:
 *    initialMemory = maximumMemory = 1), placed by the board's linker script (section .wasm_memory:
 *    SYSRAM on the MT3620). No mmap, no guard pages: on 32-bit targets wasm-rt.h selects explicit
 *    bounds checks (WASM_RT_MEMCHECK_SIGNAL_HANDLER = 0), so every load/store is range-checked.
 *  - memory.grow always fails (returns -1), as the module's maximum is its initial size.
 *  - A trap does not longjmp: it reports over the debug UART and halts the core (board_halt).
 *  - Call depth is counted (WASM_RT_USE_STACK_DEPTH_COUNT = 1 on 32-bit) and limited to
 *    WASM_RT_MAX_CALL_STACK_DEPTH, set by the build (the linker script reserves the stack). */
#include <stdarg.h>
#include <string.h>
#include "wasm-rt.h"
#include "mcu.h"

uint32_t wasm_rt_call_stack_depth;

/* The module's linear memory. 8-byte aligned: i64/f64 loads are done with memcpy anyway. */
static uint8_t linear_memory[FW_MEMORY_BYTES] __attribute__((section(".wasm_memory"), aligned(8)));

static bool initialized;

void wasm_rt_init(void) { initialized = true; }
bool wasm_rt_is_initialized(void) { return initialized; }
void wasm_rt_free(void) {}

/* Function types only matter for call_indirect checks. Our module has no table, but the generated
 * init code registers every type: hand out indices, comparing (params, results) signatures so two
 * registrations of the same signature get the same index, as the spec requires. */
#define MAX_FUNC_TYPES 32
#define MAX_TYPE_VALUES 8
static struct { uint8_t np, nr; uint8_t t[MAX_TYPE_VALUES]; } func_types[MAX_FUNC_TYPES];
static uint32_t func_type_count;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  uint8_t t[MAX_TYPE_VALUES];
  if (params + results > MAX_TYPE_VALUES) mcu_fault("func type too wide", params, results);
  va_list ap;
  va_start(ap, results);
  for (uint32_t i = 0; i < params + results; i++) t[i] = (uint8_t)va_arg(ap, int);
  va_end(ap);
  for (uint32_t k = 0; k < func_type_count; k++) {
    if (func_types[k].np == params && func_types[k].nr == results && memcmp(func_types[k].t, t, params + results) == 0) return k;
  }
  if (func_type_count == MAX_FUNC_TYPES) mcu_fault("too many func types", func_type_count, 0);
  func_types[func_type_count].np = (uint8_t)params;
  func_types[func_type_count].nr = (uint8_t)results;
  memcpy(func_types[func_type_count].t, t, params + results);
  return func_type_count++;
}

void wasm_rt_allocate_memory(wasm_rt_memory_t *mem, uint32_t initial_pages, uint32_t max_pages) {
  if (initial_pages != 1 || max_pages != 1) mcu_fault("module memory is not exactly one page", initial_pages, max_pages);
  memset(linear_memory, 0, sizeof linear_memory); /* wasm: memory starts zeroed */
  mem->data = linear_memory;
  mem->pages = 1;
  mem->max_pages = 1;
  mem->size = FW_MEMORY_BYTES;
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t *mem, uint32_t delta) {
  return delta == 0 ? mem->pages : (uint32_t)-1;
}

void wasm_rt_free_memory(wasm_rt_memory_t *mem) { (void)mem; }

static const char *const trap_names[] = {
  "none", "out of bounds", "integer overflow", "divide by zero", "invalid conversion",
  "unreachable", "call_indirect", "uncaught exception", "call stack exhausted",
};

const char *wasm_rt_strerror(wasm_rt_trap_t trap) {
  return (unsigned)trap < sizeof trap_names / sizeof trap_names[0] ? trap_names[trap] : "?";
}

/* A trap is fatal on the MCU: report it on the debug UART and halt. */
void wasm_rt_trap(wasm_rt_trap_t code) {
  __asm volatile("cpsid i" ::: "memory");
  mcu_puts("\r\nTRAP ");
  mcu_puts(wasm_rt_strerror(code));
  mcu_puts("\r\n");
  board_halt(0x100u + (uint32_t)code);
}
