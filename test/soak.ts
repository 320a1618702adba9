// The long fault-injection run, outside CI: `npm run soak` (options: docs/FAULT-INJECTION.md).
// Rounds of test/support/fault-suite.ts plans on a private broker (restarted mid-run) and a
// private Redis; prints the verifier's counts per round and exits 1 if any round differs from the
// uninterrupted run.
import { parseArgs } from 'node:util';
import { runFaultPlan } from './support/fault-suite.js';
import { assertVerified } from './support/verifier.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    interactions: { type: 'string', default: '200000' },
    users: { type: 'string', default: '20000' },
    kills: { type: 'string', default: '12' },
    'broker-restarts': { type: 'string', default: '2' },
    'redis-faults': { type: 'string', default: '3' },
    gaps: { type: 'string', default: '5' },
    rate: { type: 'string', default: '5000' },
  },
});
const n = (k: keyof typeof values) => Number(values[k]);

let failed = 0;
for (let round = 0; round < n('rounds'); round++) {
  const seed = n('seed') + round;
  const cleanups: (() => unknown)[] = [];
  const started = Date.now();
  console.log(`soak round ${round + 1}/${n('rounds')}, seed ${seed}`);
  try {
    const r = await runFaultPlan(
      {
        input: { seed, interactions: n('interactions'), users: n('users'), contents: 400, stepMs: 25 },
        upfrontShare: 0.3,
        ratePerSec: n('rate'),
        gaps: n('gaps'),
        gapMs: 3000,
        kills: n('kills'),
        redisFaults: n('redis-faults'),
        redisPauseMs: 10_000,
        redisDownMs: 5000,
        brokerRestarts: n('broker-restarts'),
        poison: true,
      },
      { cleanup: (fn) => cleanups.push(fn), log: (l) => console.log(`  ${l}`) },
    );
    console.log(r.text.replace(/^/gm, '  '));
    assertVerified(r.report);
    if (r.dlq.missing + r.dlq.extra > 0) throw new Error('DLQ records differ from the reference');
    console.log(`  round ${round + 1}: EQUAL (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  } catch (e) {
    failed++;
    console.log(`  round ${round + 1}: DIFFERS — ${(e as Error).message}`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}
console.log(
  failed === 0 ? 'soak: every round equal to the uninterrupted run' : `soak: ${failed} round(s) differ`,
);
process.exit(failed === 0 ? 0 : 1);
