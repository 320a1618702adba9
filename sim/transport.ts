// The seam between the simulator's Thermostat policies and the stream graph: what
// ThermostatGraphPolicy needs to drive the real graph. ThermostatTestDriver (in-memory topics,
// the default) satisfies it as is; KafkaGraphTransport (sim/kafka-transport.ts) runs the same
// experiment through the real Kafka job. Topics are named by their public names (PUBLIC_TOPICS);
// a transport maps them to its own (prefixed) topics.
import type { UserMindState } from '../schemas/types.js';

export type TransportKind = 'inprocess' | 'kafka';
export const TRANSPORT_KINDS: readonly TransportKind[] = ['inprocess', 'kafka'];

export interface GraphTransport {
  /** Encodes `records` with the real serde and appends them to input topic `topic`. */
  pipeInput(topic: string, records: readonly object[]): Promise<void>;
  /**
   * Event time has reached `t`: no input below `t` follows. Resolves once every tick boundary up
   * to `t` has closed and its outputs can be read.
   */
  advanceEventTime(t: number): Promise<void>;
  /** Decoded records written to output topic `topic` since the previous call for that topic. */
  readOutput<T = unknown>(topic: string): T[];
  /** The job's latest state of `userId` (after everything piped before the last advance). */
  userState(userId: string): UserMindState | undefined;
  /**
   * Checkpoints what the graph has consumed (the in-memory driver then drops the records every
   * reader has passed, so memory follows state, not run length). The Kafka job commits on its own.
   */
  checkpoint?(): Promise<void>;
  /** Releases what the transport holds (job, clients); the in-memory driver holds nothing. */
  close?(): Promise<void>;
}

/** How the simulator reaches the graph; passed to the Thermostat policies as ctx.options.transport. */
export interface TransportOptions {
  kind: TransportKind;
  /** Kafka bootstrap servers (kind 'kafka'). */
  brokers?: string;
  /** Redis for the job's checkpoints (kind 'kafka'); keys are prefixed by the run's app id. */
  redisUrl?: string;
}
