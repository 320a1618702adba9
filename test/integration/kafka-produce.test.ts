// KafkaSink's fire-and-forget path (the job's outputs): `produce` + `flush` on a producer that
// gets delivery reports for failures only. Records arrive complete and in order; a failed record
// fails the next flush with a DeliveryError (so a checkpoint never covers it); `send` is refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureStack } from '../support/stack.js';
import { consumeN, uniqueName } from '../support/kafka.js';
import { DeliveryError, KafkaSink, KafkaSource } from '../../io/kafka.js';
import { ensureTopics } from '../../io/topics.js';

let brokers: string;
let sink: KafkaSink;

before(async () => {
  brokers = ensureStack().brokers;
  sink = new KafkaSink({ brokers, clientId: 'it-produce', errorReportsOnly: true });
  await sink.connect();
});
after(async () => {
  await sink.disconnect();
});

test('produce + flush: every record lands, in order per partition, string and Buffer keys alike', async () => {
  const topic = uniqueName('produce');
  await ensureTopics([{ name: topic, partitions: 3 }], { brokers });
  const N = 20_000;
  for (let i = 0; i < N; i++) {
    const key = `k${i % 97}`;
    sink.produce(topic, i % 2 === 0 ? key : Buffer.from(key), Buffer.from(String(i)), {
      headers: i % 1000 === 0 ? { 'x-seq': String(i) } : undefined,
    });
  }
  await sink.flush();
  assert.equal(sink.inFlight(), 0);

  const source = new KafkaSource({ brokers, groupId: uniqueName('produce-reader'), topics: [topic] });
  await source.connect();
  try {
    const got = await consumeN(source, N, 60_000);
    assert.equal(got.length, N);
    // Per key (one partition each) the values come back in produce order.
    const lastByKey = new Map<string, number>();
    let headers = 0;
    for (const r of got) {
      const key = r.key!.toString();
      const v = Number(r.value!.toString());
      assert.equal(key, `k${v % 97}`);
      assert.ok(v > (lastByKey.get(key) ?? -1), `order within ${key}`);
      lastByKey.set(key, v);
      if (r.headers['x-seq']) {
        assert.equal(r.headers['x-seq'].toString(), String(v));
        headers++;
      }
    }
    assert.equal(lastByKey.size, 97);
    assert.equal(headers, N / 1000);
  } finally {
    await source.disconnect();
  }
});

test('a record that cannot be delivered fails the next flush with a DeliveryError, then flushes pass again', async () => {
  const topic = uniqueName('produce-fail');
  await ensureTopics([{ name: topic, partitions: 1 }], { brokers });
  sink.produce(topic, 'ok', Buffer.from('1'));
  sink.produce(topic, 'bad', Buffer.from('2'), { partition: 7 }); // the topic has partition 0 only
  await assert.rejects(
    sink.flush(),
    (e: unknown) => e instanceof DeliveryError && e.outputLost && /partition/i.test(e.message),
  );
  sink.produce(topic, 'ok', Buffer.from('3'));
  await sink.flush();
});

test('send() is refused on an error-reports-only sink (it would never be acknowledged)', async () => {
  await assert.rejects(sink.send(uniqueName('unused'), 'k', Buffer.from('v')), /produce \+ flush/);
});
