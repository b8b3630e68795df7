// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF): the same
// CRC as zlib's crc32, which the host side uses to check frames (rtcore/PROTOCOL.md).
// Table-driven: 1 KiB of table buys ~8x fewer cycles per byte than the bitwise loop.

const table = memory.data(256 * 4);
let ready = false;

function build(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    store<u32>(table + (<usize>n << 2), c);
  }
  ready = true;
}

export function crc32(ptr: usize, len: i32): u32 {
  if (!ready) build();
  let c: u32 = 0xffffffff;
  for (let i = 0; i < len; i++) {
    c = load<u32>(table + (<usize>((c ^ load<u8>(ptr + i)) & 0xff) << 2)) ^ (c >>> 8);
  }
  return c ^ 0xffffffff;
}
