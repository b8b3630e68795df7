// The device side of flashing in C (mcu/bootloader), on the Cortex-M4F under QEMU: its SHA-256 and
// ECDSA P-256 verification against node:crypto, then `rover flash --target qemu://mps2-an386`
// end to end: a power cut (QEMU killed) mid-transfer resumed by a new QEMU on the same flash file,
// accepted and booted, a foreign signature refused, an image that cannot boot rolled back — the
// same rules and messages as the simulated bootloader.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKeyPairSync, createPublicKey, sign, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram, buildTarget, ROOT } from '../../tools/build-target.ts';
import { writePackage } from '../../boards/flash/package.ts';
import { startQemuDevice, flashPackage, FlashError, type Link } from '../../tools/flash.ts';
import { runQemu, frames, haveTools } from './_qemu.ts';

const t = suite('mcu: bootloader in C under QEMU');
const missing = haveTools();
const dir = mkdtempSync(join(tmpdir(), 'rover-boot-'));
t.after(() => rmSync(dir, { recursive: true, force: true }));
const m = (f: string) => join(ROOT, 'mcu', f);

t('SHA-256 and ECDSA P-256 verification in C agree with node:crypto', async () => {
  if (missing) throw new Error(`${missing} not installed (CI installs it: .ci/run)`);
  const cases: { msg: Buffer; sig: Buffer; pub: Buffer; valid: number }[] = [];
  for (let k = 0; k < 4; k++) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const pub = spki.subarray(spki.length - 64);
    const msg = Buffer.from(`rover ${k} `.repeat(k * 20 + 1)); // 0 .. 400 bytes: one and several blocks
    const sig = sign('sha256', msg, { key: privateKey, dsaEncoding: 'der' });
    cases.push({ msg, sig, pub, valid: 1 });
    const altered = Buffer.from(msg);
    altered[altered.length >> 1] ^= 1;
    cases.push({ msg: altered, sig, pub, valid: 0 });
    const badSig = Buffer.from(sig);
    badSig[badSig.length - 1] ^= 1;
    cases.push({ msg, sig: badSig, pub, valid: 0 });
  }
  cases.push({ msg: Buffer.from('abc'), sig: Buffer.from([0x30, 6, 2, 1, 1, 2, 1, 1]), pub: cases[0].pub, valid: 0 }); // r = s = 1
  const u32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);
  const blob = Buffer.concat(cases.flatMap((c) => [u32(c.msg.length), c.msg, u32(c.sig.length), c.sig, c.pub]));
  const d = join(dir, 'crypto');
  const src = join(dir, 'cases.c');
  writeFileSync(src, `#include <stdint.h>\nconst uint32_t crypto_case_count = ${cases.length}u;\nconst uint8_t crypto_cases[] = {${[...blob].join(',')}};\n`);
  const elf = await buildProgram('qemu-mps2-an386', [m('bootloader/sha256.c'), m('bootloader/p256.c'), m('qemu-mps2-an386/common.c'), m('test/crypto-harness.c'), src], d);
  const r = await runQemu(elf, 60_000);
  assert.is(r.code, 0, r.out.slice(-200));
  const [out] = frames(r.out, 'C');
  const n = cases.length;
  cases.forEach((c, i) => {
    assert.is(Buffer.from(out.subarray(32 * i, 32 * i + 32)).toString('hex'), createHash('sha256').update(c.msg).digest('hex'), `SHA-256 of case ${i}`);
    assert.is(out[32 * n + i], c.valid, `verify case ${i}`);
  });
});

t('rover flash --target qemu://mps2-an386: power cut and resume, accepted, refused, rolled back', async () => {
  if (missing) throw new Error(`${missing} not installed (CI installs it: .ci/run)`);
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const built = await buildTarget('mt3620', { outDir: join(dir, 'mt3620') });
  const stripped = join(dir, 'app.elf');
  execFileSync('arm-none-eabi-strip', ['-o', stripped, built.elf]);
  const wasm = readFileSync(join(ROOT, 'build/rtcore.wasm'));
  const pkgWith = (elf: Uint8Array, k = key, withWasm = true) =>
    writePackage([{ path: 'rtcore/app.elf', data: elf }, ...(withWasm ? [{ path: 'rtcore/rtcore.wasm', data: wasm }] : [])], { board: 'seeed-mt3620-rdb', rig: 'boards/rigs/rover-hcsr04.rig.json' }, k);
  const good = pkgWith(readFileSync(stripped));
  // Power cut: the link dies after ~40% of the package and QEMU is killed; the flash (a host file,
  // written through semihosting) keeps what the device acknowledged. A new QEMU resumes there.
  const flashFile = join(dir, 'flash.bin');
  let dev = await startQemuDevice(createPublicKey(key), { flashFile });
  try {
    let sent = 0;
    const flaky: Link = {
      write: (b) => {
        sent += b.length;
        if (sent < good.length * 0.4) dev.link.write(b);
      },
      onData: (cb) => dev.link.onData(cb),
      close: () => {},
    };
    await flashPackage(good, flaky, { timeoutMs: 700, maxRetries: 1 }).then(
      () => assert.unreachable('cannot finish over a dead link'),
      (e) => assert.instance(e, FlashError),
    );
    dev.stop();
    dev = await startQemuDevice(createPublicKey(key), { flashFile });
    const r = await flashPackage(good, dev.link, { timeoutMs: 3000 });
    assert.ok(r.resumedFrom > 0 && r.resumedFrom < good.length, `resumed at ${r.resumedFrom}`);
    assert.is(r.chunksSent, Math.ceil((good.length - r.resumedFrom) / 1024));
    assert.equal(r.booted, { active: 'A', rolledBack: false, message: 'booted slot A (new image confirmed)' });

    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    // (small packages from here on: QEMU's UART model moves about 13 KB/s)
    await flashPackage(pkgWith(readFileSync(stripped).subarray(0, 2048), other, false), dev.link, { timeoutMs: 3000 }).then(
      () => assert.unreachable('foreign signature accepted'),
      (e) => assert.match(e.message, /END: device refused: not bootable: signed by key [0-9a-f]{16}, not by the trusted key [0-9a-f]{16}: refused/),
    );
    // A correctly signed package whose ELF is not an MT3620 image (the mps2 build: entry near 0).
    const mps2 = await buildTarget('qemu-mps2-an386', { outDir: join(dir, 'mps2') });
    const bad = await flashPackage(pkgWith(readFileSync(mps2.elf).subarray(0, 2048), key, false), dev.link, { timeoutMs: 3000 });
    assert.is(bad.slot, 'B');
    assert.equal(bad.booted, { active: 'A', rolledBack: true, message: 'slot B failed to boot (entry point outside the MT3620 TCM); rolled back to slot A' });
    assert.equal(bad.info.slots.map((s) => s.state), [3, 4], 'A confirmed, B rejected');
  } finally {
    dev.stop();
  }
});

t.run();
