// The heating allocations a ranker may serve now, folded from the `heating-allocations` topic (a
// materialised view, like a Kafka Streams GlobalKTable). Pure: records in, active set out, the
// time comes from the caller, so a ranker, a test or the simulator can drive it.
import type { HeatingAllocation } from '../schemas/types.js';

export class ActiveAllocationsView {
  private readonly byId = new Map<string, HeatingAllocation>();

  /**
   * Adds an allocation. The same `allocation_id` again (the job re-emits the records since its last
   * checkpoint after a crash, with the same ids) replaces the first copy, so duplicates collapse.
   * An allocation already expired at `now` is not kept.
   */
  apply(allocation: HeatingAllocation, now = -Infinity): void {
    if (allocation.valid_until <= now) return;
    this.byId.set(allocation.allocation_id, allocation);
  }

  /** Allocations with valid_from ≤ now < valid_until, earliest valid_until first; forgets expired ones. */
  active(now: number): HeatingAllocation[] {
    const out: HeatingAllocation[] = [];
    for (const [id, a] of this.byId) {
      if (a.valid_until <= now) this.byId.delete(id);
      else if (a.valid_from <= now) out.push(a);
    }
    return out.sort(
      (a, b) => a.valid_until - b.valid_until || a.allocation_id.localeCompare(b.allocation_id),
    );
  }

  get(allocationId: string): HeatingAllocation | undefined {
    return this.byId.get(allocationId);
  }

  /** Allocations held, including those not valid yet and those expired since the last `active()`. */
  get size(): number {
    return this.byId.size;
  }
}
