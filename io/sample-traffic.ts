// Seeded sample traffic for the dev job and `produce-sample`: contents, interactions and one
// objectives record, plus optional corrupt records (each kind of failure the DLQ must catch).
// Deterministic: the same options give the same records, byte for byte.
import { Rng } from '../core/rng.js';
import type { BusinessObjectives, ContentPublished, UserInteraction } from '../schemas/types.js';
import type { HeatedServing } from './sample-serving.js';
import type { Serde } from './serde.js';
import { TOPICS } from './topics.js';

export const CATEGORIES = [
  'tech',
  'food',
  'travel',
  'sports',
  'music',
  'gaming',
  'fashion',
  'finance',
  'science',
  'pets',
] as const;

export interface SampleOptions {
  seed: number;
  users: number;
  contents: number;
  /** Event time of the first record (ms). */
  startTime: number;
  /** Event-time spacing between interactions (ms). */
  stepMs?: number;
  /**
   * Heated impressions of the active allocations (a ranker's heated slot): this share of the
   * interactions shows an allocation's content while one is active, with clicks, completion and
   * shares drawn from the content's latent appeal (its quality score is a noisy signal of it), so
   * the online learner has outcomes to learn from. Absent: no heated impressions (as before).
   */
  serving?: { slots: HeatedServing; share: number };
  /** Input topic names (the job's, with its topic prefix); default the public names. */
  topics?: { interactions: string; published: string; objectives: string };
}

export interface SampleRecord {
  topic: string;
  key: string | null;
  value: Buffer;
}

export const CORRUPTIONS = [
  'wrong-magic',
  'unknown-schema',
  'truncated',
  'completion-out-of-range',
  'negative-dwell',
] as const;
export type Corruption = (typeof CORRUPTIONS)[number];

export class SampleTraffic {
  private readonly rng: Rng;
  private n = 0;
  private readonly contentCategory: string[];
  private readonly contents: ContentPublished[];
  /** Latent appeal per content in [0,1]: 0.6·quality_score + 0.4·hidden noise. */
  private readonly appeal: Float64Array;
  private readonly servingRng: Rng;

  constructor(
    private readonly serde: Serde,
    private readonly o: SampleOptions,
  ) {
    this.rng = new Rng(o.seed);
    const catRng = this.rng.fork('categories');
    this.contentCategory = Array.from(
      { length: o.contents },
      () => CATEGORIES[catRng.int(CATEGORIES.length)],
    );
    const r = this.rng.fork('contents');
    this.contents = this.contentCategory.map((category, i) => ({
      content_id: `c${i}`,
      creator_id: `cr${r.int(Math.max(1, Math.floor(o.contents / 5)))}`,
      category,
      quality_score: Math.fround(r.next()),
      published_at: o.startTime,
      creator_followers: r.int(100_000),
    }));
    const hidden = this.rng.fork('appeal');
    this.appeal = Float64Array.from(this.contents, (c) => 0.6 * c.quality_score + 0.4 * hidden.next());
    this.servingRng = this.rng.fork('serving');
  }

  private get interactionsTopic(): string {
    return this.o.topics?.interactions ?? TOPICS.userInteractions;
  }

  contentRecords(): SampleRecord[] {
    return this.contents.map((v) => {
      return {
        topic: this.o.topics?.published ?? TOPICS.contentPublished,
        key: v.content_id,
        value: this.serde.encode('ContentPublished', v),
      };
    });
  }

  /** The publications (values) contentRecords() encodes. */
  contentValues(): ContentPublished[] {
    return this.contents.map((c) => ({ ...c }));
  }

  objectivesRecord(): SampleRecord {
    const v = this.objectivesValue();
    return {
      topic: this.o.topics?.objectives ?? TOPICS.businessObjectives,
      key: null,
      value: this.serde.encode('BusinessObjectives', v),
    };
  }

  objectivesValue(): BusinessObjectives {
    return {
      objective_id: `obj-${this.o.seed}`,
      effective_from: this.o.startTime,
      gmv_target: 3_490_000,
      retention_target: 0.67,
      diversity_target: 0.62,
      heating_budget_pool: 100_000,
      heating_cap_ratio: 0.2,
      weights: { user_satisfaction: 0.4, platform_revenue: 0.3, long_term: 0.3 },
    };
  }

  /** The next interaction value (not encoded). */
  nextInteraction(): UserInteraction {
    const eventTime = this.o.startTime + this.n * (this.o.stepMs ?? 10);
    const s = this.o.serving;
    if (s && this.servingRng.next() < s.share) {
      const a = s.slots.take(eventTime);
      if (a) return this.heatedImpression(a.allocation_id, a.content_id, eventTime);
    }
    const i = this.n++;
    const r = this.rng;
    const contentIdx = r.int(this.o.contents);
    const click = r.next() < 0.08;
    return {
      event_id: `ev-${this.o.seed}-${i}`,
      user_id: `u${r.int(this.o.users)}`,
      content_id: `c${contentIdx}`,
      category: this.contentCategory[contentIdx],
      event_time: this.o.startTime + i * (this.o.stepMs ?? 10),
      click,
      dwell_ms: click ? 1000 + r.int(60_000) : r.int(2000),
      completion: Math.fround(click ? r.next() : r.next() * 0.1),
      shared: click && r.next() < 0.1,
      is_new_content: contentIdx % 3 === 0,
      heated: false,
      allocation_id: null,
      user_registered_at: this.o.startTime - r.int(30) * 86_400_000,
    };
  }

  /** A heated impression of an allocation's content: outcome drawn from the content's appeal. */
  private heatedImpression(allocationId: string, contentId: string, eventTime: number): UserInteraction {
    const i = this.n++;
    const r = this.servingRng;
    const idx = Number(contentId.slice(1));
    const appeal = this.appeal[idx] ?? 0.5;
    const click = r.next() < 0.02 + 0.16 * appeal;
    return {
      event_id: `ev-${this.o.seed}-${i}`,
      user_id: `u${r.int(this.o.users)}`,
      content_id: contentId,
      category: this.contentCategory[idx] ?? CATEGORIES[0],
      event_time: eventTime,
      click,
      dwell_ms: click ? 1000 + Math.floor(60_000 * appeal * r.next()) : r.int(2000),
      completion: Math.fround(click ? Math.min(1, appeal * (0.5 + r.next())) : r.next() * 0.1),
      shared: click && r.next() < 0.25 * appeal,
      is_new_content: idx % 3 === 0,
      heated: true,
      allocation_id: allocationId,
      user_registered_at: this.o.startTime - r.int(30) * 86_400_000,
    };
  }

  interactionRecord(): SampleRecord {
    const v = this.nextInteraction();
    return { topic: this.interactionsTopic, key: v.user_id, value: this.serde.encode('UserInteraction', v) };
  }

  /** A corrupt interaction record of the given kind (what a buggy producer might send). */
  corruptInteraction(kind: Corruption): SampleRecord {
    const v = this.nextInteraction();
    const good = (x: UserInteraction) => this.serde.encode('UserInteraction', x);
    let value: Buffer;
    switch (kind) {
      case 'wrong-magic':
        value = Buffer.from(good(v));
        value[0] = 0x7b;
        break;
      case 'unknown-schema':
        value = Buffer.from(good(v));
        value.writeInt32BE(0x7fff_fff0, 1);
        break;
      case 'truncated': {
        const b = good(v);
        value = b.subarray(0, Math.max(6, b.length >> 1));
        break;
      }
      case 'completion-out-of-range':
        value = good({ ...v, completion: 7 });
        break;
      case 'negative-dwell':
        value = good({ ...v, dwell_ms: -250 });
        break;
    }
    return { topic: this.interactionsTopic, key: v.user_id, value };
  }

  /** A deterministic choice among the corruption kinds. */
  pickCorruption(): Corruption {
    return CORRUPTIONS[this.rng.int(CORRUPTIONS.length)];
  }

  /** Next record: an interaction, corrupt with probability `corruptFraction`. */
  next(corruptFraction = 0): SampleRecord {
    return corruptFraction > 0 && this.rng.next() < corruptFraction
      ? this.corruptInteraction(this.pickCorruption())
      : this.interactionRecord();
  }
}
