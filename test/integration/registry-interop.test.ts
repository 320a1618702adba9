// A third-party Avro client end to end: Confluent's Python client (confluent-kafka + fastavro, from
// PyPI into .venv-interop by scripts/interop-venv.sh) against the job (`thermostat run`, a child
// process) through a Schema Registry stand-in that enforces basic auth.
//  - the job registers the contract schemas at start (credentials from the environment);
//  - Python producers with auto-registration OFF find the contract's ids for the published .avsc
//    (so the job registered exactly that schema) and write the inputs, timestamps as datetimes;
//  - a lookup-only job decodes every record (no DLQ) and its outputs, read back by the Python consumer with
//    the writer schema from the registry, equal an uninterrupted in-memory run over the same input,
//    with timestamp-millis fields arriving as datetimes;
//  - lookup-only mode never registers, and a missing subject stops the job naming the subject.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCHEMAS_DIR } from '../../io/registry-local.js';
import { topicSchemas, topologyNames } from '../../pipelines/topology.js';
import { makeInput, referenceRun } from '../support/job-fixture.js';
import { JobProcess, sumMetric, waitQuiescent } from '../../bench/support/job-process.js';
import { uniqueName } from '../support/kafka.js';
import { TestRedis } from '../../bench/support/redis-server.js';
import { SchemaRegistryStandIn } from '../support/schema-registry.js';
import { ensureStack } from '../support/stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const AUTH = { username: 'platform', password: 'p@ss:word' };

/** The interop interpreter, or the reason it cannot exist here (PyPI unreachable). */
function interopPython(): { python: string } | { skip: string } {
  const r = spawnSync('bash', ['scripts/interop-venv.sh'], { cwd: root, encoding: 'utf8' });
  if (r.status === 0) return { python: r.stdout.trim() };
  if (r.status === 3) return { skip: r.stderr.trim() };
  throw new Error(`scripts/interop-venv.sh failed (exit ${r.status}):\n${r.stderr}`);
}
const py = interopPython();

interface Consumed {
  topic: string;
  key: string | null;
  schema_id: number;
  types: Record<string, string>;
  value: Record<string, unknown>;
}

test(
  'Python confluent-kafka producer and consumer interoperate with the job through an authenticated registry',
  { timeout: 300_000, skip: 'skip' in py ? py.skip : false },
  async (t) => {
    const python = (py as { python: string }).python;
    const { brokers } = ensureStack();
    const input = makeInput({ seed: 7, interactions: 4000, users: 400, contents: 60, stepMs: 100 });
    const ref = await referenceRun(input);
    assert.ok(ref.allocationIds.size > 0, 'the input makes the allocator work');

    const sr = await SchemaRegistryStandIn.start({ basic: AUTH });
    t.after(() => sr.stop());
    const redis = await TestRedis.start();
    t.after(() => redis.dispose());
    const dir = mkdtempSync(join(tmpdir(), 'thermostat-interop-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const appId = uniqueName('interop');
    const names = topologyNames(appId, `${appId}.`);
    // Asynchronous: the registry stand-in answers from this process's event loop.
    const client = async (...args: string[]) =>
      (
        await promisify(execFile)(
          python,
          [
            'test/support/interop/avro_client.py',
            ...args,
            '--bootstrap',
            brokers,
            '--registry',
            sr.url,
            '--user',
            AUTH.username,
            '--password',
            AUTH.password,
          ],
          { cwd: root, encoding: 'utf8' },
        )
      ).stdout;

    const spawnJob = async (registryUrl: string, mode: 'register' | 'lookup') =>
      JobProcess.forRun({ appId, redis }, brokers, {
        SCHEMA_REGISTRY_URL: registryUrl,
        SCHEMA_REGISTRY_USERNAME: AUTH.username,
        SCHEMA_REGISTRY_PASSWORD: AUTH.password,
        SCHEMA_REGISTRY_MODE: mode,
        THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '500',
      });

    // 1. The job registers its contract schemas at start (then stops: the input is produced whole
    //    before the run, so the run is comparable with the in-memory reference).
    const registering = await spawnJob(sr.url, 'register');
    t.after(() => registering.dispose());
    await waitQuiescent(registering, { quietMs: 500 }); // ready: SIGTERM then drains and exits 0
    assert.equal(
      sr.subjectNames().length,
      Object.keys(topicSchemas(topologyNames(appId, `${appId}.`))).length,
      'the job registered a subject per topic',
    );
    assert.equal((await registering.terminate()).code, 0);

    // Inputs from Python, auto-registration off: the lookup of each published .avsc must hit.
    const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
    writeFileSync(join(dir, 'published.jsonl'), jsonl(input.published));
    writeFileSync(join(dir, 'interactions.jsonl'), jsonl(input.interactions));
    const produce = async (schema: string, topic: string, key: string, file: string) =>
      JSON.parse(
        await client(
          'produce',
          '--schema',
          join(SCHEMAS_DIR, schema),
          '--topic',
          topic,
          '--key',
          key,
          '--input',
          join(dir, file),
        ),
      ) as { produced: number };
    assert.equal(
      (await produce('ContentPublished.avsc', names.published, 'content_id', 'published.jsonl')).produced,
      input.published.length,
    );
    assert.equal(
      (await produce('UserInteraction.avsc', names.interactions, 'user_id', 'interactions.jsonl')).produced,
      input.interactions.length,
    );
    assert.ok(
      sr.subjectNames().every((s) => sr.versions(s).length === 1),
      'no subject gained a version: the job registered the published schemas',
    );

    // 2. A lookup-only job processes it: it finds its writer ids and never registers.
    const before = sr.requests.length;
    const job = await spawnJob(sr.url, 'lookup');
    t.after(() => job.dispose());
    const metrics = await waitQuiescent(job, { quietMs: 3000 });
    const calls = sr.requests.slice(before).map((r) => `${r.method} ${r.path}`);
    assert.equal(
      calls.filter((c) => c.startsWith('POST /subjects/')).length,
      6, // allocations, two changelogs, content events, allocator input, user re-key
      `one lookup per written topic: ${calls}`,
    );
    assert.deepEqual(
      calls.filter((c) => c.endsWith('/versions')),
      [],
      'lookup mode never registers',
    );
    assert.equal(
      sumMetric(metrics, 'thermostat_dlq_records_total'),
      0,
      'every Python-written record decoded',
    );
    assert.equal(
      sumMetric(metrics, 'thermostat_records_in_total', `topic="${names.interactions}"`),
      input.interactions.length,
    );

    // Outputs, read by Python with the writer schemas from the registry.
    await client(
      'consume',
      '--topics',
      [names.allocations, names.userChangelog, names.contentChangelog].join(','),
      '--out',
      join(dir, 'out.jsonl'),
    );
    const out = readFileSync(join(dir, 'out.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Consumed);
    const of = (topic: string) => out.filter((r) => r.topic === topic);

    const allocIds = new Set(of(names.allocations).map((r) => r.value.allocation_id as string));
    assert.deepEqual(
      [...allocIds].sort(),
      [...ref.allocationIds].sort(),
      'allocation ids = the reference run',
    );
    const users = new Map<string, unknown>();
    for (const r of of(names.userChangelog)) users.set(r.key!, r.value);
    assert.equal(users.size, ref.users.size);
    for (const [id, want] of ref.users) assert.deepEqual(users.get(id), { ...want }, `user ${id}`);
    const contents = new Map<string, unknown>();
    for (const r of of(names.contentChangelog)) contents.set(r.key!, r.value);
    for (const [id, want] of ref.contents) assert.deepEqual(contents.get(id), { ...want }, `content ${id}`);

    // Logical types reach the third party: timestamp-millis arrives as a datetime.
    assert.equal(of(names.allocations)[0].types.valid_until, 'datetime');
    assert.equal(of(names.userChangelog)[0].types.updated_at, 'datetime');
    // The id on the wire is the one the registry holds for the published .avsc.
    for (const [topic, schema] of [
      [names.allocations, 'HeatingAllocation.avsc'],
      [names.userChangelog, 'UserMindState.avsc'],
      [names.contentChangelog, 'ContentState.avsc'],
    ]) {
      const { id } = JSON.parse(
        await client('lookup', '--schema', join(SCHEMAS_DIR, schema), '--subject', `${topic}-value`),
      ) as {
        id: number;
      };
      assert.deepEqual(
        [...new Set(of(topic).map((r) => r.schema_id))],
        [id],
        `${topic}: wire id = lookup id`,
      );
    }
    const stop = await job.terminate();
    assert.equal(stop.code, 0);

    // 3. Lookup-only against a registry without the subjects: the job stops at start, naming the first.
    const empty = await SchemaRegistryStandIn.start({ basic: AUTH });
    t.after(() => empty.stop());
    const failing = await spawnJob(empty.url, 'lookup');
    t.after(() => failing.dispose());
    const exit = await failing.exited;
    assert.equal(exit.code, 2, 'a configuration error: exit 2');
    assert.ok(
      failing.printed(new RegExp(`subject \\\\?"${appId}\\.heating-allocations-value\\\\?" does not exist`)),
      failing.outputTail,
    );
    assert.deepEqual(empty.subjectNames(), [], 'nothing registered');
  },
);
