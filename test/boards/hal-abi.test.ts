// HAL ABI (DESIGN.md, contract 1): the built release .wasm's import and export sections, read
// straight from the binary (WebAssembly spec 5.5: type section 1, import section 2, export
// section 7), against what the board implements and calls, and against the firmware's own
// declaration in rtcore/hal.ts. Nothing missing, nothing extra, same signatures.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { loadFirmware } from '../../sim/rt-run.ts';
import { FIRMWARE_EXPORTS, HAL_IMPORTS, M4Core } from '../../boards/mt3620/m4-core.ts';

const VAL: Record<number, string> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64' };

/** A minimal reader for the three sections the ABI lives in. */
function readAbi(wasm: Uint8Array) {
  let p = 8;
  const u = () => {
    let r = 0;
    let s = 0;
    for (;;) {
      const b = wasm[p++];
      r += (b & 0x7f) * 2 ** s;
      s += 7;
      if (!(b & 0x80)) return r;
    }
  };
  const name = () => {
    const n = u();
    const s = new TextDecoder().decode(wasm.subarray(p, p + n));
    p += n;
    return s;
  };
  const types: { params: string[]; results: string[] }[] = [];
  const imports: { module: string; name: string; type: { params: string[]; results: string[] } }[] = [];
  const exports: { name: string; kind: number; index: number }[] = [];
  let importedFuncs = 0;
  const funcTypes: number[] = [];
  while (p < wasm.length) {
    const id = wasm[p++];
    const size = u();
    const end = p + size;
    if (id === 1) {
      for (let n = u(); n > 0; n--) {
        assert.is(wasm[p++], 0x60, 'func type');
        const params = Array.from({ length: u() }, () => VAL[wasm[p++]]);
        const results = Array.from({ length: u() }, () => VAL[wasm[p++]]);
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = u(); n > 0; n--) {
        const module = name();
        const nm = name();
        const kind = wasm[p++];
        assert.is(kind, 0, `import ${module}.${nm} is a function`);
        imports.push({ module, name: nm, type: types[u()] });
        importedFuncs++;
      }
    } else if (id === 3) {
      for (let n = u(); n > 0; n--) funcTypes.push(u());
    } else if (id === 7) {
      for (let n = u(); n > 0; n--) exports.push({ name: name(), kind: wasm[p++], index: u() });
    }
    p = end;
  }
  const exportTypes = new Map(exports.map((e) => [e.name, e.kind === 0 ? types[funcTypes[e.index - importedFuncs]] : 'memory']));
  return { imports, exportTypes };
}

const abi = suite('HAL ABI');
const wasm = loadFirmware();
const { imports, exportTypes } = readAbi(wasm);

abi('every import comes from module "hal" and the board provides exactly those, with the same signatures', () => {
  for (const i of imports) assert.is(i.module, 'hal', `${i.module}.${i.name}`);
  assert.equal(imports.map((i) => i.name).sort(), Object.keys(HAL_IMPORTS).sort());
  for (const i of imports) assert.equal(i.type, HAL_IMPORTS[i.name], `signature of hal.${i.name}`);
  // Cross-check with the engine's own reading of the binary.
  const engine = WebAssembly.Module.imports(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>));
  assert.equal(engine.map((i) => `${i.module}.${i.name}`).sort(), imports.map((i) => `hal.${i.name}`).sort());
});

abi('the board implements every function of its HAL table', () => {
  assert.equal(M4Core.implementedHal().sort(), Object.keys(HAL_IMPORTS).sort());
});

abi('the firmware exports exactly what the board calls', () => {
  assert.equal([...exportTypes.keys()].sort(), Object.keys(FIRMWARE_EXPORTS).sort());
  for (const [n, t] of exportTypes) assert.equal(t, FIRMWARE_EXPORTS[n], `export ${n}`);
});

abi('rtcore/hal.ts declares each import once, and every declared import is in the table', () => {
  const src = readFileSync(new URL('../../rtcore/hal.ts', import.meta.url), 'utf8');
  const declared = [...src.matchAll(/@external\("hal", "(\w+)"\)\s*export declare function (\w+)/g)];
  for (const [, ext, fn] of declared) assert.is(ext, fn, 'declaration named after its import');
  const names = declared.map((m) => m[1]);
  assert.is(new Set(names).size, names.length, 'no duplicate declaration');
  assert.equal(names.sort(), Object.keys(HAL_IMPORTS).sort());
});

abi('the release image fits its budget: under 16 KiB, one 64 KiB memory page at most', () => {
  assert.ok(wasm.length < 16 * 1024, `${wasm.length} bytes`);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>), {
    hal: Object.fromEntries(Object.keys(HAL_IMPORTS).map((k) => [k, () => 0])),
  });
  const m = inst.exports.memory as WebAssembly.Memory;
  assert.is(m.buffer.byteLength, 65536);
  assert.throws(() => m.grow(1), 'memory cannot grow past one page');
});

abi.run();
