// HeatingAllocation v2 adds `trial` (boolean, default false): a compatible change both ways, so
// rankers and Thermostat instances on either version keep reading each other's records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { Serde } from '../../../io/serde.js';
import { LocalSchemaRegistry, SCHEMAS_DIR, type RegistryFile } from '../../../io/registry-local.js';
import type { HeatingAllocation } from '../../../schemas/types.js';
import { heatingAllocation } from '../../support/allocation.js';
import { plain } from './avro-arbitrary.js';

const registry = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'registry.json'), 'utf8')) as RegistryFile;
const versions = registry.subjects.HeatingAllocation;
const schemaOf = (file: string): avro.Schema => JSON.parse(readFileSync(join(SCHEMAS_DIR, file), 'utf8'));
const [v1, v2] = versions.map((v) => schemaOf(v.file));

const allocation: HeatingAllocation = heatingAllocation({
  creator_id: 'cr1',
  impressions: 12,
  bid_price: 4,
  cost: 0.048,
  score: 0.7,
  trial: true,
});
const { trial: _trial, ...v1Record } = allocation;

test('the registry keeps HeatingAllocation v1 (id 4) and writes v2 (id 7), which adds only `trial` with default false', () => {
  assert.deepEqual(
    versions.map((v) => v.id),
    [4, 7],
  );
  const names = (s: avro.Schema) => (s as { fields: { name: string }[] }).fields.map((f) => f.name);
  assert.deepEqual(names(v2), [...names(v1), 'trial']);
  const added = (v2 as { fields: { name: string; type: unknown; default?: unknown }[] }).fields.at(-1);
  assert.deepEqual([added?.type, added?.default], ['boolean', false]);
  assert.equal(Serde.local().encode('HeatingAllocation', allocation).readInt32BE(1), 7);
});

test('new reader, old writer: a v1 record (id 4) decodes with trial = false', () => {
  const body = avro.Type.forSchema(v1).toBuffer(v1Record);
  const d = Serde.local().decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 4]), body]));
  assert.equal(d.schema, 'HeatingAllocation');
  assert.equal(d.schemaId, 4);
  assert.deepStrictEqual(plain(d.value), { ...v1Record, trial: false });
});

test('old reader, new writer: a v2 record (id 7) decodes with the v1 schema, the flag ignored', () => {
  const wire = Serde.local().encode('HeatingAllocation', allocation);
  // An old deployment: v1 is its reader schema, the writer schema comes from the registry by id.
  const old = Serde.local(
    new LocalSchemaRegistry({
      HeatingAllocation: [
        { id: 7, schema: v2 as object },
        { id: 4, schema: v1 as object },
      ],
    }),
  );
  const d = old.decode(wire);
  assert.equal(d.schemaId, 7);
  assert.deepStrictEqual(plain(d.value), v1Record);
  // The same with avro's own resolution rules, independent of the serde.
  const [reader, writer] = [avro.Type.forSchema(v1), avro.Type.forSchema(v2)];
  const body = writer.toBuffer(allocation);
  assert.deepStrictEqual(plain(reader.fromBuffer(body, reader.createResolver(writer))), v1Record);
});

test('a writer that leaves `trial` out (a v2 producer of older code) writes the default', () => {
  const d = Serde.local().decode(Serde.local().encode('HeatingAllocation', v1Record as HeatingAllocation));
  assert.equal((d.value as HeatingAllocation).trial, false);
});
