// Helpers for Kafka integration tests: unique names per run (reruns never see old records) and a
// consume-until-count loop with a deadline.
import { randomBytes } from 'node:crypto';
import type { KafkaSource, SourceRecord } from '../../io/kafka.js';

const run = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

/** A topic or group name unique to this test process. */
export const uniqueName = (prefix: string): string => `it-${prefix}-${run}`;

/** Polls until `count` records arrived or `timeoutMs` passed; returns what arrived. */
export async function consumeN(
  source: KafkaSource,
  count: number,
  timeoutMs = 30_000,
): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    const batch = await source.poll(Math.min(5000, count - out.length), 200);
    for (const r of batch) out.push(r);
  }
  return out;
}
