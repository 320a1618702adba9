// Reward weights from an OpenAI-compatible chat-completions endpoint (SPEC §3, optional).
//
// Safety: the model's text is data, never code. The HTTP envelope is JSON.parse'd and checked with
// a schema; the message content goes ONLY to agents/reward-weights.ts parseRewardWeightsFromText
// (JSON extraction + zod schema + bounds + sum check). Nothing is eval'd, Function()'d or imported.
// Failure handling: a request timeout (AbortController, covering headers AND body), a circuit
// breaker (opossum) that opens after `failureThreshold` consecutive failures and half-opens after
// `resetTimeoutMs`; on any failure the last good weights stay in force, the failure is counted in
// thermostat_reward_weights_rejected_total{source="llm"} and logged with its reason. Calls refused
// while the breaker is open are not LLM answers: they are logged, not counted.
import CircuitBreaker from 'opossum';
import { z } from 'zod';
import { parseRewardWeightsFromText } from '../agents/reward-weights.js';
import { ThermostatError } from '../core/errors.js';
import { LOG_EVENTS, silentLogger, type Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { BusinessObjectives, RewardWeights } from '../schemas/types.js';

export interface LlmWeightsConfig {
  /** Chat-completions URL, or an API base (".../v1") to which "/chat/completions" is appended. */
  url: string;
  model: string;
  /** Sent as "Authorization: Bearer <apiKey>" when set. Never logged. */
  apiKey?: string;
  /** Whole request (connect, headers, body) must finish within this. */
  timeoutMs: number;
  /** Refresh period of start(). */
  intervalMs: number;
  /** Consecutive failures that open the breaker. */
  failureThreshold: number;
  /** Open breaker → half-open (one trial call) after this. */
  resetTimeoutMs: number;
  /** Longest accepted message content, characters. */
  maxContentChars: number;
  /** Longest accepted response body, bytes: read as it streams in, the request aborted past it. */
  maxBodyBytes: number;
}

export const DEFAULT_LLM_WEIGHTS_CONFIG: Omit<LlmWeightsConfig, 'url' | 'model'> = {
  timeoutMs: 10_000,
  intervalMs: 5 * 60_000,
  failureThreshold: 3,
  resetTimeoutMs: 60_000,
  maxContentChars: 16_384,
  maxBodyBytes: 262_144,
};

export type LlmRefreshResult =
  | { ok: true; weights: RewardWeights }
  | {
      ok: false;
      reason: string;
      shortCircuited: boolean;
      /** rejected: the endpoint answered but not with valid weights; failed: HTTP error, timeout, network. */
      kind?: 'rejected' | 'failed';
    };

const envelopeSchema = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable().optional() }) })).min(1),
});

export function chatCompletionsUrl(url: string): string {
  return /\/chat\/completions\/?$/.test(url) ? url : url.replace(/\/+$/, '') + '/chat/completions';
}

/**
 * The response body as text, read chunk by chunk and given up (request aborted) as soon as it
 * passes `max` bytes, so an endpoint answering with an endless or huge body costs at most `max`.
 */
async function readBodyLimited(res: Response, max: number, ac: AbortController): Promise<string> {
  const tooLarge = (n: number | string) =>
    new ThermostatError('LLM_OUTPUT', `LLM response body too large (${n} bytes > ${max})`);
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    ac.abort();
    throw tooLarge(declared);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      ac.abort();
      await reader.cancel().catch(() => undefined);
      throw tooLarge(`over ${size - value.byteLength}`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The prompt: the objectives as data, and the one JSON shape we accept back. */
export function buildPrompt(
  o: BusinessObjectives,
  current: RewardWeights,
): { role: 'system' | 'user'; content: string }[] {
  const objectives = {
    gmv_target: o.gmv_target,
    retention_target: o.retention_target,
    diversity_target: o.diversity_target,
    heating_budget_pool: o.heating_budget_pool,
    heating_cap_ratio: o.heating_cap_ratio ?? 0.2,
  };
  return [
    {
      role: 'system',
      content:
        'You set reward weights for the heating allocator of a recommender system (boosted exposure for new and ' +
        'under-exposed content). user_satisfaction rewards clicks and completions of heated content, platform_revenue ' +
        'rewards clicks (GMV), long_term rewards completions and shares (retention, interest diversity). ' +
        'Reply with ONLY one JSON object, no prose, no code: ' +
        '{"user_satisfaction": <number>, "platform_revenue": <number>, "long_term": <number>}; each number in [0, 1], ' +
        'the three summing to 1.',
    },
    {
      role: 'user',
      content: `Business objectives (JSON data): ${JSON.stringify(objectives)}\nWeights in force now: ${JSON.stringify(current)}\nReturn the weights that best serve these objectives.`,
    },
  ];
}

export interface LlmWeightsDeps {
  initial: RewardWeights;
  logger?: Logger;
  metrics?: Pick<Metrics, 'rewardWeightsRejected'>;
  fetchImpl?: typeof fetch;
}

export class LlmRewardWeightsProvider {
  readonly cfg: LlmWeightsConfig;
  private good: RewardWeights;
  private consecutiveFailures = 0;
  private readonly breaker: CircuitBreaker<[BusinessObjectives], RewardWeights>;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<LlmRefreshResult> | null = null;
  /** Failures counted (same as the metric increments), for tests and /readyz details. */
  rejected = 0;
  lastReason: string | null = null;

  constructor(
    cfg: Pick<LlmWeightsConfig, 'url' | 'model'> & Partial<LlmWeightsConfig>,
    private readonly deps: LlmWeightsDeps,
  ) {
    this.cfg = { ...DEFAULT_LLM_WEIGHTS_CONFIG, ...cfg };
    this.good = { ...deps.initial };
    this.log = deps.logger ?? silentLogger;
    this.breaker = new CircuitBreaker((o: BusinessObjectives) => this.request(o), {
      timeout: false, // our AbortController times out the request and the body read
      resetTimeout: this.cfg.resetTimeoutMs,
      errorThresholdPercentage: 100, // never opens by percentage; see consecutive count below
      enableSnapshots: false,
      name: 'llm-reward-weights',
    });
  }

  /** The weights in force: the last good LLM answer, or the initial ones. */
  get weights(): RewardWeights {
    return { ...this.good };
  }

  get breakerState(): 'closed' | 'open' | 'halfOpen' {
    return this.breaker.opened ? 'open' : this.breaker.halfOpen ? 'halfOpen' : 'closed';
  }

  /** Asks the LLM once (unless the breaker is open). Never throws. */
  async refresh(objectives: BusinessObjectives): Promise<LlmRefreshResult> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = this.doRefresh(objectives).finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async doRefresh(objectives: BusinessObjectives): Promise<LlmRefreshResult> {
    if (this.breaker.opened) {
      this.log.debug(
        { event: LOG_EVENTS.weightsRejected, source: 'llm' },
        'LLM breaker open: keeping last good weights',
      );
      return { ok: false, reason: 'circuit breaker open', shortCircuited: true };
    }
    try {
      const w = await this.breaker.fire(objectives);
      this.consecutiveFailures = 0;
      this.good = w;
      return { ok: true, weights: { ...w } };
    } catch (e) {
      const err = e as Error & { code?: string };
      if (err.code === 'EOPENBREAKER')
        return { ok: false, reason: 'circuit breaker open', shortCircuited: true };
      const reason = err.message;
      this.rejected++;
      this.lastReason = reason;
      this.deps.metrics?.rewardWeightsRejected.inc({ source: 'llm' });
      this.log.warn(
        { event: LOG_EVENTS.weightsRejected, source: 'llm', reason },
        'LLM reward weights rejected: keeping last good weights',
      );
      if (++this.consecutiveFailures >= this.cfg.failureThreshold && !this.breaker.opened)
        this.breaker.open();
      const kind = e instanceof ThermostatError && e.reason === 'LLM_OUTPUT' ? 'rejected' : 'failed';
      return { ok: false, reason, shortCircuited: false, kind };
    }
  }

  private async request(objectives: BusinessObjectives): Promise<RewardWeights> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.cfg.timeoutMs);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.cfg.apiKey) headers.authorization = `Bearer ${this.cfg.apiKey}`;
    let text: string;
    let status: number;
    try {
      const res = await (this.deps.fetchImpl ?? fetch)(chatCompletionsUrl(this.cfg.url), {
        method: 'POST',
        headers,
        body: JSON.stringify({
          model: this.cfg.model,
          temperature: 0,
          messages: buildPrompt(objectives, this.good),
        }),
        signal: ac.signal,
      });
      status = res.status;
      text = await readBodyLimited(res, this.cfg.maxBodyBytes, ac);
    } catch (e) {
      if (e instanceof ThermostatError) throw e;
      if (ac.signal.aborted)
        throw new ThermostatError('DEPENDENCY', `LLM request timed out after ${this.cfg.timeoutMs} ms`, {
          retriable: true,
        });
      throw new ThermostatError('DEPENDENCY', `LLM request failed: ${(e as Error).message}`, {
        retriable: true,
        cause: e,
      });
    } finally {
      clearTimeout(timer);
    }
    if (status < 200 || status >= 300)
      throw new ThermostatError('DEPENDENCY', `LLM endpoint answered HTTP ${status}`, {
        retriable: status >= 500 || status === 429,
      });
    let envelope: unknown;
    try {
      envelope = JSON.parse(text);
    } catch {
      throw new ThermostatError('LLM_OUTPUT', 'LLM response is not a chat-completions JSON body');
    }
    const env = envelopeSchema.safeParse(envelope);
    if (!env.success)
      throw new ThermostatError('LLM_OUTPUT', 'LLM response has no choices[0].message.content');
    const content = env.data.choices[0].message.content ?? '';
    if (content.length > this.cfg.maxContentChars)
      throw new ThermostatError('LLM_OUTPUT', `LLM content too long (${content.length} chars)`);
    const parsed = parseRewardWeightsFromText(content, true);
    if (!parsed.ok) throw new ThermostatError('LLM_OUTPUT', `LLM weights rejected: ${parsed.reason}`);
    return parsed.weights;
  }

  /** Refreshes now and every intervalMs while objectives are available (the timer is unref'd). */
  start(
    currentObjectives: () => BusinessObjectives | undefined,
    onWeights?: (w: RewardWeights) => void,
  ): void {
    if (this.timer) return;
    const tick = (): void => {
      const o = currentObjectives();
      if (!o) return;
      void this.refresh(o).then((r) => {
        if (r.ok) onWeights?.(r.weights);
      });
    };
    tick();
    this.timer = setInterval(tick, this.cfg.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.breaker.shutdown();
  }
}
