// Exit codes of the `thermostat` command and the one-line error report. A usage or configuration
// error names what to fix (the flag, the key, the path) and exits 2; a runtime failure (a broker
// that does not answer, a failure while running) exits 1; only an unexpected error (a bug) prints
// its stack.
import { CommanderError } from 'commander';
import { ThermostatError } from '../core/errors.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A bad flag, path or combination of flags: exit 2. */
export class UsageError extends Error {}

/** Reports `err` on one line (plus a stack for a bug) and returns the exit code. */
export function reportError(err: unknown, writeErr: (line: string) => void): number {
  if (err instanceof CommanderError) {
    // Commander already printed its message (help, --version, or a usage error naming the flag).
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof UsageError) {
    writeErr(`thermostat: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof ThermostatError && err.reason === 'CONFIG') {
    writeErr(`thermostat: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof ThermostatError && err.reason !== 'INTERNAL') {
    writeErr(`thermostat: ${err.message}\n`);
    return EXIT.failure;
  }
  writeErr(`thermostat: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT.failure;
}
