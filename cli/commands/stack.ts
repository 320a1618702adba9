// `thermostat stack up|down|status`: the local Kafka (KRaft) + Redis stack, via scripts/stack.sh.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

const root = fileURLToPath(new URL('../..', import.meta.url));

export function runStackScript(action: 'up' | 'down' | 'status'): number {
  const r = spawnSync('bash', ['scripts/stack.sh', action], { cwd: root, stdio: 'inherit' });
  return r.status ?? 1;
}

export function register(program: Command): void {
  program
    .command('stack')
    .description('Local Kafka (KRaft, 127.0.0.1:9092) and Redis (127.0.0.1:6379) under .stack/')
    .argument('<action>', 'up | down | status')
    .action((action: string) => {
      if (!['up', 'down', 'status'].includes(action)) {
        console.error(`unknown action "${action}": expected up, down or status`);
        process.exitCode = 2;
        return;
      }
      process.exitCode = runStackScript(action as 'up' | 'down' | 'status');
    });
}
