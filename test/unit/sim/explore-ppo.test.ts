// 'thermostat-learned' with explore: 'ppo': the shared explore network is trained online
// by Gaussian PPO from each user's decision joined to that user's next interactions; its learning
// curves are reported; the same seed gives the same run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultWorldConfig } from '../../../sim/config.js';
import { htmlReport } from '../../../sim/report.js';
import { runPolicy } from '../../../sim/run.js';

// Small and short: one day after the 2 h warm-up gives ~230 decisions, enough for several updates.
const small = defaultWorldConfig({ users: 120, days: 1, seed: 5 });
const opts = {
  options: {
    learned: {
      explore: 'ppo',
      minBatch: 256,
      maxBatch: 256,
      epochs: 2,
      exploreMinBatch: 48,
      exploreMaxBatch: 64,
      exploreCloneExtra: 512,
      explorePpo: { epochs: 2 },
    },
  },
};

test('explore: ppo — decisions rewarded and trained online, curves reported, same seed → same run', async () => {
  const a = await runPolicy('thermostat-learned', small, opts);
  const curve = a.learning ?? [];
  assert.equal(curve.length, 1);
  const ex = curve.map((p) => p.explore);
  assert.ok(
    ex.every((e) => e !== undefined),
    'every day has an explore point',
  );
  const updates = ex.reduce((s, e) => s + (e?.updates ?? 0), 0);
  assert.ok(updates >= 2, `explore PPO updates: ${updates}`);
  for (const e of ex) {
    assert.ok(e!.decisions > 0 && e!.rewarded > 0 && e!.rewarded <= e!.decisions + 120);
    assert.ok(e!.meanProbability > 0 && e!.meanProbability < 1);
    assert.ok(e!.std >= 0.05 - 1e-6 && e!.std <= 1.5 + 1e-6, `σ ${e!.std}`);
    assert.ok(Number.isFinite(e!.reward));
  }
  assert.match(ex[0]!.modelVersion, /^explore@\d+$/);
  assert.notEqual(ex[0]!.modelVersion, 'explore@1', 'versions past the warm start were published');
  const b = await runPolicy('thermostat-learned', small, opts);
  assert.deepEqual(JSON.parse(JSON.stringify(b)), JSON.parse(JSON.stringify(a)));
  const html = htmlReport({ config: small, policies: { 'thermostat-learned': a } });
  assert.match(html, /User explore learner/);
  assert.match(html, /Explore σ/);
});
