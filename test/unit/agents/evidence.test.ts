import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  observedValue,
  posterior,
  priorMean,
  probit,
  thompson,
  type EvidencePrior,
} from '../../../agents/evidence.js';
import { close } from './helpers.js';

const P: EvidencePrior = {
  baseline: 0.05,
  qualityMean: 0.5,
  priorImpressions: 20,
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
  close(priorMean(0.5, P), 0.05);
  close(priorMean(0.75, P), 0.075);
  close(priorMean(1, P), 0.1);
  close(priorMean(0.05, P), 0.025, 1e-12, 'clamped at half the baseline');
  close(priorMean(0.5, { ...P, qualityMean: 0.5 }), P.baseline);
});

test('engaged value per impression: completion plus half a completion per share, never more than one per impression', () => {
  assert.equal(observedValue({ exposure: 100, completionSum: 8, shares: 4 }, 0.5), 10);
  assert.equal(observedValue({ exposure: 2, completionSum: 2, shares: 3 }, 0.5), 2);
});

test('the posterior moves from the prior to the evidence, and narrows with it', () => {
  const none = posterior({ exposure: 0, completionSum: 0, shares: 0 }, 0.5, P);
  close(none.mean, 0.05);
  const good = posterior({ exposure: 400, completionSum: 80, shares: 0 }, 0.5, P);
  close(good.mean, (20 * 0.05 + 80) / 420);
  assert.ok(good.sd < none.sd);
  // A high prior does not outweigh 400 impressions of poor evidence.
  const poor = posterior({ exposure: 400, completionSum: 2, shares: 0 }, 1, P);
  assert.ok(poor.mean < P.baseline / 2, String(poor.mean));
  // Thompson draws: the mean at u = 0.5, never negative.
  close(thompson(good, 0.5), good.mean);
  assert.equal(thompson({ mean: 0.01, sd: 0.1 }, 0.001), 0);
});
