import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentConfig } from '../../../agents/config.js';
import { runFairnessDay } from './fairness-sim.js';

// One simulated day+ of 200 contents (80% small creators, uniform quality, organic traffic skewed to
// big creators) through the content and system agents, with a scarce pool of 4 000 heated
// impressions/day (≈ 20 per content). Measured at seed 3 with the shipped defaults: 100% of new
// content had its trial (≥ 20 impressions on its first day), small creators and quality < 0.4
// included; 84% was heated at least once (small creators 100%, quality < 0.4: 81%) — the rest
// reached its trial organically and needed no heat. Without fair trials (content.trialImpressions
// 0, heat by evidence alone): 41.0% heated (small 48.5%, quality < 0.4: 19.8%).
const cfg = parseAgentConfig({ system: { budgetPool: 4_000 } });

test('坑7: with fair trials every new content gets its trial and at least 80% a heating, small creators and low quality included', () => {
  const r = runFairnessDay(cfg, 3);
  assert.ok(r.trialShare >= 0.95, `trials ${r.trialShare}`);
  assert.ok(r.smallTrialShare >= 0.95, `small trials ${r.smallTrialShare}`);
  assert.ok(r.heatedShare >= 0.8, `heated ${r.heatedShare}`);
  assert.ok(r.smallHeatedShare >= 0.95, `small ${r.smallHeatedShare}`);
  assert.ok(r.lowQualityHeatedShare >= 0.8, `low quality ${r.lowQualityHeatedShare}`);
  // Whole-run invariants: the pool never went negative and the cap always held.
  assert.ok(r.minPool >= 0);
  assert.ok(r.maxProjectedShare <= cfg.system.heatingCap + 1e-12);
  // Same inputs, same allocation ids.
  assert.deepEqual(runFairnessDay(cfg, 3).ids, r.ids);
});

test('without fair trials heat follows evidence alone: most low-quality content and half of all content go unheated', () => {
  const plain = parseAgentConfig({ system: { budgetPool: 4_000 }, content: { trialImpressions: 0 } });
  const r = runFairnessDay(plain, 3);
  assert.ok(r.heatedShare < 0.6, `heated ${r.heatedShare}`);
  assert.ok(r.lowQualityHeatedShare < 0.4, `low quality ${r.lowQualityHeatedShare}`);
});
