import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  observedValue,
  posterior,
  priorMean,
  recordFactor,
  probit,
  thompson,
  type EvidencePrior,
} from '../../../agents/evidence.js';
import { close } from './helpers.js';

const P: EvidencePrior = {
  baseline: 0.5,
  qualityMean: 0.5,
  priorClicks: 5,
  qualityExponent: 1,
  qualityRange: 2,
  shareWeight: 0.5,
};

test('probit is the inverse normal CDF', () => {
  close(probit(0.5), 0, 1e-9);
  close(probit(0.975), 1.959964, 1e-5);
  close(probit(0.025), -1.959964, 1e-5);
  close(probit(0.999), 3.090232, 1e-5);
  assert.ok(Number.isFinite(probit(0)) && Number.isFinite(probit(1)));
});

test('the prior is the baseline scaled by the quality score, within qualityRange either way; a constant score leaves the baseline', () => {
  close(priorMean(0.5, P), 0.5);
  close(priorMean(0.75, P), 0.75);
  close(priorMean(1, P), 0.999, 1e-12, 'never certain');
  close(priorMean(0.05, P), 0.25, 1e-12, 'clamped at half the baseline');
  close(priorMean(0.5, P, 1.2), 0.6, 1e-12, 'track records scale the prior');
});

test('a track record moves the prior toward its mean, shrunk toward the baseline by its weight', () => {
  assert.equal(recordFactor(undefined, 0.5, 5), 1);
  close(recordFactor({ mean: 0.8, items: 5 }, 0.5, 5), 1.3);
  close(recordFactor({ mean: 0.2, items: 45 }, 0.5, 5), (45 * 0.2 + 5 * 0.5) / 50 / 0.5);
});

test('engaged value per click: completion plus half a completion per share, never more than one per click', () => {
  assert.equal(observedValue({ exposure: 100, clicks: 12, completionSum: 8, shares: 4 }, 0.5), 10);
  assert.equal(observedValue({ exposure: 20, clicks: 2, completionSum: 2, shares: 3 }, 0.5), 2);
});

test('the posterior moves from the prior to the evidence, and narrows with it', () => {
  const none = posterior({ exposure: 0, clicks: 0, completionSum: 0, shares: 0 }, 0.5, P);
  close(none.mean, 0.5);
  const good = posterior({ exposure: 400, clicks: 50, completionSum: 40, shares: 0 }, 0.5, P);
  close(good.mean, (5 * 0.5 + 40) / 55);
  assert.ok(good.sd < none.sd);
  // Clicks without watching (bought, click-bait) lower the estimate: a high prior does not outweigh 50 of them.
  const poor = posterior({ exposure: 400, clicks: 50, completionSum: 2, shares: 0 }, 1, P);
  assert.ok(poor.mean < P.baseline / 2, String(poor.mean));
  // Thompson draws: the mean at u = 0.5, never negative.
  close(thompson(good, 0.5), good.mean);
  assert.equal(thompson({ mean: 0.01, sd: 0.1 }, 0.001), 0);
});
