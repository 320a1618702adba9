// The `learn` section of the one configuration schema (core/config.ts, where its environment
// variables are listed too): scorer choice, model version, backend, PPO, trainer, reward, LLM.
// Pure zod, no TensorFlow import: the configuration is validated before anything heavy loads.
import { z } from 'zod';
import { parseWithSchema } from '../core/schema.js';

/** TF.js backend choices (learn/backend.ts): auto picks tfjs-node-gpu with a CUDA GPU, else wasm, else cpu. */
export const BACKEND_CHOICES = ['auto', 'gpu', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

const pos = z.number().positive();
const posInt = z.number().int().positive();

export const learnConfigSchema = z.strictObject({
  /** auto: tfjs-node-gpu with a CUDA GPU → wasm → cpu. An explicit choice that cannot load fails. */
  backend: z.enum(BACKEND_CHOICES).default('auto'),
  /**
   * Allocation scorer of the Kafka job: rule (default) or the learned network, loaded from the
   * model store at start (the latest version, or `modelSeq` when set). No weights → rule, with a
   * warning and thermostat_scorer_fallback_total.
   */
  scorer: z.enum(['rule', 'learned']).default('rule'),
  /** Model version to load for the learned scorer; unset: the latest in the model store. */
  modelSeq: z.number().int().positive().optional(),
  /**
   * Threads that score one allocation batch with the learned scorer on wasm / cpu, this thread
   * included: 1 scores in-thread; N adds N − 1 worker threads (learn/sharded-scorer.ts). Unset:
   * the available cores, at most 4.
   */
  scorerWorkers: z.number().int().min(1).max(64).optional(),
  /** Initialisation and minibatch seed (deterministic mode); in the job unset means the top-level `seed`. */
  seed: z.number().int().default(42),
  /** PPO learner (clipped objective, value baseline, entropy bonus): clip ε, value and entropy coefficients, Adam learning rate, epochs and minibatch size per update, gradient-norm clip. */
  ppo: z
    .strictObject({
      clipEpsilon: pos.max(1).default(0.2),
      valueCoef: z.number().nonnegative().default(0.5),
      entropyCoef: z.number().nonnegative().default(0.02),
      learningRate: pos.default(1e-3),
      epochs: posInt.default(4),
      minibatchSize: posInt.default(64),
      maxGradNorm: pos.default(0.5),
      normalizeAdvantages: z.boolean().default(true),
      /** Fresh Adam moments per update: restart-exact training without optimiser checkpoints. */
      resetOptimizerEachUpdate: z.boolean().default(true),
    })
    .prefault({}),
  /** Training turns off the hot path: experiences per update (min/max batch), updates per turn. */
  trainer: z
    .strictObject({
      minBatch: posInt.default(512),
      maxBatch: posInt.default(4096),
      stepsPerTurn: z.number().int().nonnegative().default(1),
    })
    .prefault({}),
  /** Delayed rewards joined to allocations by allocation_id: normalisation ceilings (CTR, share, cost), cost weight, how long outcomes are awaited (graceMs), bounds on pending and ready experiences. */
  reward: z
    .strictObject({
      ctrCeiling: pos.default(0.1),
      shareCeiling: pos.default(0.05),
      maxCost: pos.default(50_000),
      costWeight: z.number().nonnegative().default(0.3),
      graceMs: z
        .number()
        .int()
        .nonnegative()
        .default(5 * 60_000),
      maxPending: posInt.default(100_000),
      maxReady: posInt.default(50_000),
    })
    .prefault({}),
  /**
   * Online learning in the job (learn/online/): the allocator's decisions and outcomes train the
   * allocation network, new versions reach the allocator as control records on its input log.
   */
  online: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** Event time the rule decides (and is imitated) before the warm-start version. */
      warmupMs: posInt.default(2 * 3_600_000),
      /** Rule rows (feature row and score) kept for the warm start, at most. */
      warmupMaxRows: posInt.default(8192),
      /** Warm start target sigmoid((rule score − threshold)/τ). */
      imitationTemperature: pos.default(0.03),
      /** Learned denials recorded per tick at most (keyed subsample; bounds training cost). */
      maxDenialsPerTick: posInt.default(48),
      /** Reward of a settled grant: marginal (the value it delivered, summed) or bandit (per impression). */
      credit: z.enum(['marginal', 'bandit']).default('marginal'),
      /** Share of ticks the rule decides while a learned version is live (the guard's baseline). */
      ruleHoldout: z.number().min(0).max(0.5).default(0.05),
      /** thread: PPO in a worker thread; inline: in the job's thread, between batches. */
      trainIn: z.enum(['thread', 'inline']).default('thread'),
      /** Rollbacks in a row after which learning stops and the rule decides. */
      maxRollbacks: posInt.default(3),
      /** Guard against a bad model (docs/LEARNING.md "Guard"): refuse or roll back. */
      guard: z
        .strictObject({
          /** Approval rate (candidate mean, live window) below it: collapsed (where the rule's is not). */
          minApproval: z.number().min(0).max(1).default(0.01),
          /** Approval rate above it: collapsed (where the rule's is not). */
          maxApproval: z.number().min(0).max(1).default(0.99),
          /** Learned rows in the approval window. */
          minRows: posInt.default(500),
          /** Learned settled grants in the reward window. */
          minGrants: posInt.default(50),
          /** A version's own settled grants before it can be good (the rollback target). */
          goodGrants: posInt.default(20),
          /** The learned mean reward below the rule's by more than this many standard errors: roll back. */
          rewardZ: pos.default(2.5),
          /** Rule grants kept as the reward baseline. */
          baselineWindow: posInt.default(500),
        })
        .prefault({})
        .refine((g) => g.minApproval < g.maxApproval, {
          message: 'minApproval must be below maxApproval',
          path: ['minApproval'],
        }),
    })
    .prefault({}),
  /** Optional LLM provider of reward weights (OpenAI-compatible endpoint; output parsed as bounded JSON, never evaluated), behind a circuit breaker: failures before it opens, time before it retries. */
  llm: z
    .strictObject({
      enabled: z.boolean().default(false),
      url: z.string().url().optional(),
      model: z.string().min(1).default('gpt-4o-mini'),
      apiKey: z.string().optional(),
      timeoutMs: posInt.default(10_000),
      intervalMs: posInt.default(5 * 60_000),
      failureThreshold: posInt.default(3),
      resetTimeoutMs: posInt.default(60_000),
    })
    .prefault({})
    .refine((l) => !l.enabled || l.url !== undefined, {
      message: 'url is required when the LLM provider is enabled',
      path: ['url'],
    }),
});

export type LearnConfig = z.infer<typeof learnConfigSchema>;

/** A learn section from a partial one (defaults filled in): the simulator's and the tests' learners. */
export function parseLearnConfig(partial: unknown = {}): LearnConfig {
  return parseWithSchema(learnConfigSchema, partial ?? {});
}
