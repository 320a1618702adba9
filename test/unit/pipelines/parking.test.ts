// While Redis cannot load state, the user task applies the users in memory and parks the others,
// holding its outputs in order; once the parked users load, it applies them. What leaves the task
// (content events, markers with audiences, re-key markers) and the states it keeps must be exactly
// those of an undisturbed task over the same batches. And /readyz stays "ready (degraded)" until
// the configured limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../core/clock.js';
import { createTask } from '../../../pipelines/task-factory.js';
import { DegradedReadiness } from '../../../runtime/readiness.js';
import type { Collector, InRecord, OutRecord } from '../../../pipelines/task.js';
import { topologyNames } from '../../../pipelines/topology.js';
import type { UserTask } from '../../../pipelines/user-task.js';
import type { UserInteraction } from '../../../schemas/types.js';
import { MemoryCheckpointStore } from '../../../state/memory-checkpoint.js';
import { interaction, singlePartitionSettings } from '../../support/driver.js';

const settings = singlePartitionSettings(topologyNames('park'), {
  timing: { tickMs: 10_000, outOfOrdernessMs: 1000, allowedLatenessMs: 1000 },
  cacheMaxEntries: 10_000,
});

function collector(out: string[]): Collector {
  const line = (r: OutRecord) => `${r.topic} ${r.partition ?? '-'} ${r.key} ${JSON.stringify(r.value)}`;
  return {
    send: (r) => out.push(line(r)),
    late: (r) => out.push(`late ${r.offset}`),
    dlq: (r, e) => out.push(`dlq ${r.offset} ${e.reason}`),
  };
}

/** 5 users over 6 ticks of 10 s, several categories: audiences roll while records are parked. */
function batches(): InRecord<UserInteraction>[][] {
  const all: InRecord<UserInteraction>[] = [];
  for (let i = 0; i < 120; i++) {
    const value = interaction({
      user_id: `u${i % 5}`,
      content_id: `c${i % 7}`,
      category: ['tech', 'food', 'music'][i % 3],
      event_time: 1000 + i * 500,
      click: i % 4 === 0,
      event_id: `e${i}`,
    });
    all.push({
      topic: settings.names.interactions,
      partition: 0,
      offset: i,
      key: value.user_id,
      value,
      timestamp: -1,
    });
  }
  const out = [];
  for (let i = 0; i < all.length; i += 10) out.push(all.slice(i, i + 10));
  return out;
}

async function userTask(): Promise<UserTask> {
  return (await createTask({ stage: 'user', partition: 0 }, settings, new MemoryCheckpointStore()))
    .task as UserTask;
}

test('parked users are applied later with the outputs and states of an undisturbed run', async () => {
  const plain = await userTask();
  const plainOut: string[] = [];
  for (const b of batches()) plain.process(b, collector(plainOut));

  const parked = await userTask();
  const out: string[] = [];
  const bs = batches();
  // Batches 3-8 arrive while u1 and u3 "need a load": they are parked, everything after held.
  const away = new Set(['u1', 'u3']);
  for (let i = 0; i < bs.length; i++) {
    if (i >= 3 && i <= 8) parked.processDegraded(bs[i], collector(out), (k) => !away.has(k));
    else parked.process(bs[i], collector(out));
    if (i === 5) {
      assert.ok(parked.parked() > 0, 'records parked and outputs held');
      parked.setIdle(settings.names.published, 0, true, collector(out)); // a marker while holding
      plain.setIdle(settings.names.published, 0, true, collector(plainOut));
    }
  }
  assert.equal(parked.parked(), 0, 'everything applied once the users loaded');
  // The idle marker went out at a different point of the plain run's stream; the rest is equal.
  const idle = (xs: string[]) => xs.filter((x) => !x.includes('"idle":true'));
  assert.deepEqual(idle(out), idle(plainOut));
  assert.deepEqual(JSON.parse(parked.snapshot().meta), JSON.parse(plain.snapshot().meta));
  const entries = (t: UserTask) =>
    (t as unknown as { users: { entries(): Iterable<[string, unknown]> } }).users;
  assert.deepEqual(
    new Map([...entries(parked).entries()].map(([k, v]) => [k, JSON.stringify(v)])),
    new Map([...entries(plain).entries()].map(([k, v]) => [k, JSON.stringify(v)])),
  );
});

test('no snapshot is cut while records are parked', async () => {
  const t = await userTask();
  t.processDegraded(batches()[0], collector([]), () => false);
  assert.ok(t.parked() > 0);
  assert.throws(() => t.snapshot(), /parked/);
});

test('/readyz: ready (degraded) while Redis is away or records are parked, not ready past the limit', () => {
  const clock = new ManualClock(0);
  const r = new DegradedReadiness(clock, 5000);
  const ok = { ready: true, degraded: false, reason: 'ok' };
  const down = { ready: false, degraded: true, reason: 'checkpoint store unreachable' };
  assert.deepEqual(
    r.check({ starting: 'stages not yet joined to their consumer groups: allocator', health: ok, parked: 0 })
      .ready,
    false,
  );
  assert.deepEqual(r.check({ starting: null, health: ok, parked: 0 }), { ready: true });
  assert.deepEqual(r.check({ starting: null, health: down, parked: 12 }), {
    ready: true,
    degraded: true,
    reason: 'checkpoint store unreachable; 12 records parked until their state loads',
  });
  clock.advance(5000);
  assert.equal(r.check({ starting: null, health: ok, parked: 3 }).ready, true, 'at the limit: still ready');
  clock.advance(1);
  const late = r.check({ starting: null, health: ok, parked: 3 });
  assert.equal(late.ready, false);
  assert.match(late.reason ?? '', /degraded for 5 s/);
  assert.deepEqual(
    r.check({ starting: null, health: ok, parked: 0 }),
    { ready: true },
    'recovered: the clock restarts',
  );
  clock.advance(10_000);
  assert.equal(r.check({ starting: null, health: down, parked: 0 }).ready, true);
});
