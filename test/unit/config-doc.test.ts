import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderConfigDoc } from '../../scripts/gen-config-doc.js';

test('docs/CONFIG.md is generated from the config schemas and up to date (npm run gen:config-doc)', () => {
  const generated = renderConfigDoc();
  assert.equal(readFileSync(new URL('../../docs/CONFIG.md', import.meta.url), 'utf8'), generated);
});

test('every configuration key in the reference has a default or says unset, and a description', () => {
  const rows = renderConfigDoc()
    .split('\n')
    .filter((l) => l.startsWith('| `'));
  assert.ok(rows.length > 100, `${rows.length} keys`);
  for (const r of [
    '`kafka.brokers` | `KAFKA_BROKERS`',
    '`learn.scorer` | `THERMOSTAT_SCORER`',
    '`agents.system.heatingCap` |',
  ])
    assert.ok(
      rows.some((row) => row.includes(r)),
      r,
    );
  const undocumented = rows.filter((row) => row.endsWith('|  |')).map((row) => row.split('|')[1].trim());
  assert.deepEqual(undocumented, [], 'a doc comment on each schema field');
});
