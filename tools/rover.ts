// `rover`: the project's command line. Each command lives in its own module, loaded on demand.
import { CommandError, UsageError, type Command } from './cli.ts';

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  build: { summary: 'build rtcore.wasm (release and debug) into build/', load: () => import('./build.ts') },
  run: { summary: 'run the firmware on the simulated board with a rig and a world (no cloud)', load: () => import('./run.ts') },
  pack: { summary: 'signed image package (RT core ELF, app manifests from the rig); --verify', load: () => import('./pack.ts') },
  flash: { summary: 'send a package to a bootloader: sim://, serial:///dev/ttyX, qemu://mps2-an386', load: () => import('./flash.ts') },
  sim: { summary: 'the whole rover (firmware, board, hlcore, cloud) under one simulated clock, driven by a scenario', load: () => import('./sim.ts') },
  ca: { summary: 'tenant CA certificates: list, download, register, verify, enroll, check (rotation advisor)', load: () => import('./ca.ts') },
  cloud: { summary: 'run the cloud emulator (Security Service, DPS, IoT Hub) on one MQTT/TLS port', load: () => import('./cloud.ts') },
};

const usage = `rover <command> [options]

Commands:
${Object.entries(commands).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`).join('\n')}

rover <command> --help documents each command.`;

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h' || name === 'help') {
  console.log(usage);
  process.exit(name ? 0 : 2);
}
const entry = commands[name];
if (!entry) {
  console.error(`rover: unknown command '${name}' (try rover --help)`);
  process.exit(2);
}
try {
  const cmd = await entry.load();
  process.exitCode = await cmd.main(rest);
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`rover ${name}: ${e.message}`);
    process.exitCode = 2;
  } else if (e instanceof CommandError) {
    console.error(`rover ${name}: ${e.message}`);
    process.exitCode = e.exitCode;
  } else {
    console.error(`rover ${name}: internal error: ${(e as Error)?.stack ?? e}`);
    process.exitCode = 70;
  }
}
