// INFO commandstats snapshots and deltas (commands Redis executed between two snapshots).
import type { Redis } from 'ioredis';

export async function commandStats(r: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await r.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

const IGNORED = new Set([
  'info',
  'ping',
  'hello',
  'client|setinfo',
  'select',
  'client|setname',
  'config|get',
]);

/** Commands executed between the snapshots (the admin client's own INFO/PING left out). */
export function statDelta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of after) {
    if (IGNORED.has(k)) continue;
    const x = v - (before.get(k) ?? 0);
    if (x > 0) d[k] = x;
  }
  return d;
}
