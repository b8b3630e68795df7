// Where the device keeps its secrets (its private key) and its credentials (certificate, chain).
// On Azure Sphere this is the OS's protected storage; on a host, hlcore/host/file-secure-store.ts
// (files mode 0600 in a 0700 directory); in the simulator, sim/secure-store.ts. Contents are never
// logged: callers pass bytes in and out, nothing here formats them.
export interface SecureStore {
  get(name: string): Promise<Uint8Array | null>;
  /** Replaces the item atomically: a crash leaves the old or the new value, never a mix. */
  put(name: string, data: Uint8Array): Promise<void>;
  delete(name: string): Promise<void>;
}

/** Names are plain file-safe words so every implementation can map them 1:1. */
export function checkItemName(name: string): void {
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) throw new Error(`secure store item name must be [a-z0-9._-], 1-64 characters: '${name.slice(0, 70)}'`);
}
