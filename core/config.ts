// One configuration schema (the job's keys, the agent rules under `agents`, learning under
// `learn`), one set of defaults, one table of environment variables. Sources, later wins: defaults
// < JSON file (THERMOSTAT_CONFIG or --config) < environment. Validated once at start, before any
// I/O; an invalid value fails fast with the dotted key that is wrong (`ConfigError`). The only
// module that reads the process environment; docs/CONFIG.md is generated from it.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { agentConfigSchema } from '../agents/config.js';
import { learnConfigSchema } from '../learn/config.js';
import { DAY_MS } from './clock.js';
import { ConfigError } from './errors.js';
import { parseWithSchema } from './schema.js';

const positiveInt = z.number().int().positive();
const ms = z.number().int().nonnegative();

/** Defaults of the hostile-input bounds, shared with the graph's own defaults (pipelines/). */
export const INPUT_BOUNDS = {
  maxRecordBytes: 262_144,
  partitionMismatch: 'reroute',
  idleMaxLagMs: 60_000,
  maxAheadMs: 300_000,
  aheadPolicy: 'dlq',
} as const;

/**
 * Event-time idleness after which a user's or a content's state starts over (0: never), shared
 * with the graph's own defaults (pipelines/). Redis keeps a key a margin longer (state/expiry.ts).
 */
export const IDLE_TTL = { userIdleTtlMs: 30 * DAY_MS, contentIdleTtlMs: 30 * DAY_MS } as const;

// Strict: an unknown key (a typo in the config file) fails at start, named, instead of being ignored.
export const runtimeConfigSchema = z.strictObject({
  /** Application id: consumer-group prefix, internal-topic prefix and Redis key prefix. */
  appId: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, . _ - only (max 100)')
    .default('thermostat'),
  /** Prefix for the public topic names too (tests, isolated deployments); empty in production. */
  topicPrefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, . _ - only')
    .default(''),
  kafka: z
    .strictObject({
      /** Comma-separated bootstrap servers. Unset: the embedded local stack (127.0.0.1:9092). */
      brokers: z.string().min(1).default('127.0.0.1:9092'),
      /** Extra librdkafka properties (SASL/SSL...), passed through verbatim. */
      rdkafka: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
      /**
       * Static group membership (`group.instance.id`, unique per instance, stable across restarts,
       * e.g. the pod name): a restarted instance takes its partitions back at once instead of
       * waiting for the session timeout. Unset: dynamic membership.
       */
      instanceId: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,200}$/, 'letters, digits, . _ - only')
        .optional(),
      /** Partitions of the input topics, the content stage and the outputs: the most useful instances. Part of the Redis key layout: changing it is a migration. */
      inputPartitions: positiveInt.default(6),
      /** Replication factor of the topics the job creates. */
      replicationFactor: positiveInt.default(1),
      /** Records fetched per consume call (micro-batch size). */
      batchSize: positiveInt.default(2000),
      /**
       * Input records larger than this go to the DLQ (RECORD_TOO_LARGE) undecoded, and DLQ and
       * late side-output payloads are truncated to it: every record the job writes because of an
       * input record then fits the producer's message.max.bytes (1,000,000 by default).
       */
      maxRecordBytes: z.number().int().min(1024).max(900_000).default(INPUT_BOUNDS.maxRecordBytes),
      /**
       * A record in a partition its id does not hash to (murmur2, Kafka's Java default; or a null
       * key): `reroute` sends it to the task that owns the id through the internal re-key topic,
       * `dlq` sends it to the DLQ (PARTITION_MISMATCH). Counted either way.
       */
      partitionMismatch: z.enum(['reroute', 'dlq']).default(INPUT_BOUNDS.partitionMismatch),
    })
    .prefault({}),
  /** Confluent-compatible Schema Registry; unset: the ids of schemas/registry.json. Credentials in the URL are used as basic auth. */
  schemaRegistryUrl: z.string().url().optional(),
  schemaRegistry: z
    .strictObject({
      /** register: the job registers its contract schemas; lookup: it only looks up their ids (never registers). */
      mode: z.enum(['register', 'lookup']).default('register'),
      auth: z
        .strictObject({
          /** Basic auth user (Confluent Cloud: the API key); with `password`. */
          username: z.string().min(1).optional(),
          /** Basic auth password (Confluent Cloud: the API secret); with `username`. */
          password: z.string().min(1).optional(),
          /** Bearer auth: a static token (an OAuth access token, a proxy's token). */
          bearerToken: z.string().min(1).optional(),
          /** Confluent Cloud with a bearer token: the registry's logical cluster id (`lsrc-…`). */
          logicalCluster: z.string().min(1).optional(),
          /** Confluent Cloud with a bearer token: the identity pool id (`pool-…`). */
          identityPoolId: z.string().min(1).optional(),
        })
        .prefault({})
        .check((ctx) => {
          const a = ctx.value;
          const issue = (key: string, message: string) =>
            ctx.issues.push({ code: 'custom', path: [key], message, input: a });
          if ((a.username === undefined) !== (a.password === undefined))
            issue(a.username === undefined ? 'username' : 'password', 'username and password go together');
          if (a.bearerToken !== undefined && a.username !== undefined)
            issue('bearerToken', 'set either bearerToken or username/password, not both');
          if (a.bearerToken === undefined && (a.logicalCluster ?? a.identityPoolId) !== undefined)
            issue(a.logicalCluster ? 'logicalCluster' : 'identityPoolId', 'needs bearerToken');
        }),
      /** Timeout of one registry request. */
      timeoutMs: positiveInt.default(10_000),
    })
    .prefault({}),
  redis: z
    .strictObject({
      /**
       * Redis of the checkpoints and the serving copies: redis[s]://[user:pass@]host:port[/db] (one
       * server), redis[s]+sentinel://h:p,h:p/<master name>[/db] (Sentinel) or redis[s]+cluster://h:p,h:p
       * (Cluster seed nodes); docs/STATE.md "Redis topologies".
       */
      url: z
        .string()
        .regex(
          /^rediss?(\+sentinel|\+cluster)?:\/\/./,
          'redis://, rediss://, redis+sentinel:// or redis+cluster://',
        )
        .default('redis://127.0.0.1:6379'),
      /** ACL user of the data nodes (overrides the URL's). */
      username: z.string().min(1).optional(),
      /** Password of the data nodes (overrides the URL's; any characters, no URL encoding). */
      password: z.string().min(1).optional(),
      /** Password of the Sentinel processes, when they require one. */
      sentinelPassword: z.string().min(1).optional(),
      /** Max state entries queued for Redis while it is down before the job applies backpressure. */
      maxQueuedEntries: positiveInt.default(2_000_000),
      /**
       * While Redis cannot load state, records whose key is not in memory are parked (and the
       * outputs after them held, in order) so the other keys keep moving. Above this many parked
       * or held records in one task, its stage stops fetching until Redis is back.
       */
      maxParkedRecords: positiveInt.default(50_000),
      /**
       * /readyz stays 200 ("ready (degraded: ...)") while Redis is unreachable or records are
       * parked, and answers 503 once the degradation has lasted longer than this.
       */
      degradedReadyLimitMs: ms.default(300_000),
      /**
       * Replicas that must acknowledge a checkpoint (Redis WAIT) before it counts as durable and its
       * Kafka offsets are committed; fewer within replicaAckTimeoutMs fail it, and it is retried (the
       * job degrades, loses nothing). Unset: 1 with Sentinel, 0 (no WAIT) on one server or a Cluster;
       * docs/STATE.md "Durability with replicas".
       */
      minReplicaAcks: z.number().int().min(0).max(100).optional(),
      /** How long a checkpoint waits for those acknowledgements (below the 2 s Redis command timeout). */
      replicaAckTimeoutMs: z.number().int().min(10).max(1500).default(500),
      /** At start, how long the job waits for Redis before it exits naming the address (exit 1; refused credentials: exit 2 at once). */
      connectTimeoutMs: positiveInt.default(10_000),
    })
    .prefault({}),
  state: z
    .strictObject({
      /**
       * Dirty cache entries of one task that start a checkpoint before the commit interval ends:
       * keeps each atomic checkpoint well under the Redis command timeout during catch-up bursts.
       */
      maxDirtyBeforeCheckpoint: positiveInt.default(20_000),
      /**
       * Resident entries of one task's state cache (users or contents) before clean entries are
       * evicted (they load again from Redis when needed): bounds the job's memory.
       */
      cacheMaxEntries: positiveInt.default(2_000_000),
      /**
       * A user with no interaction for this long (event time) is new again on the next one; their
       * Redis key expires this plus a week after its last write. 0: user state never expires.
       */
      userIdleTtlMs: ms.default(IDLE_TTL.userIdleTtlMs),
      /**
       * Same for a content with no interaction, publication or tick update; must exceed
       * agents.content.maxHeatingAgeMs (a content still heating is never reset). 0: never.
       */
      contentIdleTtlMs: ms.default(IDLE_TTL.contentIdleTtlMs),
    })
    .prefault({}),
  http: z
    .strictObject({
      /** Port of /metrics, /healthz and /readyz (0: any free port). */
      port: z.number().int().min(0).max(65535).default(9464),
      /** Bind address of /metrics, /healthz and /readyz (e.g. 127.0.0.1, or :: for IPv6). */
      host: z.string().min(1).default('0.0.0.0'),
    })
    .prefault({}),
  /** Wall-clock interval between checkpoints / commits / changelog flushes. */
  commitIntervalMs: ms.default(1000),
  /**
   * Under load a checkpoint round starts early, once this long after the previous one, when
   * enough interactions arrived that it costs at most 0.01 Redis calls per interaction: the
   * rankers' serving copy then lags by about this plus a round. 0: rounds only every interval.
   */
  commitMinIntervalMs: ms.default(100),
  /** SIGTERM: drain + final checkpoint must finish within this, then the process exits. */
  shutdownTimeoutMs: ms.default(25_000),
  watermark: z
    .strictObject({
      /** Event-time out-of-orderness tolerated before the watermark passes a record. */
      outOfOrdernessMs: ms.default(5_000),
      /** Extra lateness still accepted after the watermark; beyond it a record goes to the late side output. */
      allowedLatenessMs: ms.default(5_000),
      /**
       * A source partition at its end (confirmed with the broker's end offset) this long is idle:
       * its watermark may then be advanced, up to `idleMaxLagMs` behind the interaction sources.
       */
      idleTimeoutMs: ms.default(2_000),
      /**
       * How far an idle source may hold the content stage back, behind the highest interaction
       * watermark. A record appended later to an idle partition is late only if it is further
       * behind than this (plus allowed lateness); with every source idle nothing advances.
       */
      idleMaxLagMs: ms.default(INPUT_BOUNDS.idleMaxLagMs),
      /**
       * No record may move its partition's watermark more than this ahead of the later of the
       * partition's highest event time and the record's Kafka timestamp (processing time).
       */
      maxAheadMs: ms.default(INPUT_BOUNDS.maxAheadMs),
      /** A record beyond `maxAheadMs`: `dlq` (EVENT_TIME_AHEAD) or `clamp` (event time set to the bound). */
      aheadPolicy: z.enum(['dlq', 'clamp']).default(INPUT_BOUNDS.aheadPolicy),
    })
    .prefault({}),
  /** Event-time length of one allocation tick. */
  tickMs: positiveInt.default(60_000),
  /** Seed of every random draw (keyed by content and tick): same input and seed, same outputs. */
  seed: z.number().int().default(42),
  /** Agent rules (SPEC §3 constants): agents/config.ts. */
  agents: agentConfigSchema.prefault({}),
  /** Learning (scorer choice, model version, backend, PPO, LLM): learn/config.ts. */
  learn: learnConfigSchema.prefault({}),
  /** Level of the JSON logs (pino). */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Source revision in thermostat_build_info (the container image bakes it in from its REVISION
   * build argument). Unset: git's HEAD in a checkout, else "unknown".
   */
  revision: z.string().min(1).optional(),
});

export type RuntimeConfig = z.infer<typeof runtimeConfigSchema>;

/** Environment variables and the dotted config key each one sets. */
export const ENV_KEYS: Record<
  string,
  { key: string; type: 'string' | 'lowercase' | 'int' | 'float' | 'bool' | 'json' }
> = {
  THERMOSTAT_APP_ID: { key: 'appId', type: 'string' },
  THERMOSTAT_TOPIC_PREFIX: { key: 'topicPrefix', type: 'string' },
  KAFKA_BROKERS: { key: 'kafka.brokers', type: 'string' },
  THERMOSTAT_BATCH_SIZE: { key: 'kafka.batchSize', type: 'int' },
  THERMOSTAT_WATERMARK_OUT_OF_ORDERNESS_MS: { key: 'watermark.outOfOrdernessMs', type: 'int' },
  THERMOSTAT_WATERMARK_ALLOWED_LATENESS_MS: { key: 'watermark.allowedLatenessMs', type: 'int' },
  THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: { key: 'watermark.idleTimeoutMs', type: 'int' },
  THERMOSTAT_WATERMARK_IDLE_MAX_LAG_MS: { key: 'watermark.idleMaxLagMs', type: 'int' },
  THERMOSTAT_WATERMARK_MAX_AHEAD_MS: { key: 'watermark.maxAheadMs', type: 'int' },
  THERMOSTAT_WATERMARK_AHEAD_POLICY: { key: 'watermark.aheadPolicy', type: 'string' },
  THERMOSTAT_MAX_RECORD_BYTES: { key: 'kafka.maxRecordBytes', type: 'int' },
  THERMOSTAT_PARTITION_MISMATCH: { key: 'kafka.partitionMismatch', type: 'string' },
  THERMOSTAT_MAX_PARKED_RECORDS: { key: 'redis.maxParkedRecords', type: 'int' },
  THERMOSTAT_DEGRADED_READY_LIMIT_MS: { key: 'redis.degradedReadyLimitMs', type: 'int' },
  THERMOSTAT_MAX_QUEUED_ENTRIES: { key: 'redis.maxQueuedEntries', type: 'int' },
  THERMOSTAT_MAX_DIRTY_BEFORE_CHECKPOINT: { key: 'state.maxDirtyBeforeCheckpoint', type: 'int' },
  THERMOSTAT_CACHE_MAX_ENTRIES: { key: 'state.cacheMaxEntries', type: 'int' },
  THERMOSTAT_USER_IDLE_TTL_MS: { key: 'state.userIdleTtlMs', type: 'int' },
  THERMOSTAT_CONTENT_IDLE_TTL_MS: { key: 'state.contentIdleTtlMs', type: 'int' },
  THERMOSTAT_KAFKA_RDKAFKA: { key: 'kafka.rdkafka', type: 'json' },
  THERMOSTAT_INPUT_PARTITIONS: { key: 'kafka.inputPartitions', type: 'int' },
  THERMOSTAT_INSTANCE_ID: { key: 'kafka.instanceId', type: 'string' },
  THERMOSTAT_REPLICATION_FACTOR: { key: 'kafka.replicationFactor', type: 'int' },
  SCHEMA_REGISTRY_URL: { key: 'schemaRegistryUrl', type: 'string' },
  SCHEMA_REGISTRY_MODE: { key: 'schemaRegistry.mode', type: 'string' },
  SCHEMA_REGISTRY_USERNAME: { key: 'schemaRegistry.auth.username', type: 'string' },
  SCHEMA_REGISTRY_PASSWORD: { key: 'schemaRegistry.auth.password', type: 'string' },
  SCHEMA_REGISTRY_BEARER_TOKEN: { key: 'schemaRegistry.auth.bearerToken', type: 'string' },
  SCHEMA_REGISTRY_LOGICAL_CLUSTER: { key: 'schemaRegistry.auth.logicalCluster', type: 'string' },
  SCHEMA_REGISTRY_IDENTITY_POOL_ID: { key: 'schemaRegistry.auth.identityPoolId', type: 'string' },
  REDIS_URL: { key: 'redis.url', type: 'string' },
  REDIS_USERNAME: { key: 'redis.username', type: 'string' },
  REDIS_PASSWORD: { key: 'redis.password', type: 'string' },
  REDIS_SENTINEL_PASSWORD: { key: 'redis.sentinelPassword', type: 'string' },
  REDIS_MIN_REPLICA_ACKS: { key: 'redis.minReplicaAcks', type: 'int' },
  REDIS_REPLICA_ACK_TIMEOUT_MS: { key: 'redis.replicaAckTimeoutMs', type: 'int' },
  REDIS_CONNECT_TIMEOUT_MS: { key: 'redis.connectTimeoutMs', type: 'int' },
  THERMOSTAT_HTTP_PORT: { key: 'http.port', type: 'int' },
  THERMOSTAT_HTTP_HOST: { key: 'http.host', type: 'string' },
  THERMOSTAT_COMMIT_INTERVAL_MS: { key: 'commitIntervalMs', type: 'int' },
  THERMOSTAT_COMMIT_MIN_INTERVAL_MS: { key: 'commitMinIntervalMs', type: 'int' },
  THERMOSTAT_SHUTDOWN_TIMEOUT_MS: { key: 'shutdownTimeoutMs', type: 'int' },
  THERMOSTAT_TICK_MS: { key: 'tickMs', type: 'int' },
  THERMOSTAT_SEED: { key: 'seed', type: 'int' },
  THERMOSTAT_LOG_LEVEL: { key: 'logLevel', type: 'string' },
  THERMOSTAT_REVISION: { key: 'revision', type: 'string' },
  THERMOSTAT_TF_BACKEND: { key: 'learn.backend', type: 'lowercase' },
  THERMOSTAT_SCORER: { key: 'learn.scorer', type: 'string' },
  THERMOSTAT_MODEL_SEQ: { key: 'learn.modelSeq', type: 'int' },
  THERMOSTAT_SCORER_WORKERS: { key: 'learn.scorerWorkers', type: 'int' },
  THERMOSTAT_LEARN_SEED: { key: 'learn.seed', type: 'int' },
  THERMOSTAT_PPO_ENTROPY_COEF: { key: 'learn.ppo.entropyCoef', type: 'float' },
  THERMOSTAT_PPO_LEARNING_RATE: { key: 'learn.ppo.learningRate', type: 'float' },
  THERMOSTAT_LEARN_ONLINE: { key: 'learn.online.enabled', type: 'bool' },
  THERMOSTAT_LEARN_WARMUP_MS: { key: 'learn.online.warmupMs', type: 'int' },
  THERMOSTAT_LEARN_RULE_HOLDOUT: { key: 'learn.online.ruleHoldout', type: 'float' },
  THERMOSTAT_LEARN_MIN_BATCH: { key: 'learn.trainer.minBatch', type: 'int' },
  THERMOSTAT_LLM_ENABLED: { key: 'learn.llm.enabled', type: 'bool' },
  THERMOSTAT_LLM_URL: { key: 'learn.llm.url', type: 'string' },
  THERMOSTAT_LLM_MODEL: { key: 'learn.llm.model', type: 'string' },
  THERMOSTAT_LLM_API_KEY: { key: 'learn.llm.apiKey', type: 'string' },
  THERMOSTAT_LLM_TIMEOUT_MS: { key: 'learn.llm.timeoutMs', type: 'int' },
  THERMOSTAT_LLM_INTERVAL_MS: { key: 'learn.llm.intervalMs', type: 'int' },
};

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = value;
}

/** Turns environment variables into a partial config object; a malformed value names the variable. */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, { key, type }] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (type === 'int') {
      if (!/^-?\d+$/.test(raw.trim()))
        throw new ConfigError(`${key} (env ${name})`, `expected an integer, got "${raw}"`);
      value = Number(raw);
    } else if (type === 'float') {
      value = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(value))
        throw new ConfigError(`${key} (env ${name})`, `expected a number, got "${raw}"`);
    } else if (type === 'bool') {
      if (!/^(true|false|1|0)$/i.test(raw.trim()))
        throw new ConfigError(`${key} (env ${name})`, `expected true|false, got "${raw}"`);
      value = /^(true|1)$/i.test(raw.trim());
    } else if (type === 'lowercase') {
      value = raw.trim().toLowerCase();
    } else if (type === 'json') {
      try {
        value = JSON.parse(raw);
      } catch (e) {
        throw new ConfigError(`${key} (env ${name})`, `expected JSON: ${(e as Error).message}`);
      }
    }
    setPath(out, key, value);
  }
  return out;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      prev &&
      typeof prev === 'object' &&
      !Array.isArray(prev)
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  file?: string;
  /** Below the file and the environment (an embedding's own defaults, e.g. the simulator's). */
  base?: Record<string, unknown>;
  /** Above every source. */
  overrides?: Record<string, unknown>;
}

/** A validated configuration, and which keys its sources set (the others are defaults). */
export interface LoadedConfig {
  config: RuntimeConfig;
  /** Whether a source (file, environment, overrides) set this dotted key. */
  isSet(key: string): boolean;
}

/** Room left in a producer message for what the job adds to an input-sized payload (headers, envelope). */
export const OUTPUT_OVERHEAD_BYTES = 65_536;

/**
 * Every record the job writes because of an input record (forward, DLQ copy) is at most about
 * kafka.maxRecordBytes: a producer limit set below that would turn such a record into a lost
 * output (exit 70, the same on every restart). Refused at start, naming both settings.
 */
export function assertOutputsFit(cfg: RuntimeConfig): void {
  const limit = Number(cfg.kafka.rdkafka['message.max.bytes'] ?? 1_000_000);
  if (cfg.kafka.maxRecordBytes + OUTPUT_OVERHEAD_BYTES > limit)
    throw new ConfigError(
      'kafka.maxRecordBytes',
      `${cfg.kafka.maxRecordBytes} leaves less than ${OUTPUT_OVERHEAD_BYTES} bytes below the producer's message.max.bytes (${limit}, kafka.rdkafka): lower it or raise message.max.bytes`,
    );
}

/** A content reset while it may still heat would lose its heating history: refused at start. */
export function assertIdleTtlFits(cfg: RuntimeConfig): void {
  const ttl = cfg.state.contentIdleTtlMs;
  if (ttl > 0 && ttl <= cfg.agents.content.maxHeatingAgeMs)
    throw new ConfigError(
      'state.contentIdleTtlMs',
      `${ttl} must exceed agents.content.maxHeatingAgeMs (${cfg.agents.content.maxHeatingAgeMs}), or be 0 (never)`,
    );
}

export function loadConfig(opts: LoadConfigOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.THERMOSTAT_CONFIG;
  let fromFile: Record<string, unknown> = {};
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ConfigError('THERMOSTAT_CONFIG', `cannot read ${file}: ${(e as Error).message}`);
    }
  }
  const fromEnv = configFromEnv(env);
  const overrides = opts.overrides ?? {};
  const merged = deepMerge(deepMerge(deepMerge(opts.base ?? {}, fromFile), fromEnv), overrides);
  let config: RuntimeConfig;
  try {
    config = parseWithSchema(runtimeConfigSchema, merged);
  } catch (e) {
    throw namingEnv(e, fromEnv, overrides);
  }
  const isSet = (key: string): boolean => hasPath(merged, key);
  // The learner's seed follows the job's unless set on its own.
  if (!isSet('learn.seed')) config.learn.seed = config.seed;
  assertOutputsFit(config);
  assertIdleTtlFits(config);
  return { config, isSet };
}

/** A bad value that came from an environment variable: the error names the variable too. */
function namingEnv(
  e: unknown,
  fromEnv: Record<string, unknown>,
  overrides: Record<string, unknown>,
): unknown {
  if (!(e instanceof ConfigError) || e.key === undefined) return e;
  const key = e.key;
  const name = Object.keys(ENV_KEYS).find((n) => ENV_KEYS[n].key === key);
  if (name === undefined || !hasPath(fromEnv, key) || hasPath(overrides, key)) return e;
  return new ConfigError(`${key} (env ${name})`, e.message.replace(/^invalid configuration [^:]+: /, ''));
}

function hasPath(obj: Record<string, unknown>, dotted: string): boolean {
  let cur: unknown = obj;
  for (const p of dotted.split('.')) {
    if (typeof cur !== 'object' || cur === null || !(p in cur)) return false;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur !== undefined;
}

export function loadRuntimeConfig(opts: LoadConfigOptions = {}): RuntimeConfig {
  return loadConfig(opts).config;
}
