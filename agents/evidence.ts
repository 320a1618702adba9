// Engaged quality of a content from evidence (SPEC §3, 坑2/坑6): what a click on it is worth —
// the share of the item watched, plus a bonus per share, per click. Clicks only count as the
// denominator: whether people click says who the item appeals to (targeting), not whether it
// holds them; bought or click-bait clicks without watching lower the estimate. Each item's value
// per click gets a Beta posterior (completion is in [0,1], so a fractional Beta is a conservative
// model of it: its variance bounds the variance of any [0,1] variable of that mean) whose prior
// is the platform's baseline, scaled by the published quality score and by the track record of
// the item's category and creator (empirical Bayes: what earlier items of the same category and
// creator were worth per click, shrunk toward the baseline by how much of it there is). A constant
// or missing score and no track record leave the prior at the baseline, so evidence alone decides.

/** Observed engagement of one item: impressions, clicks, Σ completion over its clicks, shares. */
export interface EngagementEvidence {
  exposure: number;
  clicks: number;
  completionSum: number;
  shares: number;
}

export interface EvidencePrior {
  /** Baseline value per click of an average item on this platform (> 0). */
  baseline: number;
  /** Mean published quality of the items competing for heat (> 0). */
  qualityMean: number;
  /** Pseudo-clicks of the prior. */
  priorClicks: number;
  /** Score factor = (quality / qualityMean)^qualityExponent, within [1/range, range]. */
  qualityExponent: number;
  qualityRange: number;
  /** A share counts as this much completion. */
  shareWeight: number;
}

/** Track record of a group of items (a category, a creator): their mean value per click and its weight in items. */
export interface TrackRecord {
  mean: number;
  items: number;
}

export interface Posterior {
  mean: number;
  sd: number;
}

/** Value observed so far: Σ completion + shareWeight·shares, at most one per click. */
export function observedValue(e: EngagementEvidence, shareWeight: number): number {
  return Math.min(e.clicks, e.completionSum + shareWeight * e.shares);
}

/** Ratio of a track record to the baseline, shrunk toward 1 with `weight` pseudo-items (1 without a record). */
export function recordFactor(r: TrackRecord | undefined, baseline: number, weight: number): number {
  if (!r || !(r.items > 0) || !(baseline > 0)) return 1;
  return (r.items * r.mean + weight * baseline) / (r.items + weight) / baseline;
}

/** Prior mean of an item's value per click: the baseline × its score factor × its track-record factors. */
export function priorMean(quality: number, p: EvidencePrior, recordFactors = 1): number {
  const rel = p.qualityMean > 0 ? Math.max(quality, 1e-6) / p.qualityMean : 1;
  const mult = Math.min(p.qualityRange, Math.max(1 / p.qualityRange, Math.pow(rel, p.qualityExponent)));
  return Math.min(0.999, Math.max(1e-6, p.baseline * mult * recordFactors));
}

/** Beta posterior of the value per click (prior: priorClicks pseudo-clicks at the prior mean). */
export function posterior(
  e: EngagementEvidence,
  quality: number,
  p: EvidencePrior,
  recordFactors = 1,
): Posterior {
  const m = priorMean(quality, p, recordFactors);
  const v = observedValue(e, p.shareWeight);
  const a = p.priorClicks * m + v;
  const b = p.priorClicks * (1 - m) + Math.max(0, e.clicks - v);
  const n = a + b;
  const mean = a / n;
  return { mean, sd: Math.sqrt((mean * (1 - mean)) / (n + 1)) };
}

/** A Thompson draw from the posterior (normal approximation) at uniform u ∈ (0,1), never below 0. */
export function thompson(post: Posterior, u: number): number {
  return Math.max(0, post.mean + post.sd * probit(u));
}

/** Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
export function probit(u: number): number {
  const p = Math.min(1 - 1e-12, Math.max(1e-12, u));
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  if (p > 1 - lo) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return (
      -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}
