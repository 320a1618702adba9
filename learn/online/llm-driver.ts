// Drives the LLM reward-weights provider in the job: asks it every `intervalMs` and whenever the
// business objectives in force change (seen in the allocator's tick reports), and writes each
// accepted answer as a REWARD_WEIGHTS control record on the allocator's input log. The allocator
// applies it at its position in the log, so a replay uses the same weights from the same tick: an
// HTTP answer becomes part of the input only through that record. Rejected answers (schema,
// bounds, prose, code), HTTP errors, timeouts and an open breaker never produce a record; the
// weights in force stay (learn/llm-weights.ts validates, the allocator validates again).
import { LOG_EVENTS, silentLogger, type Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { Timers } from '../../core/timers.js';
import type { AllocatorControlSink } from '../../pipelines/allocator-control.js';
import type { TickReport } from '../../pipelines/allocator-task.js';
import type { BusinessObjectives, RewardWeights } from '../../schemas/types.js';
import type { LlmRefreshResult, LlmRewardWeightsProvider } from '../llm-weights.js';

/** The driver's schedule: only intervals. */
export type LlmDriverTimers = Pick<Timers, 'setInterval' | 'clearInterval'>;

/** Real intervals that do not keep the process alive on their own. */
const realTimers: LlmDriverTimers = {
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export interface LlmDriverOptions {
  control: AllocatorControlSink;
  intervalMs: number;
  log?: Logger;
  metrics?: Pick<Metrics, 'llmCalls'>;
  timers?: LlmDriverTimers;
  now?: () => number;
}

const sameWeights = (a: RewardWeights, b: RewardWeights): boolean =>
  a.user_satisfaction === b.user_satisfaction &&
  a.platform_revenue === b.platform_revenue &&
  a.long_term === b.long_term;

export class LlmWeightsDriver {
  private objectives: BusinessObjectives | null = null;
  private inForce: RewardWeights | null = null;
  private timer: unknown = null;
  private inFlight: Promise<LlmRefreshResult | null> | null = null;
  private readonly log: Logger;
  /** Control records written (accepted answers that changed the weights). */
  sent = 0;

  constructor(
    private readonly provider: LlmRewardWeightsProvider,
    private readonly o: LlmDriverOptions,
  ) {
    this.log = o.log ?? silentLogger;
  }

  /** The allocator ran a tick: remember the objectives in force; ask again when they changed. */
  onTick(r: TickReport): void {
    this.inForce = r.weights;
    const changed = r.objectives !== null && r.objectives.objective_id !== this.objectives?.objective_id;
    if (r.objectives) this.objectives = r.objectives;
    if (changed) void this.refresh();
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = (this.o.timers ?? realTimers).setInterval(() => void this.refresh(), this.o.intervalMs);
  }

  stop(): void {
    if (this.timer !== null) (this.o.timers ?? realTimers).clearInterval(this.timer);
    this.timer = null;
    this.provider.stop();
  }

  /** One request (nothing before the allocator reported objectives); a call in flight is shared. */
  refresh(): Promise<LlmRefreshResult | null> {
    this.inFlight ??= this.ask().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async ask(): Promise<LlmRefreshResult | null> {
    const objectives = this.objectives;
    if (!objectives) return null;
    const r = await this.provider.refresh(objectives);
    const result = r.ok ? 'accepted' : r.shortCircuited ? 'short_circuited' : (r.kind ?? 'failed');
    this.o.metrics?.llmCalls.inc({ result });
    if (!r.ok || (this.inForce && sameWeights(r.weights, this.inForce))) return r;
    try {
      await this.o.control.send({
        kind: 'REWARD_WEIGHTS',
        seq: 0,
        policy: 'RULE',
        model_version: '',
        model_blob: null,
        reward_weights: { ...r.weights },
        reason: `llm:${objectives.objective_id}`,
        issued_at: (this.o.now ?? Date.now)(),
      });
      this.sent++;
      this.log.info(
        {
          event: LOG_EVENTS.weightsAccepted,
          source: 'llm',
          weights: r.weights,
          objectives: objectives.objective_id,
        },
        'LLM reward weights accepted: sent to the allocator',
      );
    } catch (e) {
      this.log.warn(
        { event: LOG_EVENTS.weightsRejected, source: 'llm', err: e },
        'LLM weights not delivered',
      );
    }
    return r;
  }
}
