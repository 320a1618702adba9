import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runAb } from '../../../sim/ab.js';

const ab = runAb(['popularity', 'manual'], { world: { users: 400, days: 2, seed: 3 }, bootstrap: 40 });

test('an A/B run splits one population by hash and reports each difference with a CI', async () => {
  const r = await ab;
  assert.equal(r.arms.length, 2);
  assert.equal(r.arms[0].users + r.arms[1].users, 400);
  assert.ok(Math.abs(r.arms[0].users - 200) < 40, `arm sizes ${r.arms.map((a) => a.users)}`);
  const table = r.diffs.manual;
  const get = (m: string) => table.find((d) => d.metric === m)!;
  for (const d of table) {
    assert.ok(Math.abs(d.diff - (d.treatment - d.control)) < 1e-12);
    if (d.ci) assert.ok(d.ci[0] <= d.ci[1]);
  }
  // Manual heating is a large, certain effect on heated share; control has none.
  const hs = get('heated_share');
  assert.equal(hs.control, 0);
  assert.ok(hs.ci && hs.ci[0] > 0, `heated_share CI ${hs.ci}`);
  assert.equal(get('cold_start_success').ci, null, 'not user-decomposable: no CI');
  assert.ok(get('new_content_ctr').ci !== null);
});

test('an A/B run is reproducible', async () => {
  const again = await runAb(['popularity', 'manual'], {
    world: { users: 400, days: 2, seed: 3 },
    bootstrap: 40,
  });
  assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(await ab)));
});
