// Value Change Dump (IEEE 1364-2005 section 18) writer for chosen pins, readable by GTKWave and
// PulseView. Times are written in nanoseconds, rounded from core cycles.

interface Signal {
  name: string;
  code: string;
  value: number;
  initial: number;
}

export class VcdTrace {
  private readonly signals: Signal[] = [];
  private readonly changes: string[] = [];
  private lastNs = -1;

  constructor(private readonly hz: number, private readonly scope = 'rover') {}

  /** Add a 1-bit signal; returns the function to call when it changes. */
  add(name: string, initial: number): (value: number, cycles: number) => void {
    const sig: Signal = { name, code: idCode(this.signals.length), value: initial, initial };
    this.signals.push(sig);
    return (value, cycles) => {
      if (value === sig.value) return;
      sig.value = value;
      const ns = Math.round((cycles * 1e9) / this.hz);
      if (ns !== this.lastNs) {
        this.changes.push(`#${ns}`);
        this.lastNs = ns;
      }
      this.changes.push(`${value ? 1 : 0}${sig.code}`);
    };
  }

  /** Number of value changes recorded. */
  get length(): number {
    return this.changes.length;
  }

  /** The whole file. `endCycles` closes the trace at the end of the run. */
  toString(endCycles?: number): string {
    const head = [
      '$date simulated $end',
      '$version rover boards/vcd.ts $end',
      '$timescale 1ns $end',
      `$scope module ${this.scope} $end`,
      ...this.signals.map((s) => `$var wire 1 ${s.code} ${s.name.replace(/[^A-Za-z0-9_.]/g, '_')} $end`),
      '$upscope $end',
      '$enddefinitions $end',
      '#0',
      '$dumpvars',
      ...this.signals.map((s) => `${s.initial ? 1 : 0}${s.code}`),
      '$end',
    ];
    const tail = endCycles === undefined ? [] : [`#${Math.max(this.lastNs, Math.round((endCycles * 1e9) / this.hz))}`];
    return [...head, ...this.changes, ...tail].join('\n') + '\n';
  }

}

/** VCD identifier codes: printable ASCII 33..126, base 94. */
function idCode(n: number): string {
  let s = '';
  do {
    s += String.fromCharCode(33 + (n % 94));
    n = Math.floor(n / 94);
  } while (n > 0);
  return s;
}

/** Parse the value changes of a VCD we wrote (for tests and the report): name -> [ns, value][]. */
export function parseVcd(text: string): Map<string, [number, number][]> {
  const byCode = new Map<string, string>();
  const out = new Map<string, [number, number][]>();
  let t = 0;
  for (const line of text.split('\n')) {
    const v = /^\$var wire 1 (\S+) (\S+) \$end$/.exec(line);
    if (v) {
      byCode.set(v[1], v[2]);
      out.set(v[2], []);
      continue;
    }
    if (line.startsWith('#')) t = Number(line.slice(1));
    else if (/^[01]/.test(line)) {
      const name = byCode.get(line.slice(1));
      if (name) out.get(name)!.push([t, Number(line[0])]);
    }
  }
  return out;
}
