// Async steps run one after another, in the order they were queued. A Kafka consumer's rebalance
// events are handled so (io/kafka.ts): librdkafka can hand over an assignment and, before its
// hook finished, the revocation or the newer assignment that follows it; run side by side, the
// older hook's tasks could be dropped after the newer hook found them present and kept them.

export class SerialQueue {
  private tail: Promise<void> | null = null;

  /** Queues `step`: it starts once every step queued before it has settled. */
  push(step: () => Promise<void>): Promise<void> {
    const run = (this.tail ?? Promise.resolve()).then(step);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.tail = settled;
    void settled.then(() => {
      if (this.tail === settled) this.tail = null;
    });
    return run;
  }

  /** Settles once every step queued so far has; null when none is queued or running. */
  get pending(): Promise<void> | null {
    return this.tail;
  }
}
