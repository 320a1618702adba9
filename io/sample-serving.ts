// The heated slot of the sample traffic's stand-in ranker: the active heating allocations, each
// served up to its granted impressions within [valid_from, valid_until). Fed with what a platform's
// ranker reads (heating-allocations records); sample traffic asks it for the allocation to show in
// a heated slot. Deterministic: allocations are served in content-id order, one impression per call
// in turn, so the same allocations and calls give the same impressions.
import type { HeatingAllocation } from '../schemas/types.js';

interface Slot {
  allocation_id: string;
  content_id: string;
  valid_from: number;
  valid_until: number;
  remaining: number;
}

export class HeatedServing {
  private readonly byContent = new Map<string, Slot>();
  private order: string[] = [];
  private next = 0;
  /** Heated impressions handed out. */
  served = 0;

  /** New allocations (a newer one of a content replaces the older; a replayed one changes nothing). */
  add(allocations: readonly HeatingAllocation[]): void {
    for (const a of allocations) {
      const cur = this.byContent.get(a.content_id);
      if (cur && cur.valid_from >= a.valid_from) continue;
      this.byContent.set(a.content_id, {
        allocation_id: a.allocation_id,
        content_id: a.content_id,
        valid_from: a.valid_from,
        valid_until: a.valid_until,
        remaining: a.impressions,
      });
    }
    this.order = [...this.byContent.keys()].sort();
  }

  /** An allocation to show at event time `t` (one impression of it is used), or null. */
  take(t: number): { allocation_id: string; content_id: string } | null {
    for (let k = 0; k < this.order.length; k++) {
      const i = (this.next + k) % this.order.length;
      const s = this.byContent.get(this.order[i])!;
      if (s.remaining <= 0 || t < s.valid_from || t >= s.valid_until) continue;
      s.remaining--;
      this.served++;
      this.next = i + 1;
      return s;
    }
    this.prune(t);
    return null;
  }

  /** Active allocations (with impressions left and not expired at `t`). */
  active(t: number): number {
    let n = 0;
    for (const s of this.byContent.values()) if (s.remaining > 0 && t < s.valid_until) n++;
    return n;
  }

  private prune(t: number): void {
    let changed = false;
    for (const [id, s] of this.byContent)
      if (t >= s.valid_until) {
        this.byContent.delete(id);
        changed = true;
      }
    if (changed) {
      this.order = [...this.byContent.keys()].sort();
      this.next = 0;
    }
  }
}
