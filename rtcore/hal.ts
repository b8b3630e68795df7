// The HAL ABI: everything the firmware may import from the board (module "hal").
// This file is the single declaration of the imports; rtcore/main.ts declares the exports
// (init, idle, isr_*). test/boards/hal-abi.test.ts compares the built release .wasm with what
// every board implementation provides. The same table is implemented in C for the MCU build.
//
// Conventions: pins are GPIO numbers obtained from pin(role) (never hard-coded: the board and rig
// files decide); times are ticks of the free-running 1 MHz counter (MT3620 GPT3 runs at 1 MHz,
// shared/reference/hardware.md), u32, wrapping.

/** GPIO number wired to a firmware role (see Role), or -1 when the rig does not wire it. */
@external("hal", "pin")
export declare function pin(role: i32): i32;

/** mode: GPIO_INPUT, GPIO_OUTPUT, or GPIO_INPUT_IRQ (input with an interrupt on both edges). */
@external("hal", "gpio_configure")
export declare function gpio_configure(gpio: i32, mode: i32): void;

@external("hal", "gpio_write")
export declare function gpio_write(gpio: i32, level: i32): void;

@external("hal", "gpio_read")
export declare function gpio_read(gpio: i32): i32;

/** The free-running 1 MHz counter (GPT3-like), wraps at 2^32. */
@external("hal", "counter_us")
export declare function counter_us(): u32;

/** One-shot compare timer: isr_timer(id) runs when counter_us() reaches deadline (wrap-aware;
 *  a deadline not in the future fires at once). Re-arming replaces the previous deadline. */
@external("hal", "timer_set")
export declare function timer_set(id: i32, deadline: u32): void;

@external("hal", "timer_cancel")
export declare function timer_cancel(id: i32): void;

/** Append one message (component-ID header + payload) to the outbound intercore ring buffer.
 *  Returns MBOX_OK, MBOX_FULL (no room now: try again later) or MBOX_TOO_BIG. */
@external("hal", "mbox_send")
export declare function mbox_send(ptr: usize, len: i32): i32;

/** Take the next inbound message into [ptr, ptr+max). Returns its length, 0 when the ring is
 *  empty, or MBOX_TOO_BIG (the message is skipped) when it does not fit. */
@external("hal", "mbox_recv")
export declare function mbox_recv(ptr: usize, max: i32): i32;

/** Ring the high-level core's doorbell (SW_TX_INT_PORT): bit 0 "sent", bit 1 "received". */
@external("hal", "mbox_doorbell")
export declare function mbox_doorbell(bits: i32): void;

@external("hal", "uart_write")
export declare function uart_write(ptr: usize, len: i32): void;

/** Switch a ranger's supply (load switch wired by the rig). */
@external("hal", "sensor_power")
export declare function sensor_power(ranger: i32, on: i32): void;

/** Mask interrupts (PRIMASK) and return the previous mask; irq_restore puts it back. */
@external("hal", "irq_save")
export declare function irq_save(): i32;

@external("hal", "irq_restore")
export declare function irq_restore(state: i32): void;

/** A fatal firmware error (failed assertion, out of memory): the board halts the core. */
@external("hal", "panic")
export declare function panic(line: u32, column: u32): void;

export const GPIO_INPUT: i32 = 0;
export const GPIO_OUTPUT: i32 = 1;
export const GPIO_INPUT_IRQ: i32 = 2;

export const MBOX_OK: i32 = 0;
export const MBOX_FULL: i32 = -1;
export const MBOX_TOO_BIG: i32 = -2;

export const DOORBELL_SENT: i32 = 1;
export const DOORBELL_RECEIVED: i32 = 2;

/** Roles the rig can wire. A Grove ranger has one signal pin: its TRIG and ECHO roles name the same GPIO. */
export namespace Role {
  export const RANGER0_TRIG: i32 = 0;
  export const RANGER0_ECHO: i32 = 1;
  export const RANGER1_TRIG: i32 = 2;
  export const RANGER1_ECHO: i32 = 3;
}

/** Our abort handler (asconfig "use": abort=rtcore/hal/abort): no strings leave the core. */
export function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  panic(line, column);
  unreachable();
}
