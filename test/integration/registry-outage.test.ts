// A Schema Registry outage while the job reads records with a writer schema it has not fetched yet
// (a producer moved to a newer compatible version, v2): the batch waits and is retried, nothing
// goes to the DLQ, and once the registry answers again the job reads v2 into its own schema and
// ends in the same state as an uninterrupted run over the same records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import avro from 'avsc';
import { KafkaSink } from '../../io/kafka.js';
import { HttpSchemaRegistry } from '../../io/registry-http.js';
import { Serde } from '../../io/serde.js';
import { ensureTopics } from '../../io/topics.js';
import { topicSchemas, topicSpecs, topologyNames } from '../../pipelines/topology.js';
import { assertMatchesReference, makeInput, PARTITIONS, referenceRun } from '../support/job-fixture.js';
import { JobProcess, sleep, sumMetric, waitQuiescent } from '../../bench/support/job-process.js';
import { uniqueName } from '../support/kafka.js';
import { TestRedis } from '../../bench/support/redis-server.js';
import { contractText, SchemaRegistryStandIn } from '../support/schema-registry.js';
import { ensureStack } from '../support/stack.js';

test(
  'registry down while new writer ids arrive: batches wait instead of going to the DLQ; state = uninterrupted run',
  { timeout: 180_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const input = makeInput({ seed: 31, interactions: 6000, users: 500, contents: 60, stepMs: 60 });
    const ref = await referenceRun(input);
    const appId = uniqueName('sr-outage');
    const names = topologyNames(appId, `${appId}.`);
    const sr = await SchemaRegistryStandIn.start();
    t.after(() => sr.stop());
    const redis = await TestRedis.start();
    t.after(() => redis.dispose());

    // The contract versions (as the job registers them), and a v2 of UserInteraction with one more
    // optional field, registered by a producer that moved on.
    const ids = new Map<string, number>();
    for (const [topic, name] of Object.entries(topicSchemas(names)))
      ids.set(topic, sr.register(`${topic}-value`, contractText(name)));
    const v1 = JSON.parse(contractText('UserInteraction'));
    const v2 = {
      ...v1,
      fields: [...v1.fields, { name: 'experiment', type: ['null', 'string'], default: null }],
    };
    const v2Id = sr.register(`${names.interactions}-value`, JSON.stringify(v2));
    const wire = (id: number, schema: object, value: unknown) =>
      Buffer.concat([
        Buffer.from([0, 0, 0, 0, id]),
        avro.Type.forSchema(schema as avro.Schema).toBuffer(value),
      ]);
    const published = JSON.parse(contractText('ContentPublished'));

    // The whole input upfront: the second half of the interactions written with v2.
    await ensureTopics(topicSpecs(names, PARTITIONS), { brokers });
    const sink = new KafkaSink({ brokers, clientId: 'it-sr-outage' });
    await sink.connect();
    const half = input.interactions.length / 2;
    await Promise.all([
      ...input.published.map((p) =>
        sink.send(names.published, p.content_id, wire(ids.get(names.published)!, published, p)),
      ),
      ...input.interactions.map((r, i) =>
        sink.send(
          names.interactions,
          r.user_id,
          i < half ? wire(ids.get(names.interactions)!, v1, r) : wire(v2Id, v2, { ...r, experiment: 'b' }),
        ),
      ),
    ]);
    await sink.flush();
    await sink.disconnect();

    // The registry fails for the new writer id from the start: a job that fetches as soon as it is
    // up must still wait for it (no race with the start-up registration, which is answered).
    const v2Path = `/schemas/ids/${v2Id}`;
    sr.refuses = (_method, path) => path === v2Path;
    const job = await JobProcess.forRun({ appId, redis }, brokers, {
      SCHEMA_REGISTRY_URL: sr.url,
      THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '500',
    });
    t.after(() => job.dispose());
    await job.waitStarted(); // registered (found) its writer ids
    sr.available = false;
    const interactionsIn = async () =>
      sumMetric(
        (await job.metrics()) ?? new Map(),
        'thermostat_records_in_total',
        `topic="${names.interactions}"`,
      );
    // The first batch holding a v2 record asks for its schema; the batch then waits (a batch mixes
    // v1 and v2 records, so most partitions wait).
    const asked = () => sr.requests.filter((r) => r.path === v2Path).length;
    for (const end = Date.now() + 60_000; asked() === 0 && Date.now() < end;) await sleep(100);
    await sleep(3000);
    const during = await job.metrics();
    assert.equal(
      sumMetric(during!, 'thermostat_dlq_records_total'),
      0,
      'nothing sent to the DLQ during the outage',
    );
    assert.ok((await interactionsIn()) < input.interactions.length, 'v2 records wait for the registry');
    assert.ok(asked() >= 2, `the batch was retried (${asked()} requests for the new id)`);

    sr.available = true;
    sr.refuses = () => false;
    const metrics = await waitQuiescent(job, { quietMs: 2500 });
    assert.equal(sumMetric(metrics, 'thermostat_dlq_records_total'), 0);
    assert.equal(await interactionsIn(), input.interactions.length);
    assert.equal((await job.terminate()).code, 0);
    // The outputs carry the registry's ids, not the bundled ones: read them through the registry.
    const client = redis.client();
    t.after(() => client.disconnect());
    const serde = new Serde(new HttpSchemaRegistry(sr.url));
    await assertMatchesReference({ brokers, names, appId, redis: client, ref, serde });
  },
);
