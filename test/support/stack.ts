// Integration tests run against the real local stack. ensureStack() starts it once per process
// (scripts/stack.sh up is idempotent and fast when it already runs), unless KAFKA_BROKERS points
// at another cluster.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
let started: { brokers: string; redisUrl: string } | undefined;

export function ensureStack(): { brokers: string; redisUrl: string } {
  if (!started) {
    if (!process.env.KAFKA_BROKERS)
      execFileSync('bash', ['scripts/stack.sh', 'up'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    started = {
      brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
      redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    };
  }
  return started;
}
