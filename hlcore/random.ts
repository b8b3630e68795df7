// The seeded random source hlcore uses for jitter (DESIGN.md: no Math.random() inside hlcore).
// A deployment seeds it from the device's entropy once at boot; tests and the simulator pass a seed.

/** A number in [0, 1). */
export type Random = () => number;

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
