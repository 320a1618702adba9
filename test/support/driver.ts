// Shared helpers for tests that drive the real graph in memory.
import { readFileSync, readdirSync } from 'node:fs';
import avro from 'avsc';
import type { RecordSerde } from '../../pipelines/task-runner.js';
import { ThermostatTestDriver, type TestDriverOptions } from '../../pipelines/test-driver.js';
import { topicSchemas, topologyNames } from '../../pipelines/topology.js';
import type { ContentPublished, UserInteraction } from '../../schemas/types.js';

// Plain Avro bodies by topic schema: replaced by io/serde's wire format once it lands.
export function testSerde(): RecordSerde {
  const types = new Map<string, avro.Type>();
  const dir = new URL('../../schemas/', import.meta.url).pathname;
  for (const f of readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.avsc'))) {
    const t = avro.Type.forSchema(JSON.parse(readFileSync(dir + f, 'utf8')));
    types.set(t.name!.split('.').pop()!, t);
  }
  const byTopic = topicSchemas(topologyNames('thermostat'));
  return {
    encode: (schema, value) => types.get(schema)!.toBuffer(value),
    decode: (topic, bytes) => types.get(byTopic[topic] ?? topic)!.fromBuffer(bytes),
  };
}

export function createDriver(opts: Partial<TestDriverOptions> = {}): Promise<ThermostatTestDriver> {
  return ThermostatTestDriver.create({ serde: testSerde(), ...opts });
}

let seq = 0;
export function interaction(p: Partial<UserInteraction> & { user_id: string; content_id: string; event_time: number }): UserInteraction {
  return {
    event_id: p.event_id ?? `e${++seq}`,
    category: 'tech',
    click: false,
    dwell_ms: 1000,
    completion: 0.5,
    shared: false,
    is_new_content: true,
    heated: false,
    allocation_id: null,
    user_registered_at: 0,
    ...p,
  };
}

export function publication(p: Partial<ContentPublished> & { content_id: string }): ContentPublished {
  return { creator_id: 'cr1', category: 'tech', quality_score: 0.5, published_at: 0, creator_followers: null, ...p };
}
