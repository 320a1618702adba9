// Entry point of the `thermostat` CLI. Each subcommand lives in cli/commands/<name>.ts and
// exports `register(program)`, so commands stay small and independent. Exit codes: 0 success,
// 1 runtime failure, 2 usage or configuration error (cli/errors.ts).
import { Command } from 'commander';
import { reportError } from './errors.js';
import { packageVersion } from './package-info.js';
import * as bench from './commands/bench.js';
import * as produceSample from './commands/produce-sample.js';
import * as run from './commands/run.js';
import * as simulate from './commands/simulate.js';
import * as stack from './commands/stack.js';

export interface CliOutput {
  writeOut(s: string): void;
  writeErr(s: string): void;
}

const processOutput: CliOutput = {
  writeOut: (s) => process.stdout.write(s),
  writeErr: (s) => process.stderr.write(s),
};

export function buildProgram(out: CliOutput = processOutput): Command {
  // Settings first: subcommands copy them when they are added.
  const program = new Command('thermostat')
    .description('Real-time heating regulation for recommender systems (breaks the Matthew effect).')
    .version(packageVersion, '-V, --version', 'print the version')
    .configureOutput({
      writeOut: out.writeOut,
      writeErr: out.writeErr,
      // Commander's usage errors read like ours: "thermostat: option '--users <n>' ...".
      outputError: (message, write) => write(message.replace(/^error: /, 'thermostat: ')),
    })
    .exitOverride();
  for (const command of [run, stack, produceSample, simulate, bench]) command.register(program);
  return program;
}

/** Parses and runs one command line; resolves to the exit code. */
export async function main(argv: string[], out: CliOutput = processOutput): Promise<number> {
  try {
    await buildProgram(out).parseAsync(argv);
    return 0;
  } catch (e) {
    return reportError(e, out.writeErr);
  }
}
