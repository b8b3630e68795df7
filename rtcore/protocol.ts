// Intercore payload protocol constants. The byte layout is documented once, in rtcore/PROTOCOL.md;
// the host-side codec is hlcore/intercore/frame.ts. Keep the three in step.

export const VERSION: u8 = 1;
export const PREAMBLE: i32 = 8; // version u8, type u8, body length u16, seq u32
export const CRC_BYTES: i32 = 4;
/** Azure Sphere message header seen by the RT core: 16-byte component ID + 4 reserved bytes
 *  (shared/reference/hardware.md, "Intercore communication"). */
export const HEADER: i32 = 20;

// RT -> HL
export const T_BATCH: u8 = 0x01;
export const T_STATUS: u8 = 0x02;
export const T_RESULT: u8 = 0x03;
// HL -> RT
export const T_ACK: u8 = 0x81;
export const T_CONFIG: u8 = 0x82;
export const T_POWER_CYCLE: u8 = 0x83;
export const T_STATUS_REQUEST: u8 = 0x84;

// Result codes (T_RESULT)
export const R_OK: u8 = 0;
export const R_BAD_ARGUMENT: u8 = 1;
export const R_UNKNOWN_COMMAND: u8 = 2;

// Sample codes: 0..65519 are millimetres; these are not numbers.
export const S_NO_ECHO: u16 = 0xffff;
export const S_OUT_OF_RANGE: u16 = 0xfffe;
export const S_FAULT: u16 = 0xfffd;
export const S_SPURIOUS: u16 = 0xfffc;

// Batch flags
export const F_COMPENSATED: u8 = 1;

export const BATCH_FIXED: i32 = 44; // bytes of batch body before the samples
