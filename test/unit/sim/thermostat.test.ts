// The simulator on the real graph (ThermostatTestDriver in-process): popularity shows a
// stronger Matthew effect than Thermostat, Thermostat's heating is delivered and never exceeds the
// 20% heated share over any rolling 1 h window, and the same seed gives the same numbers.
// 'thermostat-learned' trains online (PPO updates happen, learning curves are reported)
// and is deterministic too. Small worlds so the file runs in well under a minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultWorldConfig } from '../../../sim/config.js';
import { htmlReport } from '../../../sim/report.js';
import { runPolicy } from '../../../sim/run.js';

const cfg = defaultWorldConfig({ users: 500, days: 2, seed: 3 });
const pop = runPolicy('popularity', cfg);
const thermo = pop.then(() => runPolicy('thermostat', cfg));

test('popularity shows a stronger Matthew effect than Thermostat (top100_share, exposure_gini, new content)', async () => {
  const p = (await pop).metrics;
  const t = (await thermo).metrics;
  assert.ok(
    t.top100_share < p.top100_share,
    `top100_share thermostat ${t.top100_share} vs popularity ${p.top100_share}`,
  );
  assert.ok(
    t.exposure_gini < p.exposure_gini,
    `exposure_gini thermostat ${t.exposure_gini} vs popularity ${p.exposure_gini}`,
  );
  // 500 users are too few for cold start (20 impressions + 2 engaged views in a day); new content's
  // share of impressions shows the same thing (measured seed 3: 5.8% vs 1.4%).
  assert.ok(
    t.new_content_impression_share > 2 * p.new_content_impression_share,
    `new-content share ${t.new_content_impression_share} vs ${p.new_content_impression_share}`,
  );
});

// The cap is exercised with a pool that does not bind (the job's default 100,000 impressions/day):
// heating is then limited by the 20% cap and by what can be delivered.
const capBound = thermo.then(() =>
  runPolicy('thermostat', cfg, { options: { agents: { system: { budgetPool: 100_000 } } } }),
);

test('Thermostat delivers heating and never exceeds the 20% heated share in any rolling 1 h window', async () => {
  for (const t of [(await thermo).metrics, (await capBound).metrics])
    assert.ok(t.heated_share_max <= 0.2, `heated_share_max ${t.heated_share_max}`);
  const t = (await capBound).metrics;
  // Not vacuous: heat is actually delivered (the cap is exercised, not trivially met by delivering nothing).
  assert.ok(
    t.heated_impressions > 0.02 * t.impressions,
    `heated ${t.heated_impressions} of ${t.impressions}`,
  );
  assert.ok(t.heated_share_max > 0.05, `heated_share_max ${t.heated_share_max}`);
  assert.ok(t.heated_share_max <= 0.2, `heated_share_max ${t.heated_share_max}`);
  assert.ok(t.heated_share <= t.heated_share_max);
});

test('Thermostat: same seed, same numbers', async () => {
  const a = await thermo;
  const b = await runPolicy('thermostat', cfg);
  assert.deepEqual(JSON.parse(JSON.stringify(b)), JSON.parse(JSON.stringify(a)));
});

test('thermostat-learned trains online from joined outcomes, reports learning curves, and is deterministic', async () => {
  const small = defaultWorldConfig({ users: 200, days: 2, seed: 5 });
  const opts = { options: { learned: { minBatch: 256, maxBatch: 256, epochs: 2 } } };
  const a = await runPolicy('thermostat-learned', small, opts);
  const curve = a.learning ?? [];
  assert.equal(curve.length, 2, 'one point per day');
  assert.ok(curve.reduce((s, p) => s + p.updates, 0) >= 2, 'PPO updates ran');
  assert.ok(
    curve.some((p) => p.approvedReward !== 0),
    'heated allocations settled with a reward',
  );
  assert.ok(curve[curve.length - 1].modelVersion.startsWith('allocation@'));
  assert.notEqual(curve[curve.length - 1].modelVersion, 'allocation@0');
  for (const p of curve) {
    assert.ok(p.entropy > 0 && p.entropy <= Math.log(2) + 1e-9);
    assert.ok(p.approvalRate >= 0 && p.approvalRate <= 1);
  }
  assert.ok(a.metrics.heated_impressions > 0);
  assert.ok(a.metrics.heated_share_max <= 0.2);
  const b = await runPolicy('thermostat-learned', small, opts);
  assert.deepEqual(JSON.parse(JSON.stringify(b)), JSON.parse(JSON.stringify(a)));
  const html = htmlReport({ config: small, policies: { 'thermostat-learned': a } });
  assert.match(html, /Policy entropy per day/);
  assert.match(html, /Approval rate per day/);
});
