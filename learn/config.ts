// Configuration of the learning layer: one schema, one set of defaults, env overrides, errors that
// name the key. Meant to be merged into core/config.ts as its `learn` section (the env names below
// are the ones to add to ENV_KEYS there); until then loadLearnConfig() reads them itself.
import { z } from 'zod';
import { parseWithSchema } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { BACKEND_CHOICES } from './backend.js';

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
  /** Initialisation and minibatch seed (deterministic mode). */
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

/** Environment variable → dotted key inside the learn section. */
export const LEARN_ENV_KEYS: Record<string, { key: string; type: 'string' | 'int' | 'float' | 'bool' }> = {
  THERMOSTAT_TF_BACKEND: { key: 'backend', type: 'string' },
  THERMOSTAT_SCORER: { key: 'scorer', type: 'string' },
  THERMOSTAT_MODEL_SEQ: { key: 'modelSeq', type: 'int' },
  THERMOSTAT_SCORER_WORKERS: { key: 'scorerWorkers', type: 'int' },
  THERMOSTAT_LEARN_SEED: { key: 'seed', type: 'int' },
  THERMOSTAT_PPO_ENTROPY_COEF: { key: 'ppo.entropyCoef', type: 'float' },
  THERMOSTAT_PPO_LEARNING_RATE: { key: 'ppo.learningRate', type: 'float' },
  THERMOSTAT_LEARN_ONLINE: { key: 'online.enabled', type: 'bool' },
  THERMOSTAT_LEARN_WARMUP_MS: { key: 'online.warmupMs', type: 'int' },
  THERMOSTAT_LEARN_RULE_HOLDOUT: { key: 'online.ruleHoldout', type: 'float' },
  THERMOSTAT_LEARN_MIN_BATCH: { key: 'trainer.minBatch', type: 'int' },
  THERMOSTAT_LLM_ENABLED: { key: 'llm.enabled', type: 'bool' },
  THERMOSTAT_LLM_URL: { key: 'llm.url', type: 'string' },
  THERMOSTAT_LLM_MODEL: { key: 'llm.model', type: 'string' },
  THERMOSTAT_LLM_API_KEY: { key: 'llm.apiKey', type: 'string' },
  THERMOSTAT_LLM_TIMEOUT_MS: { key: 'llm.timeoutMs', type: 'int' },
  THERMOSTAT_LLM_INTERVAL_MS: { key: 'llm.intervalMs', type: 'int' },
};

export function loadLearnConfig(
  env: NodeJS.ProcessEnv = process.env,
  base: Record<string, unknown> = {},
): LearnConfig {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [name, { key, type }] of Object.entries(LEARN_ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let v: unknown = raw.trim();
    if (type === 'int' || type === 'float') {
      const n = Number(raw);
      if (!Number.isFinite(n) || (type === 'int' && !Number.isInteger(n)))
        throw new ConfigError(`learn.${key} (env ${name})`, `expected a number, got "${raw}"`);
      v = n;
    } else if (type === 'bool') {
      if (!/^(true|false|1|0)$/i.test(raw.trim()))
        throw new ConfigError(`learn.${key} (env ${name})`, `expected true|false, got "${raw}"`);
      v = /^(true|1)$/i.test(raw.trim());
    } else if (name === 'THERMOSTAT_TF_BACKEND') {
      v = raw.trim().toLowerCase();
    }
    const parts = key.split('.');
    let cur = out;
    for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
    cur[parts[parts.length - 1]] = v;
  }
  try {
    return parseWithSchema(learnConfigSchema, out);
  } catch (e) {
    if (e instanceof ConfigError && e.key) {
      const envName = Object.entries(LEARN_ENV_KEYS).find(([, d]) => d.key === e.key)?.[0];
      throw new ConfigError(
        `learn.${e.key}${envName ? ` (env ${envName})` : ''}`,
        e.message.replace(/^invalid configuration [^:]+: /, ''),
      );
    }
    throw e;
  }
}
