// Shared command-line plumbing for `rover <command>`: argument parsing with node:util,
// one-line errors, and JSON-lines output. Every command module exports `help` and `main`.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in what the user typed or supplied: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** A failure of the job itself (an expectation not met, a refused operation): one line, exit code 1. */
export class CommandError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export interface Command {
  help: string;
  main(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with --help handled and errors turned into UsageError naming the bad argument. */
export function parse<O extends Options>(argv: string[], options: O, help: string, allowPositionals = false) {
  // `--temp -5`: node's parseArgs takes "-5" for an option; join negative numbers to their flag.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([\w-]+)$/.exec(argv[i]);
    if (m && options[m[1]]?.type === 'string' && /^-\d/.test(argv[i + 1] ?? '')) args.push(`${argv[i]}=${argv[++i]}`);
    else args.push(argv[i]);
  }
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
    if ((r.values as any).help) {
      process.stdout.write(help.endsWith('\n') ? help : help + '\n');
      return null;
    }
    return r as { values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string }; positionals: string[] };
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
}

/** A finite number from a flag, or a UsageError that names the flag. */
export function num(name: string, v: string | undefined, dflt: number, check?: (n: number) => boolean, what = 'a number'): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (check && !check(n))) throw new UsageError(`--${name}: expected ${what}, got '${v}'`);
  return n;
}

export function jsonLine(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}
