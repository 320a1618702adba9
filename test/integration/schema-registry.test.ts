// The job's Schema Registry client over real HTTP against the stand-in (test/support/schema-registry.ts):
// it registers the contract's own schemas (docs, defaults, logical types intact) so the published
// .avsc matches the registered version; lookup mode never registers and names a missing subject;
// basic, bearer and URL credentials are sent and a refusal is a clear, non-retriable error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRuntimeConfig } from '../../core/config.js';
import { isThermostatError, type ThermostatError } from '../../core/errors.js';
import { HttpSchemaRegistry } from '../../io/registry-http.js';
import { Serde } from '../../io/serde.js';
import { topicSchemas, topologyNames } from '../../pipelines/topology.js';
import { prepareWriters } from '../../pipelines/wire-serde.js';
import type { UserInteraction } from '../../schemas/types.js';
import { makeInput } from '../support/job-fixture.js';
import { canonicalSchema, contractText, SchemaRegistryStandIn } from '../support/schema-registry.js';

const BASIC = { username: 'thermostat', password: 's3cr:t/%' };
const names = topologyNames('reg', 'reg.');
// A record as a third party wrote it (every field set).
const interaction: UserInteraction = makeInput({ seed: 1, interactions: 1, users: 1, contents: 1, stepMs: 1 })
  .interactions[0];

async function rejection(p: Promise<unknown>): Promise<ThermostatError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isThermostatError(e), `expected a ThermostatError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

async function standIn(t: { after(fn: () => unknown): void }, auth = { basic: BASIC }) {
  const sr = await SchemaRegistryStandIn.start(auth);
  t.after(() => sr.stop());
  return sr;
}

test('register mode: the contract text is registered for every topic; the published .avsc matches it', async (t) => {
  const sr = await standIn(t);
  const serde = new Serde(new HttpSchemaRegistry(sr.url, { auth: { kind: 'basic', ...BASIC } }));
  await prepareWriters(names, serde);

  const schemas = topicSchemas(names);
  assert.deepEqual(
    sr.subjectNames(),
    Object.keys(schemas)
      .map((tp) => `${tp}-value`)
      .sort(),
  );
  for (const [topic, name] of Object.entries(schemas)) {
    const [v] = sr.versions(`${topic}-value`);
    const file = contractText(name);
    assert.equal(canonicalSchema(v.schema), canonicalSchema(file), `${name}: registered = the .avsc`);
    // A third party registering the file as published (its own whitespace) gets the same id.
    assert.equal(sr.register(`${topic}-value`, file), v.id);
    assert.equal(sr.versions(`${topic}-value`).length, 1, `${name}: still one version`);
  }
  const ui = JSON.parse(sr.versions(`${names.interactions}-value`)[0].schema);
  const field = (n: string) => ui.fields.find((f: { name: string }) => f.name === n);
  assert.match(ui.doc, /One impression/);
  assert.deepEqual(field('event_time').type, { type: 'long', logicalType: 'timestamp-millis' });
  assert.equal(field('allocation_id').default, null);

  // Registering twice (a restart) adds nothing; every call carried the credentials.
  const again = new Serde(new HttpSchemaRegistry(sr.url, { auth: { kind: 'basic', ...BASIC } }));
  await prepareWriters(names, again);
  assert.equal(
    sr.subjectNames().every((s) => sr.versions(s).length === 1),
    true,
  );
  assert.equal(
    sr.requests.every((r) => r.authorized),
    true,
  );
  const id = sr.versions(`${names.interactions}-value`)[0].id;
  assert.equal(serde.encode('UserInteraction', interaction).readInt32BE(1), id);
});

test('lookup mode: uses the ids a third party registered, never registers, and reads its records', async (t) => {
  const sr = await standIn(t);
  const written = [
    names.allocations,
    names.userChangelog,
    names.contentChangelog,
    names.contentEvents,
    names.allocatorInput,
    names.userRekey,
  ];
  const schemas = topicSchemas(names);
  const ids = new Map(written.map((tp) => [tp, sr.register(`${tp}-value`, contractText(schemas[tp]))]));
  const serde = new Serde(
    new HttpSchemaRegistry(sr.url, { mode: 'lookup', auth: { kind: 'basic', ...BASIC } }),
  );
  assert.equal(serde.lookupOnly, true);
  await prepareWriters(names, serde); // inputs are skipped: their subjects do not exist here
  assert.deepEqual(
    sr.requests.map((r) => `${r.method} ${r.path}`),
    written.map((tp) => `POST /subjects/${tp}-value`),
    'one lookup per written topic, no registration',
  );
  assert.equal(sr.subjectNames().length, written.length);
  for (const tp of written) assert.equal(await serde.prepareWriter(tp, schemas[tp]), ids.get(tp), tp);
  assert.equal(sr.requests.length, written.length, 'ids are cached');

  // A record a third party wrote with its registered id decodes after a prefetch.
  const inputId = sr.register(`${names.interactions}-value`, contractText('UserInteraction'));
  const local = Serde.local();
  const body = local.encode('UserInteraction', interaction).subarray(5);
  const record = Buffer.concat([Buffer.from([0, 0, 0, 0, inputId]), body]);
  await serde.prefetch([record]);
  assert.deepEqual({ ...serde.decode(record).value }, interaction);
});

test('lookup mode: a missing subject or a subject without the contract version fails naming the subject', async (t) => {
  const sr = await standIn(t);
  const serde = new Serde(
    new HttpSchemaRegistry(sr.url, { mode: 'lookup', auth: { kind: 'basic', ...BASIC } }),
  );
  const missing = await rejection(serde.prepareWriter(names.allocations, 'HeatingAllocation'));
  assert.equal(missing.reason, 'CONFIG');
  assert.equal(missing.key, 'schemaRegistry.mode');
  assert.match(missing.message, /subject "reg\.heating-allocations-value" does not exist/);
  assert.match(missing.message, /thermostat\.v1\.HeatingAllocation/);

  // The subject exists with another schema (an older contract without the docs): no match.
  const stripped = JSON.stringify({ ...JSON.parse(contractText('HeatingAllocation')), doc: 'other' });
  sr.register(`${names.allocations}-value`, stripped);
  const other = await rejection(serde.prepareWriter(names.allocations, 'HeatingAllocation'));
  assert.match(
    other.message,
    /subject "reg\.heating-allocations-value" has no version equal to the contract schema/,
  );
  assert.equal(sr.requests.filter((r) => r.path.endsWith('/versions')).length, 0, 'never registers');
});

test('auth: missing or wrong credentials are a non-retriable error naming the setting; bearer and URL credentials work', async (t) => {
  const sr = await standIn(t, { basic: BASIC, bearer: 'tok-123' } as never);
  const attempt = (reg: HttpSchemaRegistry) =>
    new Serde(reg).prepareWriter(names.allocations, 'HeatingAllocation');

  const none = await rejection(attempt(new HttpSchemaRegistry(sr.url)));
  assert.equal(none.retriable, false);
  assert.match(none.message, /HTTP 401, credentials missing or rejected/);
  assert.match(none.message, /SCHEMA_REGISTRY_USERNAME/);
  const wrong = await rejection(
    attempt(
      new HttpSchemaRegistry(sr.url, { auth: { kind: 'basic', username: BASIC.username, password: 'nope' } }),
    ),
  );
  assert.match(wrong.message, /HTTP 401/);
  assert.doesNotMatch(wrong.message, /nope/);

  assert.equal(
    typeof (await attempt(new HttpSchemaRegistry(sr.url, { auth: { kind: 'bearer', token: 'tok-123' } }))),
    'number',
  );
  // Credentials in the URL (URL-encoded) become basic auth; fetch itself refuses such URLs.
  const u = new URL(sr.url);
  u.username = encodeURIComponent(BASIC.username);
  u.password = encodeURIComponent(BASIC.password);
  const fromUrl = new HttpSchemaRegistry(u.toString());
  assert.equal(fromUrl.base, sr.url, 'the printable base carries no credentials');
  assert.equal(typeof (await attempt(fromUrl)), 'number');
  assert.throws(
    () => new HttpSchemaRegistry(u.toString(), { auth: { kind: 'bearer', token: 'x' } }),
    /schemaRegistryUrl: carries credentials and schemaRegistry\.auth sets them too/,
  );
});

test('configuration: URL, mode and credentials from the environment reach the client', async (t) => {
  const sr = await standIn(t);
  const cfg = loadRuntimeConfig({
    env: {
      SCHEMA_REGISTRY_URL: sr.url,
      SCHEMA_REGISTRY_USERNAME: BASIC.username,
      SCHEMA_REGISTRY_PASSWORD: BASIC.password,
      SCHEMA_REGISTRY_MODE: 'lookup',
    },
  });
  const serde = Serde.fromConfig(cfg);
  assert.equal(serde.lookupOnly, true);
  sr.register(`${names.allocations}-value`, contractText('HeatingAllocation'));
  assert.equal(await serde.prepareWriter(names.allocations, 'HeatingAllocation'), 1);
  assert.deepEqual(
    sr.requests.map((r) => [r.method, r.authorized]),
    [['POST', true]],
  );
  assert.throws(
    () => loadRuntimeConfig({ env: { SCHEMA_REGISTRY_USERNAME: 'u' } }),
    /invalid configuration schemaRegistry\.auth\.password: username and password go together/,
  );
});
