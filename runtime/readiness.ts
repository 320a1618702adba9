// /readyz for the running job. A Redis blip must not mark every pod NotReady: while Redis is
// unreachable, checkpoints are failing or queued up, or records are parked, the job keeps
// processing what it can and answers "ready (degraded: ...)" (200, thermostat_degraded 1). Only a
// degradation that lasts past redis.degradedReadyLimitMs turns readiness off (503).
import type { Clock } from '../core/clock.js';
import type { Readiness } from '../io/http.js';
import type { Health } from '../state/write-behind.js';

export class DegradedReadiness {
  private since: number | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly limitMs: number,
  ) {}

  check(o: { starting: string | null; health: Health; parked: number }): Readiness {
    if (o.starting !== null) return { ready: false, reason: o.starting };
    const troubled = !o.health.ready || o.health.degraded || o.parked > 0;
    if (!troubled) {
      this.since = null;
      return { ready: true };
    }
    const now = this.clock.now();
    this.since ??= now;
    const reasons = [];
    if (!o.health.ready || o.health.degraded) reasons.push(o.health.reason);
    if (o.parked > 0) reasons.push(`${o.parked} records parked until their state loads`);
    const reason = reasons.join('; ');
    const lasted = now - this.since;
    if (lasted > this.limitMs)
      return {
        ready: false,
        degraded: true,
        reason: `degraded for ${Math.round(lasted / 1000)} s (over redis.degradedReadyLimitMs): ${reason}`,
      };
    return { ready: true, degraded: true, reason };
  }
}
