// Structured JSON logs (pino). Event names are constants so dashboards and alerts can match them.
import { pino, type Logger } from 'pino';

export type { Logger };

/** `level`: config logLevel (THERMOSTAT_LOG_LEVEL). */
export function createLogger(level = 'info', name = 'thermostat'): Logger {
  return pino({ name, level, base: { app: name }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that drops everything: for tests and the in-process simulator. */
export const silentLogger: Logger = pino({ level: 'silent' });

export const LOG_EVENTS = {
  started: 'job.started',
  stopping: 'job.stopping',
  stopped: 'job.stopped',
  partitionsAssigned: 'partitions.assigned',
  partitionsRevoked: 'partitions.revoked',
  stateRestored: 'state.restored',
  checkpointFailed: 'checkpoint.failed',
  checkpointFenced: 'checkpoint.fenced',
  redisDown: 'redis.down',
  redisUp: 'redis.up',
  dlq: 'record.dlq',
  late: 'record.late',
  backend: 'tfjs.backend',
  weightsRejected: 'reward_weights.rejected',
  modelSwapped: 'model.swapped',
  modelPublished: 'model.published',
  modelRejected: 'model.rejected',
  modelRollback: 'model.rollback',
  modelRestoreFailed: 'model.restore_failed',
  learnerFailed: 'learner.failed',
  weightsAccepted: 'reward_weights.accepted',
} as const;
