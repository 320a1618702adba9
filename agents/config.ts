// Every agent constant of SPEC §3 is a configuration default here, never a literal in agent code.
// Times are event-time milliseconds. docs/AGENTS.md lists each key next to the rule it drives.
import { z } from 'zod';
import { parseWithSchema } from '../core/schema.js';
import { BEHAVIOUR_SEQUENCE_LENGTH } from './scorer.js';

const unit = z.number().min(0).max(1);
const ms = z.number().int().positive();
const nonNeg = z.number().min(0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const userSchema = z
  .strictObject({
    /** Satisfaction of a new user. */
    satisfactionStart: unit.default(0.6),
    /** EWMA: satisfaction ← keep·satisfaction + (1 − keep)·(satisfactionStart + reward). */
    satisfactionKeep: unit.default(0.9),
    /** Reward r of a click at the reference rate −noClick/(click − noClick) (1/3); rescaled to the user's own click rate. */
    clickReward: z.number().positive().max(1).default(1),
    /** Reward r of an impression without a click at the reference rate; rescaled like clickReward. */
    noClickReward: z.number().min(-1).max(0).lt(0).default(-0.5),
    /** The user's click rate (behaviour sequence) is shrunk toward the reference rate with this many pseudo-impressions. */
    baselinePriorWeight: z.number().positive().default(1),
    /** Curiosity of a new user, and where it relaxes back to. */
    curiosityStart: unit.default(0.5),
    /** On a new-content impression curiosity moves this share of the way to curiosityStart + reward. */
    curiosityStep: unit.default(0.1),
    /** Curiosity never exceeds this. */
    curiosityCap: unit.default(1),
    /** Curiosity relaxes back toward curiosityStart with this half-life (the seed never lowers it). */
    curiosityHalfLifeMs: ms.default(3 * DAY),
    /** Fatigue of a new user, and where it relaxes back to. */
    fatigueStart: unit.default(0.2),
    /** In a same-category run fatigue moves this share of the way to fatigueStart − reward. */
    fatigueStep: unit.default(0.2),
    /** Fatigue never exceeds this. */
    fatigueCap: unit.default(1),
    /** Interactions in a row in one category (this one included) that add fatigueStep. */
    fatigueRunLength: z.number().int().min(2).default(3),
    /** Short half-life: fatigue relaxes toward fatigueStart between interactions. */
    fatigueHalfLifeMs: ms.default(30 * 60_000),
    /** Fraction of the excess over fatigueStart removed when the category changes. */
    fatigueCategoryChangeDrop: unit.default(0.5),
    /** Exploitation of a new user, and where it recovers to. */
    exploitationStart: unit.default(0.7),
    /** Per interaction exploitation moves this share of the way to its floor (dissatisfied) or start (satisfied). */
    exploitationStep: unit.default(0.1),
    /** Exploitation never falls below this. */
    exploitationFloor: unit.default(0),
    /** Below this satisfaction the user is dissatisfied. */
    satisfactionLow: unit.default(0.5),
    /** While satisfied, exploitation relaxes back toward its start with this half-life. */
    exploitationRecoveryHalfLifeMs: ms.default(6 * HOUR),
    /** 坑5: no exploration during the first days after registration (else first seen). */
    protectionMs: ms.default(3 * DAY),
    /** 坑1: bounded behaviour sequence; also the event-id dedupe horizon. */
    sequenceLength: z.number().int().min(1).max(64).default(BEHAVIOUR_SEQUENCE_LENGTH),
    /** interest_breadth counts categories engaged within this sliding window. */
    breadthWindowMs: ms.default(7 * DAY),
    /** A click is engagement when completion reaches this, or the item is shared. */
    engagedCompletion: unit.default(0.5),
    /** Audience aggregates count a user as "high curiosity" at or above this. */
    highCuriosity: unit.default(0.6),
    /** Heated impressions skipped in a row that are free; each one beyond halves the served explore probability. */
    heatSkipFree: z.number().int().min(0).default(2),
    /** Rule explore policy: p = wE·(1 − exploitation) + wC·curiosity + wF·fatigue (weights sum ≤ 1). */
    explore: z
      .strictObject({
        exploitation: unit.default(0.5),
        curiosity: unit.default(0.3),
        fatigue: unit.default(0.2),
      })
      .prefault({})
      .refine(
        (w) => w.exploitation + w.curiosity + w.fatigue <= 1 + 1e-9,
        'explore weights must sum to at most 1',
      ),
  })
  .prefault({});

const contentSchema = z
  .strictObject({
    /** Heating budget of a new content. */
    initialBudget: nonNeg.default(100),
    /** Budget never exceeds this (the seed's budget only grows); maxRequest / impressionsPerBudgetUnit. */
    maxBudget: nonNeg.default(500),
    /** Below this exposure a content is cold: it requests heating with coldRequestProbability. */
    coldExposure: nonNeg.default(1000),
    /** Chance per tick that a cold content requests heating. */
    coldRequestProbability: unit.default(0.9),
    /** Above this CTR a content requests heating with goodRequestProbability. */
    goodCtr: unit.default(0.05),
    /** Chance per tick that a content with a good CTR requests heating. */
    goodRequestProbability: unit.default(0.7),
    /** Chance per tick that any other content requests heating. */
    otherRequestProbability: unit.default(0.1),
    /** Largest request, in heated impressions. */
    maxRequest: z.number().int().positive().default(5000),
    /** requested = min(maxRequest, budget × impressionsPerBudgetUnit); delivered heated impressions spend 1/that each. */
    impressionsPerBudgetUnit: z.number().positive().default(10),
    /** Smallest request worth sending (and smallest grant worth emitting). */
    minRequest: z.number().int().positive().default(50),
    /** bid = quality · bidBase · (1 + expected_ctr · bidCtrMultiplier), per thousand heated impressions. */
    bidBase: nonNeg.default(10),
    /** See bidBase. */
    bidCtrMultiplier: nonNeg.default(10),
    /** Expected CTR of a content whose CTR is still unknown (below ctrMinExposure). */
    defaultExpectedCtr: unit.default(0.01),
    /** Below this exposure ctr is "unknown" and defaultExpectedCtr is used for the bid. */
    ctrMinExposure: z.number().int().min(0).default(100),
    /** Budget added per feedback window while the window's CTR is above budgetGrowthCtr (and engagement backs it). */
    budgetGrowth: nonNeg.default(50),
    /** See budgetGrowth. */
    budgetGrowthCtr: unit.default(0.03),
    /** Growth also needs the window's clicks backed by engagement (坑2/坑6). */
    budgetGrowthMinEngagedRate: unit.default(0.3),
    /** A window with fewer impressions than this says nothing (1 click in 10 views is not 10%). */
    feedbackMinExposure: z.number().int().min(0).default(100),
    /** Length of the windows over which CTR and engagement are judged. */
    feedbackWindowMs: ms.default(HOUR),
    /** Quality prior of a content published without a score. */
    defaultQuality: unit.default(0.5),
    /**
     * 坑7 fair trial: a new item requests heating at every tick until it has this many impressions
     * (organic ones count), within trialWindowMs of publication; the allocator serves trials first.
     */
    trialImpressions: z.number().int().min(0).default(20),
    /** A new item is in its trial only this long after publication. */
    trialWindowMs: ms.default(DAY),
    /** Content older than this (since publication) no longer requests heating. */
    maxHeatingAgeMs: ms.default(7 * DAY),
  })
  .prefault({});

const antiCheatSchema = z
  .strictObject({
    /** User side: clicker evidence decays with this half-life. */
    clickerHalfLifeMs: ms.default(DAY),
    /** User side: a suspect clicker has at least this many (decayed) clicks ... */
    suspectMinClicks: nonNeg.default(5),
    /** ... of which at least this share had no engagement. */
    suspectUnengagedShare: unit.default(0.7),
    /** Content side: judged only from this many clicks on. */
    minClicks: z.number().int().min(1).default(15),
    /** Engaged rates are compared by their Wilson upper bound at this z (1.64 ≈ one-sided 95%). */
    confidenceZ: nonNeg.default(1.64),
    /** Bought clicks: ctr at least this ... */
    boughtCtr: unit.default(0.06),
    /** ... while the engaged share of clicks is at most this (Wilson upper bound). */
    boughtMaxEngagedRate: unit.default(0.2),
    /** Collusion: at least this share of the clicks come from suspect clickers ... */
    collusionSuspectShare: unit.default(0.2),
    /** ... and at least this many such clicks ... */
    collusionMinSuspectClicks: z.number().int().min(1).default(5),
    /** ... and the engaged rate's upper bound is at most this. */
    collusionMaxEngagedRate: unit.default(0.4),
  })
  .prefault({});

const systemSchema = z
  .strictObject({
    /** Approval threshold on the normalised score (seed: 0.7 on raw bids — meaningless). */
    scoreThreshold: unit.default(0.3),
    /** 坑3: heated impressions ≤ cap × all impressions in the rolling window. */
    heatingCap: unit.default(0.2),
    /** Window of the heating cap (heated / all impressions). */
    rollingWindowMs: ms.default(HOUR),
    /** Budget period: the pool is replenished at its start. */
    budgetPeriodMs: ms.default(DAY),
    /** Heating impressions per budget period unless business-objectives says otherwise. */
    budgetPool: nonNeg.default(100_000),
    /**
     * Targeting when reach sizing is off: an allocation targets high-curiosity users
     * (min_curiosity = user.highCuriosity) when the tick's curious audience in its target categories
     * can absorb it at this many heated impressions per curious user; otherwise every user in those
     * categories (min_curiosity 0). With reach sizing on, reachPerActiveUser is the rate.
     */
    impressionsPerCuriousUser: z.number().positive().default(5),
    /**
     * Reach sizing: a grant never exceeds this many impressions per user of the tick's audience in
     * its target categories (Σ active, from the stage-1 aggregates). A ranker shows an item at most
     * once per user, so a grant larger than its reachable audience is never delivered and its
     * outstanding impressions only hold the cap and the pool. 0 = off.
     */
    reachPerActiveUser: nonNeg.default(0.25),
    /** Smallest grant made (a trial can be a few impressions); null = content.minRequest. */
    minGrant: z.number().int().positive().nullable().default(5),
    /** A tick may spend at most pacingBurst × its traffic-curve share of the remaining pool. 0 = no pacing. */
    pacingBurst: nonNeg.default(2),
    /**
     * The cap counts outstanding and new grants at the measured share of granted impressions that
     * allocations deliver, measured when they settle (EWMA weight of the past per tick with
     * settlements), never below minDeliveryRatio: a ranker cannot deliver every grant, and
     * undelivered grants must not hold the cap.
     */
    deliveryRatioKeep: unit.default(0.8),
    /** The delivery ratio the cap assumes is never below this. */
    minDeliveryRatio: z.number().positive().max(1).default(0.2),
    /** Traffic curve: per time slot of the period, EWMA over periods of the slot's impressions (weight of the past). */
    trafficCurveKeep: unit.default(0.5),
    /** 坑7: trials are served first, from up to this share of a tick's budget (1: all of it); what either kind leaves goes to the other. */
    trialShare: unit.default(1),
    /** Heating by evidence of engaged quality after the trial (agents/evidence.ts). */
    evidence: z
      .strictObject({
        /** Pseudo-clicks of the prior (the published quality score and track records only shape this prior). */
        priorClicks: z.number().positive().default(5),
        /** Prior mean = baseline × (quality / mean quality)^exponent, bounded by range× either way, × track records. */
        qualityExponent: nonNeg.default(1),
        qualityRange: z.number().min(1).default(2),
        /** A share counts as this much completion. */
        shareWeight: nonNeg.default(0.5),
        /** Heat continues only while the Thompson draw is at least this × the platform baseline. */
        minRatio: nonNeg.default(1),
        /** Grant per evidence allocation = impressions × min(draw / baseline, maxRatio). */
        impressions: z.number().int().positive().default(40),
        maxRatio: z.number().min(1).default(3),
        /** Baseline (mean value per click of items past their trial), mean quality and track records: EWMA weight of the past per tick. */
        baselineKeep: unit.default(0.9),
        /** Baseline before any item finished its trial. */
        baselinePrior: z.number().positive().max(1).default(0.5),
        /** Items past their trial count toward the baseline and track records from this many clicks on. */
        recordMinClicks: z.number().int().min(1).default(3),
        /** A category's or creator's track record is shrunk toward the baseline with this many pseudo-items. */
        recordWeight: nonNeg.default(5),
        /** A creator's track record is forgotten this long after its last update (bounded state). */
        recordHorizonMs: ms.default(7 * DAY),
      })
      .prefault({}),
    /** Creators below this many followers (or unknown) are small (retention_boost). */
    smallCreatorFollowers: z.number().int().min(0).default(10_000),
    /** When the cap or pool binds, evidence candidates are dropped from the bottom until each remaining one gets at least this share of its demand. */
    minFill: unit.default(0.5),
    /** How long an allocation may be served (valid_until − valid_from). */
    allocationValidityMs: ms.default(HOUR),
    /**
     * How long after an allocation expires its deliveries may still be reported: a ranker picks a
     * heated item when it builds a page and logs the impression, with its own time, when the user
     * reaches the slot. The undelivered rest returns to the pool only then, so an impression shown
     * after valid_until is not refunded and granted again.
     */
    deliveryGraceMs: nonNeg.int().default(15 * 60_000),
    /** Category → adjacent categories (audience match and target). */
    adjacency: z.record(z.string(), z.array(z.string())).default({
      tech: ['science', 'gaming', 'food'],
      science: ['tech', 'education'],
      food: ['travel', 'lifestyle', 'tech'],
      travel: ['food', 'lifestyle'],
      lifestyle: ['food', 'fashion', 'travel'],
      fashion: ['lifestyle', 'beauty'],
      beauty: ['fashion'],
      gaming: ['tech', 'anime'],
      anime: ['gaming'],
      education: ['science'],
    }),
    /** match = (curious + k·globalShare) / (active + k): a 1-of-1 category does not score 1. */
    matchPriorWeight: nonNeg.default(20),
    /** Feature scaling ceilings (each column is normalised to [0,1]). */
    ctrCeiling: z.number().positive().max(1).default(0.2),
    /** Pseudo-impressions of the CTR prior in the CTR feature. */
    ctrPriorImpressions: nonNeg.default(100),
    /** Exposure that maps to 1 in the exposure feature. */
    exposureCeiling: z.number().positive().default(1_000_000),
    /** retention_boost = newness·wN + smallCreator·wS + underExposure·wU (weights sum to 1). */
    retention: z
      .strictObject({
        newness: unit.default(0.4),
        smallCreator: unit.default(0.3),
        underExposure: unit.default(0.3),
      })
      .prefault({})
      .refine(
        (w) => Math.abs(w.newness + w.smallCreator + w.underExposure - 1) < 1e-6,
        'retention weights must sum to 1',
      ),
    /** Reward weights until business-objectives (or the LLM provider) sets them. */
    defaultWeights: z
      .strictObject({
        user_satisfaction: unit.default(0.4),
        platform_revenue: unit.default(0.4),
        long_term: unit.default(0.2),
      })
      .prefault({}),
    /** cost = bid_price × impressions / costPerImpressions (bid is a price per thousand heated impressions). */
    costPerImpressions: z.number().positive().default(1000),
  })
  .prefault({});

export const agentConfigSchema = z.strictObject({
  user: userSchema,
  content: contentSchema,
  antiCheat: antiCheatSchema,
  system: systemSchema,
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type UserConfig = AgentConfig['user'];
export type ContentConfig = AgentConfig['content'];
export type AntiCheatConfig = AgentConfig['antiCheat'];
export type SystemConfig = AgentConfig['system'];

/** Deep-partial input accepted by parseAgentConfig. */
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** Validates a (partial) agent config and fills defaults; a bad value throws ConfigError naming its key. */
export function parseAgentConfig(partial: unknown = {}): AgentConfig {
  return parseWithSchema(agentConfigSchema, partial ?? {});
}

export const DEFAULT_AGENT_CONFIG: AgentConfig = Object.freeze(parseAgentConfig({})) as AgentConfig;
