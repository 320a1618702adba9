// Engaged quality of a content from evidence (SPEC §3, 坑2/坑6): the value of one impression is
// the share of the item that was watched (completion, 0 when not clicked) plus a bonus per share —
// never the click itself, so bought or click-bait clicks without watching add nothing. Each item's
// value per impression gets a Beta posterior (completion is in [0,1], so a fractional Beta is a
// conservative model of it: its variance bounds the variance of any [0,1] variable of that mean)
// whose prior is the platform's baseline scaled by the published quality score. A constant or
// missing score leaves the prior at the baseline, so evidence alone decides.

/** Observed engagement of one item: impressions, Σ completion over its clicks, shares. */
export interface EngagementEvidence {
  exposure: number;
  completionSum: number;
  shares: number;
}

export interface EvidencePrior {
  /** Baseline value per impression of an average item on this platform (> 0). */
  baseline: number;
  /** Mean published quality of the items competing for heat (> 0). */
  qualityMean: number;
  /** Pseudo-impressions of the prior. */
  priorImpressions: number;
  /** Prior mean = baseline × (quality / qualityMean)^qualityExponent, within [1/range, range] × baseline. */
  qualityExponent: number;
  qualityRange: number;
  /** A share counts as this much completion. */
  shareWeight: number;
}

export interface Posterior {
  mean: number;
  sd: number;
}

/** Value per impression observed so far: (Σ completion + shareWeight·shares) / exposure, in [0,1] per impression. */
export function observedValue(e: EngagementEvidence, shareWeight: number): number {
  return Math.min(e.exposure, e.completionSum + shareWeight * e.shares);
}

/** Prior mean of an item's value per impression from the platform baseline and its quality score. */
export function priorMean(quality: number, p: EvidencePrior): number {
  const rel = p.qualityMean > 0 ? Math.max(quality, 1e-6) / p.qualityMean : 1;
  const mult = Math.min(p.qualityRange, Math.max(1 / p.qualityRange, Math.pow(rel, p.qualityExponent)));
  return Math.min(0.999, Math.max(1e-6, p.baseline * mult));
}

/** Beta posterior of the value per impression (prior: priorImpressions pseudo-impressions at the prior mean). */
export function posterior(e: EngagementEvidence, quality: number, p: EvidencePrior): Posterior {
  const m = priorMean(quality, p);
  const v = observedValue(e, p.shareWeight);
  const a = p.priorImpressions * m + v;
  const b = p.priorImpressions * (1 - m) + Math.max(0, e.exposure - v);
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
