// Every Prometheus metric the job exports, declared once. Naming: `thermostat_` prefix, base units
// (seconds, bytes), `_total` for counters. Labels are bounded (topic, stage, reason, backend...):
// never a user or content id (SPEC §6). The Grafana dashboard in helm/ queries these names;
// docs/METRICS.md is generated from this file (npm run gen:metrics-doc).
// prom-client's default Node.js process metrics (process_*, nodejs_*) keep their stock names,
// without the prefix, so the usual Node.js dashboards and alerts work on them unchanged.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { buildInfo, type BuildInfo } from './build-info.js';

export function createMetrics(
  register = new Registry(),
  opts: { defaultMetrics?: boolean; build?: BuildInfo } = {},
) {
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register });
  const build = opts.build ?? buildInfo();
  // Produced records are counted once per record on the hot path, where prom-client's inc (label
  // hashing per call) cost ≈ 2 % of the job's CPU: they are tallied per stage and topic in plain
  // maps and added to the counter whenever it is read (scrape or get), so every read is exact.
  const outTallies = new Map<string, Map<string, number>>();
  const m = {
    register,
    buildInfo: new Gauge({
      name: 'thermostat_build_info',
      help: 'Always 1; the labels name the running build (package version, source revision, Node.js version).',
      labelNames: ['version', 'revision', 'node_version'],
      registers: [register],
    }),
    recordsIn: new Counter({
      name: 'thermostat_records_in_total',
      help: 'Records consumed, per topic and stage.',
      labelNames: ['topic', 'stage'],
      registers: [register],
    }),
    recordsOut: new Counter({
      name: 'thermostat_records_out_total',
      help: 'Records produced, per topic and stage.',
      labelNames: ['topic', 'stage'],
      registers: [register],
      collect() {
        for (const [stage, byTopic] of outTallies) {
          for (const [topic, n] of byTopic) if (n > 0) this.inc({ topic, stage }, n);
          byTopic.clear();
        }
      },
    }),
    /** The tally of `stage`'s produced records per topic, added to `recordsOut` when it is read. */
    recordsOutTally(stage: string): Map<string, number> {
      let byTopic = outTallies.get(stage);
      if (byTopic === undefined) outTallies.set(stage, (byTopic = new Map()));
      return byTopic;
    },
    dlqRecords: new Counter({
      name: 'thermostat_dlq_records_total',
      help: 'Records sent to a dead-letter queue, per source topic and reason.',
      labelNames: ['topic', 'reason'],
      registers: [register],
    }),
    misroutedRecords: new Counter({
      name: 'thermostat_misrouted_records_total',
      help: 'Input records in a partition their id does not hash to (murmur2, the Java default partitioner): re-routed to the owning task, or sent to the DLQ (kafka.partitionMismatch).',
      labelNames: ['topic', 'action'],
      registers: [register],
    }),
    parkedRecords: new Gauge({
      name: 'thermostat_parked_records',
      help: 'Records held back while Redis cannot load the state they need (other keys keep moving), per stage.',
      labelNames: ['stage'],
      registers: [register],
    }),
    lateRecords: new Counter({
      name: 'thermostat_late_records_total',
      help: 'Records behind the watermark beyond allowed lateness (sent to the late side output).',
      labelNames: ['stage'],
      registers: [register],
    }),
    processingLatency: new Histogram({
      name: 'thermostat_processing_latency_seconds',
      help: 'Wall time from a record being fetched to its batch being processed, per stage.',
      labelNames: ['stage'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [register],
    }),
    eventLatency: new Histogram({
      name: 'thermostat_event_latency_seconds',
      help: "Wall time from a record's produce timestamp to the output it caused.",
      labelNames: ['stage'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [register],
    }),
    consumerLag: new Gauge({
      name: 'thermostat_consumer_lag_records',
      help: 'Records behind the partition end, summed per stage.',
      labelNames: ['stage'],
      registers: [register],
    }),
    heatedShare: new Gauge({
      name: 'thermostat_heated_share_ratio',
      help: 'Heated impressions / all impressions in the rolling window.',
      registers: [register],
    }),
    heatingCap: new Gauge({
      name: 'thermostat_heating_cap_ratio',
      help: 'Cap on the heated share in force: business-objectives heating_cap_ratio, else the configured agents.system.heatingCap.',
      registers: [register],
    }),
    heatingCapBinding: new Gauge({
      name: 'thermostat_heating_cap_binding',
      help: '1 when the last allocation tick wanted more heated impressions than the cap allowed (demand above cap capacity, the pool not the limit); 0 otherwise.',
      registers: [register],
    }),
    budgetPoolRemaining: new Gauge({
      name: 'thermostat_budget_pool_remaining_impressions',
      help: 'Heating impressions left in the current budget period.',
      registers: [register],
    }),
    allocations: new Counter({
      name: 'thermostat_allocations_total',
      help: 'Heating allocations emitted, per policy.',
      labelNames: ['policy'],
      registers: [register],
    }),
    allocatedImpressions: new Counter({
      name: 'thermostat_allocated_impressions_total',
      help: 'Heated impressions granted.',
      registers: [register],
    }),
    unjoinedDeliveries: new Counter({
      name: 'thermostat_unjoined_heated_impressions_total',
      help: 'Heated impressions reported for an allocation the allocator no longer tracks (reported later than agents.system.deliveryGraceMs after it expired); never refunded. Rising: raise the grace.',
      registers: [register],
    }),
    allocationTicks: new Counter({
      name: 'thermostat_allocation_ticks_total',
      help: 'Allocation ticks run.',
      registers: [register],
    }),
    clearingPrice: new Gauge({
      name: 'thermostat_clearing_score',
      help: 'Lowest approved normalised score in the last tick (rises when the cap binds).',
      registers: [register],
    }),
    heatingRequests: new Counter({
      name: 'thermostat_heating_requests_total',
      help: 'Heating requests made by content agents.',
      registers: [register],
    }),
    flaggedContent: new Counter({
      name: 'thermostat_cheating_flagged_total',
      help: 'Contents flagged by anti-cheat.',
      registers: [register],
    }),
    newContentCtr: new Gauge({
      name: 'thermostat_new_content_ctr_ratio',
      help: 'CTR of new content over the last tick.',
      registers: [register],
    }),
    checkpoints: new Counter({
      name: 'thermostat_checkpoints_total',
      help: 'Checkpoints written, per outcome (ok, failed, fenced).',
      labelNames: ['outcome'],
      registers: [register],
    }),
    checkpointsSkipped: new Counter({
      name: 'thermostat_checkpoints_skipped_total',
      help: 'Checkpoints not written: no changed entry, same metadata and offsets as the previous one.',
      registers: [register],
    }),
    checkpointRounds: new Counter({
      name: 'thermostat_checkpoint_rounds_total',
      help: 'Checkpoint rounds started, per trigger: interval (the commit timer), dirty (a task over state.maxDirtyBeforeCheckpoint), busy (commitMinIntervalMs under load).',
      labelNames: ['trigger'],
      registers: [register],
    }),
    checkpointAge: new Gauge({
      name: 'thermostat_checkpoint_age_seconds',
      help: 'Seconds since the oldest task last checkpointed successfully.',
      registers: [register],
    }),
    checkpointQueued: new Gauge({
      name: 'thermostat_checkpoint_queued_entries',
      help: 'State entries waiting to be written to Redis.',
      registers: [register],
    }),
    redisErrors: new Counter({
      name: 'thermostat_redis_errors_total',
      help: 'Redis command failures.',
      registers: [register],
    }),
    redisCommands: new Counter({
      name: 'thermostat_redis_commands_total',
      help: 'Redis commands sent by the state layer.',
      registers: [register],
    }),
    fencedWrites: new Counter({
      name: 'thermostat_fenced_writes_total',
      help: 'Writes rejected because a newer epoch or version holds the key.',
      registers: [register],
    }),
    stateEntries: new Gauge({
      name: 'thermostat_state_entries',
      help: 'Entries in local state caches, per store.',
      labelNames: ['store'],
      registers: [register],
    }),
    assignedPartitions: new Gauge({
      name: 'thermostat_assigned_partitions',
      help: 'Partitions assigned to this instance, per stage.',
      labelNames: ['stage'],
      registers: [register],
    }),
    ready: new Gauge({
      name: 'thermostat_ready',
      help: '1 when partitions are assigned and state restored; 0 otherwise.',
      registers: [register],
    }),
    degraded: new Gauge({
      name: 'thermostat_degraded',
      help: '1 while a dependency (Redis) is down and the job runs from local state.',
      registers: [register],
    }),
    backend: new Gauge({
      name: 'thermostat_tfjs_backend_info',
      help: 'TensorFlow.js backend of the learned allocation scorer (1 on the active backend label); no series with the rule scorer (the default).',
      labelNames: ['backend'],
      registers: [register],
    }),
    rewardWeightsRejected: new Counter({
      name: 'thermostat_reward_weights_rejected_total',
      help: 'Reward weights rejected (invalid JSON, schema, bounds), per source.',
      labelNames: ['source'],
      registers: [register],
    }),
    modelVersion: new Gauge({
      name: 'thermostat_model_version',
      help: 'Version (seq) of the learned allocation model live in the allocator; 0 while the rule scores (the default).',
      registers: [register],
    }),
    trainingSteps: new Counter({
      name: 'thermostat_training_steps_total',
      help: 'PPO gradient steps run by the online learner (learn/online/; 0 with learning off).',
      registers: [register],
    }),
    // Online learning (learn/online/): what the learner issued, refused and rolled back.
    modelsPublished: new Counter({
      name: 'thermostat_models_published_total',
      help: 'Model versions the online learner published to the allocator, per reason (warm_start, ppo_update, rollback).',
      labelNames: ['reason'],
      registers: [register],
    }),
    modelsRejected: new Counter({
      name: 'thermostat_models_rejected_total',
      help: 'Trained versions refused before publication, per reason (not_finite, approval_low, approval_high, publish_failed, train_failed).',
      labelNames: ['reason'],
      registers: [register],
    }),
    modelRollbacks: new Counter({
      name: 'thermostat_model_rollbacks_total',
      help: 'Live versions the guard rolled back to the last good one (or the rule), per reason (approval_collapse, reward_below_rule).',
      labelNames: ['reason'],
      registers: [register],
    }),
    modelLoadFailures: new Counter({
      name: 'thermostat_model_load_failures_total',
      help: 'Model versions the allocator could not load (blob_invalid, restore_missing, restore_failed); the rule scores instead.',
      labelNames: ['reason'],
      registers: [register],
    }),
    learnerExperiences: new Counter({
      name: 'thermostat_learner_experiences_total',
      help: 'Decisions settled into training experiences (reward joined by allocation_id after the delayed-reward window).',
      registers: [register],
    }),
    learnerMeanReward: new Gauge({
      name: 'thermostat_learner_mean_reward',
      help: 'Mean value (engagement per delivered heated impression minus the cost term) of the last settled granted allocations (up to 200), per deciding policy (RULE: the baseline the guard compares with).',
      labelNames: ['policy'],
      registers: [register],
    }),
    approvalRate: new Gauge({
      name: 'thermostat_approval_rate',
      help: 'Share of scored heating requests approved, over the last 500 scored rows, per deciding policy.',
      labelNames: ['policy'],
      registers: [register],
    }),
    policyEntropy: new Gauge({
      name: 'thermostat_policy_entropy_nats',
      help: "Mean Bernoulli entropy (nats) of the learned allocation policy over the last tick's scored requests.",
      registers: [register],
    }),
    llmCalls: new Counter({
      name: 'thermostat_llm_calls_total',
      help: 'LLM reward-weights requests, per result (accepted, rejected: an answer failing parse/schema/bounds, failed: HTTP error or timeout, short_circuited: breaker open, no request).',
      labelNames: ['result'],
      registers: [register],
    }),
  };
  m.buildInfo.set({ version: build.version, revision: build.revision, node_version: build.nodeVersion }, 1);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
