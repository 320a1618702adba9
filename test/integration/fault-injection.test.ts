// The fault-injection suite, short enough for CI (test/support/fault-suite.ts): a seeded stream
// with the poison catalogue and users written by other partitioners, arriving partly upfront and
// partly with pauses while the job is SIGKILLed at random moments, and Redis paused then stopped
// right after a restart. The verifier compares every key, every allocation id and every DLQ'd
// record with the uninterrupted in-memory run over the same log, and prints the counts. The
// broker restart runs in test/integration/broker-restart.test.ts and in the soak (`npm run soak`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFaultPlan } from '../support/fault-suite.js';
import { ensureStack } from '../support/stack.js';
import { assertVerified } from '../support/verifier.js';

test(
  'fault injection: SIGKILL ×3, Redis paused and stopped after a restart, arrival pauses, poison catalogue — every key and id equal',
  { timeout: 300_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const r = await runFaultPlan(
      {
        input: {
          seed: Number(process.env.THERMOSTAT_TEST_FAULT_SEED ?? 4242),
          interactions: 30_000,
          users: 3000,
          contents: 150,
          stepMs: 25,
        },
        upfrontShare: 0.4,
        ratePerSec: 3000,
        gaps: 2,
        gapMs: 1500,
        kills: 3,
        redisFaults: 1,
        redisPauseMs: 3000,
        redisDownMs: 2000,
        brokerRestarts: 0,
        poison: true,
      },
      { cleanup: (fn) => t.after(fn), sharedBrokers: brokers },
    );
    for (const line of r.text.split('\n')) t.diagnostic(line);
    assert.ok(r.ref.allocationIds.size > 20, 'the input makes the allocator work');
    assertVerified(r.report);
    assert.deepEqual(
      { missing: r.dlq.missing, extra: r.dlq.extra },
      { missing: 0, extra: 0 },
      'every poison record in the DLQ at its coordinates with its reason',
    );
    assert.ok(r.dlq.expected >= 17, `${r.dlq.expected} DLQ'd poison records`);
  },
);
