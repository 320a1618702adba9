// Entry point of the `thermostat` CLI. Each subcommand lives in cli/commands/<name>.ts and
// exports `register(program)`, so commands stay small and independent.
import { Command } from 'commander';

const COMMANDS = ['run', 'stack', 'produce-sample', 'simulate', 'bench'] as const;

export async function buildProgram(): Promise<Command> {
  const program = new Command('thermostat')
    .description('Real-time heating regulation for recommender systems (breaks the Matthew effect).')
    .showHelpAfterError();
  for (const name of COMMANDS) {
    let mod: { register(p: Command): void };
    try {
      mod = await import(`./commands/${name}.js`);
    } catch (e) {
      if (
        (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' &&
        String(e).includes(`commands/${name}`)
      )
        continue;
      throw e;
    }
    mod.register(program);
  }
  return program;
}

const program = await buildProgram();
await program.parseAsync(process.argv);
