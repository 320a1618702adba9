// `thermostat stack up|down|status`: the local Kafka (KRaft) + Redis stack, via scripts/stack.sh.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { ThermostatError } from '../../core/errors.js';
import { UsageError } from '../errors.js';
import { packageRoot } from '../package-info.js';

const ACTIONS = ['up', 'down', 'status'] as const;
type StackAction = (typeof ACTIONS)[number];

/** Runs scripts/stack.sh; a checkout has it, an installed package does not. Returns its exit code. */
export function runStackScript(action: StackAction): number {
  if (!existsSync(`${packageRoot}/scripts/stack.sh`))
    throw new UsageError(
      'no local stack in an installed package (scripts/stack.sh is part of a checkout): set KAFKA_BROKERS and REDIS_URL',
    );
  const r = spawnSync('bash', ['scripts/stack.sh', action], { cwd: packageRoot, stdio: 'inherit' });
  return r.status ?? 1;
}

export function register(program: Command): void {
  program
    .command('stack')
    .description('Local Kafka (KRaft, 127.0.0.1:9092) and Redis (127.0.0.1:6379) under .stack/')
    .argument('<action>', ACTIONS.join(' | '), (v: string) => {
      if (!(ACTIONS as readonly string[]).includes(v))
        throw new InvalidArgumentError(`expected ${ACTIONS.join(', ')}`);
      return v as StackAction;
    })
    .action((action: StackAction) => {
      const status = runStackScript(action);
      if (status !== 0)
        throw new ThermostatError('DEPENDENCY', `scripts/stack.sh ${action} failed (exit ${status})`);
    });
}
