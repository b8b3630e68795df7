// The entry point of the hlcore bundle that ships in the image package (tools/pack.ts bundles it with
// esbuild into hlcore/app.mjs): the Device and the host implementations of its interfaces. The
// device's own main (Wi-Fi radio, the /dev/rtapp intercore channel) links against these.
export { Device, type DeviceOptions } from './device.ts';
export { TlsNetworkLink } from './host/tls-link.ts';
export { FileSecureStore } from './host/file-secure-store.ts';
export { WallClock } from './host/wall-clock.ts';
export { SqliteStorage } from './sqlite-storage.ts';
export { seededRandom } from './random.ts';
export { MODEL_ID } from './pnp.ts';
