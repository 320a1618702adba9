import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import avro from 'avsc';
import { Serde } from '../../../io/serde.js';
import { LocalSchemaRegistry, SCHEMAS_DIR, type RegistryFile } from '../../../io/registry-local.js';
import { HttpSchemaRegistry } from '../../../io/registry-http.js';
import { isThermostatError, type ErrorReason } from '../../../core/errors.js';
import type { SchemaName, UserInteraction } from '../../../schemas/types.js';
import { avroArbitrary, plain } from './avro-arbitrary.js';

const registryFile = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'registry.json'), 'utf8')) as RegistryFile;
const serde = Serde.local();

const interaction: UserInteraction = {
  event_id: 'e1',
  user_id: 'u1',
  content_id: 'c1',
  category: 'tech',
  event_time: 1_700_000_000_000,
  click: true,
  dwell_ms: 3000,
  completion: 0.5,
  shared: false,
  is_new_content: true,
  heated: false,
  allocation_id: null,
  user_registered_at: null,
};

function reasonOf(fn: () => unknown): ErrorReason {
  try {
    fn();
  } catch (e) {
    assert.ok(isThermostatError(e), `expected a ThermostatError, got ${String(e)}`);
    return e.reason;
  }
  assert.fail('expected an error');
}

test('every .avsc file under schemas/ has an id in schemas/registry.json', () => {
  const files = readdirSync(SCHEMAS_DIR, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.avsc'))
    .sort();
  const registered = Object.values(registryFile.subjects)
    .flatMap((vs) => vs.map((v) => v.file))
    .sort();
  assert.deepEqual(
    files.filter((f) => !registered.includes(f)),
    [],
    'add these files to schemas/registry.json',
  );
  const ids = Object.values(registryFile.subjects).flatMap((vs) => vs.map((v) => v.id));
  assert.equal(new Set(ids).size, ids.length, 'schema ids are unique');
});

for (const [subject, versions] of Object.entries(registryFile.subjects)) {
  const latest = versions[versions.length - 1];
  test(`${subject} round-trips through the wire format (property-based)`, () => {
    const schema = JSON.parse(readFileSync(join(SCHEMAS_DIR, latest.file), 'utf8'));
    fc.assert(
      fc.property(avroArbitrary(schema), (value) => {
        const buf = serde.encode(subject as SchemaName, value as never);
        assert.equal(buf[0], 0);
        assert.equal(buf.readInt32BE(1), latest.id);
        const d = serde.decode(buf);
        assert.equal(d.schema, subject);
        assert.equal(d.schemaId, latest.id);
        assert.deepStrictEqual(plain(d.value), plain(value));
      }),
      { numRuns: 150, seed: 20261123 },
    );
  });
}

test('wire-format corruption yields the matching reason code', () => {
  const good = serde.encode('UserInteraction', interaction);
  assert.equal(
    reasonOf(() => serde.decode(Buffer.alloc(0))),
    'WIRE_FORMAT',
  );
  assert.equal(
    reasonOf(() => serde.decode(good.subarray(0, 4))),
    'WIRE_FORMAT',
  );
  const wrongMagic = Buffer.from(good);
  wrongMagic[0] = 1;
  assert.equal(
    reasonOf(() => serde.decode(wrongMagic)),
    'WIRE_FORMAT',
  );
  const unknownId = Buffer.from(good);
  unknownId.writeInt32BE(9999, 1);
  assert.equal(
    reasonOf(() => serde.decode(unknownId)),
    'SCHEMA_UNKNOWN',
  );
  assert.equal(
    reasonOf(() => serde.decode(good.subarray(0, good.length - 3))),
    'AVRO_DECODE',
  );
  assert.equal(
    reasonOf(() => serde.decode(Buffer.concat([good, Buffer.from([0])]))),
    'AVRO_DECODE',
  );
  // allocation_id is a union ["null","string"]: branch index 5 (zigzag 10) does not exist.
  const badUnion = Buffer.concat([good.subarray(0, good.length - 2), Buffer.from([10, 0])]);
  assert.equal(
    reasonOf(() => serde.decode(badUnion)),
    'AVRO_DECODE',
  );
  // The header alone (body missing) is a truncated body.
  assert.equal(
    reasonOf(() => serde.decode(good.subarray(0, 5))),
    'AVRO_DECODE',
  );
  // The good record still decodes after all of that.
  assert.deepStrictEqual(plain(serde.decode(good).value), interaction);
});

test('a writer on an older schema version is resolved to the current schema (defaults filled)', () => {
  const current = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'UserInteraction.avsc'), 'utf8'));
  const v1 = {
    ...current,
    fields: current.fields.filter(
      (f: { name: string }) => f.name !== 'allocation_id' && f.name !== 'user_registered_at',
    ),
  };
  const local = new LocalSchemaRegistry({
    UserInteraction: [
      { id: 11, schema: v1 },
      { id: 12, schema: current },
    ],
  });
  const s = Serde.local(local);
  const { allocation_id: _a, user_registered_at: _u, ...old } = interaction;
  const body = avro.Type.forSchema(v1).toBuffer(old);
  const header = Buffer.from([0, 0, 0, 0, 11]);
  const d = s.decode(Buffer.concat([header, body]));
  assert.equal(d.schema, 'UserInteraction');
  assert.equal(d.schemaId, 11);
  assert.deepStrictEqual(plain(d.value), { ...old, allocation_id: null, user_registered_at: null });
  // New writes use the latest id.
  assert.equal(s.encode('UserInteraction', interaction).readInt32BE(1), 12);
});

test('a writer schema that cannot be resolved is SCHEMA_INCOMPATIBLE', () => {
  const current = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'UserInteraction.avsc'), 'utf8'));
  const broken = {
    ...current,
    fields: current.fields.map((f: { name: string }) =>
      f.name === 'completion' ? { name: 'completion', type: 'string' } : f,
    ),
  };
  const local = new LocalSchemaRegistry({
    UserInteraction: [
      { id: 21, schema: broken },
      { id: 22, schema: current },
    ],
  });
  const s = Serde.local(local);
  const body = avro.Type.forSchema(broken).toBuffer({ ...interaction, completion: 'half' });
  assert.equal(
    reasonOf(() => s.decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 21]), body]))),
    'SCHEMA_INCOMPATIBLE',
  );
});

test('HTTP registry: registers under <topic>-value, fetches unknown ids once, 404 is SCHEMA_UNKNOWN', async () => {
  const calls: string[] = [];
  const stored = new Map<number, string>();
  const fakeFetch = (async (url: string, init: RequestInit) => {
    calls.push(`${init.method} ${url}`);
    const m = /\/schemas\/ids\/(\d+)$/.exec(url);
    if (m) {
      const s = stored.get(Number(m[1]));
      return new Response(s ? JSON.stringify({ schema: s }) : '{"error_code":40403}', {
        status: s ? 200 : 404,
      });
    }
    const body = JSON.parse(String(init.body)) as { schema: string };
    stored.set(100, body.schema);
    return new Response(JSON.stringify({ id: 100 }), { status: 200 });
  }) as typeof fetch;

  const writer = new Serde(new HttpSchemaRegistry('http://registry.test/', { fetch: fakeFetch }));
  assert.equal(await writer.prepareWriter('user-interactions', 'UserInteraction'), 100);
  assert.deepEqual(calls, ['POST http://registry.test/subjects/user-interactions-value/versions']);
  const buf = writer.encode('UserInteraction', interaction);
  assert.equal(buf.readInt32BE(1), 100);

  // A fresh reader has never seen id 100: decode needs a prefetch first, which fetches once.
  const reader = new Serde(new HttpSchemaRegistry('http://registry.test', { fetch: fakeFetch }));
  assert.equal(
    reasonOf(() => reader.decode(buf)),
    'SCHEMA_UNKNOWN',
  );
  await reader.prefetch([buf, buf, null]);
  await reader.prefetch([buf]);
  assert.deepStrictEqual(plain(reader.decode(buf).value), interaction);
  assert.deepEqual(calls.slice(1), ['GET http://registry.test/schemas/ids/100']);

  const unknown = Buffer.from(buf);
  unknown.writeInt32BE(7, 1);
  await reader.prefetch([unknown]);
  assert.equal(
    reasonOf(() => reader.decode(unknown)),
    'SCHEMA_UNKNOWN',
  );
});

test('encoding a value that does not fit the schema is an INTERNAL error, and unknown names are refused', () => {
  assert.equal(
    reasonOf(() =>
      serde.encode('UserInteraction', { ...interaction, user_id: undefined as unknown as string }),
    ),
    'INTERNAL',
  );
  assert.equal(
    reasonOf(() => serde.encode('NoSuchRecord' as SchemaName, interaction as never)),
    'INTERNAL',
  );
  // A failed encode leaves the serde usable.
  assert.deepStrictEqual(
    plain(serde.decode(serde.encode('UserInteraction', interaction)).value),
    interaction,
  );
});

test('values larger than the scratch buffer encode and decode intact', () => {
  const big = 'x'.repeat(50_000);
  const v = {
    allocation_id: 'a',
    content_id: 'c',
    creator_id: 'cr',
    category: 'tech',
    valid_from: 1,
    valid_until: 2,
    impressions: 10,
    bid_price: 1,
    cost: 1,
    score: 0.5,
    target: { categories: [big, big, big], min_curiosity: 0.5 },
    policy: 'RULE' as const,
    model_version: 'm',
    reward_weights: { user_satisfaction: 0.4, platform_revenue: 0.3, long_term: 0.3 },
    emitted_at: 3,
    trial: false,
  };
  const buf = serde.encode('HeatingAllocation', v);
  assert.ok(buf.length > 150_000);
  assert.deepStrictEqual(plain(serde.decode(buf).value), v);
});
