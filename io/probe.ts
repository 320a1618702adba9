// Start-up probes: fail fast, naming the address, when Kafka or Redis does not answer within a
// bound, instead of librdkafka / ioredis retrying in the background while nothing happens.
import rdkafka from '@confluentinc/kafka-javascript';
import type { IAdminClient } from '@confluentinc/kafka-javascript';
import { ThermostatError } from '../core/errors.js';
import { connectStateRedis, type RedisConnection } from '../state/redis-options.js';

export interface ProbeOptions {
  timeoutMs?: number;
  /** librdkafka properties (SASL/SSL...) the job itself would use. */
  rdkafka?: Record<string, string | number | boolean>;
}

/** Resolves once the brokers answer a metadata request; a DEPENDENCY error naming them otherwise. */
export async function probeBroker(brokers: string, o: ProbeOptions = {}): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const admin: IAdminClient = rdkafka.AdminClient.create({
    'bootstrap.servers': brokers,
    log_level: 0,
    ...o.rdkafka,
  } as never);
  try {
    await new Promise<void>((resolve, reject) =>
      admin.listTopics({ timeout: timeoutMs }, (err) => (err ? reject(err) : resolve())),
    );
  } catch (e) {
    throw new ThermostatError(
      'DEPENDENCY',
      `cannot reach Kafka at ${brokers} within ${timeoutMs / 1000} s (${(e as Error).message})`,
      { retriable: true, cause: e },
    );
  } finally {
    admin.disconnect();
  }
}

/**
 * Resolves once Redis answers PING (any topology of state/redis-url.ts). Otherwise rejects as the
 * job's own start does (state/redis-options.ts `connectStateRedis`): a DEPENDENCY error naming the
 * address when it does not answer within the bound, a ConfigError naming the key when it refuses
 * the credentials.
 */
export async function probeRedis(
  conn: RedisConnection | string,
  o: Pick<ProbeOptions, 'timeoutMs'> = {},
): Promise<void> {
  const redis = await connectStateRedis(conn, { connectTimeoutMs: o.timeoutMs ?? 3000 });
  try {
    await redis.ping();
  } finally {
    redis.disconnect();
  }
}
