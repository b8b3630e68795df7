// The live terminal view of a simulation run: simulated clock and speed, a progress bar, the last
// distances, readings taken and delivered, connection and certificate state. On a terminal it is a
// cli-progress bar redrawn in place; otherwise (CI logs, pipes) one plain line every `everyS`
// simulated seconds, so a log stays readable.
import cliProgress from 'cli-progress';

export interface LiveState {
  simS: number;
  wallS: number;
  lastCm: (number | null)[];
  taken: number;
  delivered: number;
  connection: string;
  issuer: string;
}

export class LiveView {
  private bar: cliProgress.SingleBar | null = null;
  private lastPrinted = -Infinity;

  constructor(private readonly totalS: number, private readonly rangers: string[], private readonly out: NodeJS.WriteStream = process.stdout, private readonly everyS = 60) {
    if (out.isTTY) {
      this.bar = new cliProgress.SingleBar({
        format: ' {bar} {percentage}% | {clock} ({speed}x) | {ranges} | taken {taken} delivered {delivered} | {connection} | cert {issuer}',
        hideCursor: true,
        stream: out,
        fps: 10,
        barsize: 24,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(Math.max(1, Math.round(totalS)), 0, this.payload(initial(rangers.length)));
    }
  }

  update(s: LiveState): void {
    if (this.bar) {
      this.bar.update(Math.min(this.totalS, Math.round(s.simS)), this.payload(s));
      return;
    }
    if (s.simS - this.lastPrinted >= this.everyS) {
      this.lastPrinted = s.simS;
      const p = this.payload(s);
      this.out.write(`${p.clock} (${p.speed}x) ${p.ranges} | taken ${s.taken} delivered ${s.delivered} | ${s.connection} | cert ${s.issuer}\n`);
    }
  }

  stop(): void {
    this.bar?.stop();
  }

  private payload(s: LiveState) {
    return {
      clock: clock(s.simS),
      speed: s.wallS > 0 ? Math.round(s.simS / s.wallS) : 0,
      ranges: this.rangers.map((n, i) => `${n} ${s.lastCm[i] === null || s.lastCm[i] === undefined ? '  --  ' : s.lastCm[i]!.toFixed(1).padStart(6)}`).join(' '),
      taken: s.taken,
      delivered: s.delivered,
      connection: s.connection,
      issuer: s.issuer,
    };
  }
}

function initial(n: number): LiveState {
  return { simS: 0, wallS: 0, lastCm: new Array(n).fill(null), taken: 0, delivered: 0, connection: 'starting', issuer: '-' };
}

/** Simulated time as d hh:mm:ss. */
export function clock(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return `${d ? d + 'd ' : ''}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}
