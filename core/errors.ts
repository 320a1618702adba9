// One error base for the whole job. `reason` is a closed union and a public contract: DLQ headers,
// metric labels and logs carry it, so a code is never renamed or reused (like Kafka's error ids).

export const ERROR_REASONS = [
  'AVRO_DECODE', // bytes are not a valid Avro body for the writer schema
  'WIRE_FORMAT', // missing/wrong magic byte or truncated header
  'SCHEMA_UNKNOWN', // schema id not in the registry
  'SCHEMA_INCOMPATIBLE', // writer schema cannot be resolved to the reader schema
  'VALIDATION', // decoded, but a value is out of range (completion 7, negative dwell)
  'LATE_RECORD', // event time behind the watermark beyond allowed lateness
  'RECORD_TOO_LARGE', // input record above kafka.maxRecordBytes (its DLQ payload is truncated)
  'EVENT_TIME_AHEAD', // event time beyond watermark.maxAheadMs ahead of its partition / processing time
  'PARTITION_MISMATCH', // record in a partition its id does not hash to (kafka.partitionMismatch=dlq)
  'STATE_FENCED', // a write carried a stale epoch or version
  'CONFIG', // invalid configuration
  'DEPENDENCY', // Kafka/Redis/HTTP dependency failed
  'LLM_OUTPUT', // LLM text did not yield valid reward weights
  'INTERNAL', // a bug: an invariant did not hold
] as const;
export type ErrorReason = (typeof ERROR_REASONS)[number];

export interface RecordOrigin {
  topic?: string;
  partition?: number;
  offset?: string;
}

export interface ThermostatErrorOptions extends RecordOrigin {
  retriable?: boolean;
  cause?: unknown;
  /** Offending configuration key, field name, etc. */
  key?: string;
}

export class ThermostatError extends Error {
  readonly reason: ErrorReason;
  readonly retriable: boolean;
  readonly topic?: string;
  readonly partition?: number;
  readonly offset?: string;
  readonly key?: string;

  constructor(reason: ErrorReason, message: string, opts: ThermostatErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    Error.captureStackTrace?.(this, new.target);
    this.reason = reason;
    this.retriable = opts.retriable ?? false;
    this.topic = opts.topic;
    this.partition = opts.partition;
    this.offset = opts.offset;
    this.key = opts.key;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** Invalid configuration: names the offending key so the fix is obvious. */
export class ConfigError extends ThermostatError {
  constructor(key: string, message: string) {
    super('CONFIG', `invalid configuration ${key}: ${message}`, { key });
  }
}

/** A write rejected because a newer epoch or version already holds the key. */
export class FencedError extends ThermostatError {
  constructor(message: string, opts: ThermostatErrorOptions = {}) {
    super('STATE_FENCED', message, opts);
  }
}

export const isThermostatError = (e: unknown): e is ThermostatError => e instanceof ThermostatError;
