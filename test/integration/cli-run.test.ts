// `thermostat run --sample-traffic` as a process, the way `npm start` runs it, on the local broker
// with its own app id and THERMOSTAT_TOPIC_PREFIX and a private Redis: the sample traffic lands on
// the prefixed topics, allocations come out, its ranker serves them (heated impressions with their
// allocation ids) and the job joins those outcomes back to the allocations; stdout (not a
// terminal) carries only JSON log lines, stats included, and SIGTERM stops it cleanly. A second
// run goes on from the event time the first reached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { latestEventTime, type ServedTally } from '../../io/sample-producer.js';
import { Serde } from '../../io/serde.js';
import { followAllocations } from '../../ranker/follow-allocations.js';
import { readActiveAllocations } from '../../ranker/redis-reads.js';
import { uniqueName } from '../support/kafka.js';
import { TestRedis } from '../../bench/support/redis-server.js';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const DAY_MS = 86_400_000;
const BIN = fileURLToPath(new URL('../../bin/thermostat.mjs', import.meta.url));

interface Stats {
  event: string;
  recordsIn: number;
  allocations: number;
  dlq: number;
  heatedShare: number;
  served: ServedTally;
  heatedCtr: number | null;
}

test('run --sample-traffic honours the topic prefix, serves its allocations, joins their outcomes, stops on SIGTERM', async () => {
  const redis = await TestRedis.start();
  const prefix = `${uniqueName('run')}.`;
  const appId = uniqueName('run-app');
  const started = Date.now();
  const job = spawn(process.execPath, [BIN, 'run', '--sample-traffic'], {
    env: {
      ...process.env,
      KAFKA_BROKERS: BROKERS,
      REDIS_URL: redis.url,
      THERMOSTAT_APP_ID: appId,
      THERMOSTAT_TOPIC_PREFIX: prefix,
      THERMOSTAT_HTTP_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  job.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => job.on('exit', (code) => resolve(code)));
  const lines: string[] = [];
  let last: Stats | undefined;
  let firstAllocations = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(
        () => reject(new Error(`no heated impressions back at the allocator within 90 s; stderr: ${stderr}`)),
        90_000,
      );
      void exited.then((code) => reject(new Error(`the job exited (${code}): ${stderr}`)));
      createInterface({ input: job.stdout }).on('line', (line) => {
        lines.push(line);
        const rec = JSON.parse(line) as Stats;
        if (rec.event !== 'job.stats') return;
        last = rec;
        if (rec.allocations > 0) firstAllocations ||= Date.now() - started;
        // The loop closed: the job's heated share counts impressions the ranker served.
        if (rec.heatedShare > 0 && rec.served.heatedImpressions > 0) {
          clearTimeout(deadline);
          resolve();
        }
      });
    });
  } finally {
    job.kill('SIGTERM');
  }
  assert.equal(await exited, 0, stderr);

  // Heated impressions were joined to their allocations by id: the allocator's serving hash (final
  // checkpoint) has fewer impressions left than granted for allocations the ranker served.
  const follower = await followAllocations({
    brokers: BROKERS,
    topic: `${prefix}heating-allocations`,
    lookbackMs: 10 * 60_000,
  });
  await follower.caughtUp;
  const client = redis.client();
  const active = await readActiveAllocations(client, appId);
  // The shipped idle expiry: user and content keys carry a TTL of 30 days idle + 7, no other key does.
  const ttls = new Map<string, number[]>();
  for await (const keys of client.scanStream({ match: `{${appId}.*}:*`, count: 1000 }) as AsyncIterable<
    string[]
  >)
    for (const key of keys.filter((k) => !k.includes(':staging:'))) {
      const kind = /:(user|content):/.exec(key)?.[1] ?? 'other';
      ttls.set(kind, [...(ttls.get(kind) ?? []), await client.pttl(key)]);
    }
  for (const kind of ['user', 'content']) {
    const t = ttls.get(kind) ?? [];
    assert.ok(t.length > 0, `${kind} keys in Redis`);
    assert.ok(
      t.every((ms) => ms > 36 * DAY_MS && ms <= 37 * DAY_MS),
      `${kind} keys expire in 37 days: ${t.slice(0, 5)}`,
    );
  }
  assert.deepEqual(
    new Set(ttls.get('other')),
    new Set([-1]),
    'task hashes and active allocations never expire',
  );
  client.disconnect();
  await follower.stop();
  await redis.dispose();
  let delivered = 0;
  for (const [id, a] of active) {
    const granted = follower.view.get(id)?.impressions;
    assert.ok(granted !== undefined, `allocation ${id} in Redis was emitted on the topic`);
    delivered += granted - a.remaining;
  }
  assert.ok(delivered > 0, `outcomes joined to ${active.size} active allocations`);
  assert.ok(delivered <= last!.served.heatedImpressions, 'never more joined than the ranker served');

  assert.ok(lines.length > 0 && lines.every((l) => l.startsWith('{')), 'only JSON lines on stdout');
  assert.ok(last && last.recordsIn > 0, 'the job consumed the prefixed interactions topic');
  assert.ok(last.dlq > 0, 'the corrupt share of the sample traffic reached the DLQ');
  assert.ok(firstAllocations < 20_000, `first allocations after ${firstAllocations} ms`);
  assert.ok(last.heatedCtr !== undefined, 'the stats carry the heated CTR');

  // What a second run would start from: the event time the first one reached, ahead of the clock.
  const reached = await latestEventTime({
    brokers: BROKERS,
    topic: `${prefix}user-interactions`,
    serde: Serde.local(),
  });
  assert.ok(reached > started, `event time ${reached} runs ahead of the start ${started}`);
});
