// Seeded sample traffic for the dev job and `produce-sample`: contents, interactions and one
// objectives record, plus optional corrupt records (each kind of failure the DLQ must catch).
// Deterministic: the same options give the same records, byte for byte.
import { Rng } from '../core/rng.js';
import { PUBLIC_TOPICS, type TopologyNames } from '../pipelines/topology.js';
import type { BusinessObjectives, ContentPublished, UserInteraction } from '../schemas/types.js';
import type { HeatedServing } from './sample-serving.js';
import type { Serde } from './serde.js';

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
   * A new content is published after every this many interactions, at the current event time
   * (default 0: the whole catalogue is published once, at the start). A live platform publishes
   * all the time, and the job's watermark follows content-published too.
   */
  publishEvery?: number;
  /** Input topics to write to (with the job's topicPrefix); default the contract's names. */
  topics?: Pick<TopologyNames, 'interactions' | 'published' | 'objectives'>;
  /**
   * Heated impressions of the active allocations (a ranker's heated slot): this share of the
   * interactions shows an allocation's content while one is active, with clicks, completion and
   * shares drawn from the content's latent appeal (its quality score is a noisy signal of it), so
   * the online learner has outcomes to learn from. Absent: no heated impressions.
   */
  serving?: { slots: HeatedServing; share: number };
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
  private sincePublish = 0;
  private readonly contentCategory: string[];
  private readonly creators: Rng;
  private readonly newCategories: Rng;
  private readonly topics: Pick<TopologyNames, 'interactions' | 'published' | 'objectives'>;
  private initial: ContentPublished[] | null = null;
  /** Latent appeal per content in [0,1]: 0.6·quality_score + 0.4·hidden noise. */
  private readonly appeal: number[] = [];
  private readonly hidden: Rng;
  private readonly servingRng: Rng;

  constructor(
    private readonly serde: Serde,
    private readonly o: SampleOptions,
  ) {
    this.rng = new Rng(o.seed);
    this.topics = o.topics ?? PUBLIC_TOPICS;
    const catRng = this.rng.fork('categories');
    this.contentCategory = Array.from(
      { length: o.contents },
      () => CATEGORIES[catRng.int(CATEGORIES.length)],
    );
    this.creators = this.rng.fork('contents');
    this.newCategories = this.rng.fork('new-contents');
    this.hidden = this.rng.fork('appeal');
    this.servingRng = this.rng.fork('serving');
  }

  /** The initial catalogue, published at the start time. */
  contentRecords(): SampleRecord[] {
    return this.catalogue().map((v) => this.publicationRecord(v));
  }

  /** The initial catalogue's values (what contentRecords() encodes). */
  contentValues(): ContentPublished[] {
    return this.catalogue().map((v) => ({ ...v }));
  }

  private catalogue(): ContentPublished[] {
    return (this.initial ??= this.contentCategory
      .slice(0, this.o.contents)
      .map((category, i) => this.publication(i, category, this.o.startTime)));
  }

  private publication(index: number, category: string, publishedAt: number): ContentPublished {
    const r = this.creators;
    const v: ContentPublished = {
      content_id: `c${index}`,
      creator_id: `cr${r.int(Math.max(1, Math.floor(this.o.contents / 5)))}`,
      category,
      quality_score: Math.fround(r.next()),
      published_at: publishedAt,
      creator_followers: r.int(100_000),
    };
    this.appeal[index] = 0.6 * v.quality_score + 0.4 * this.hidden.next();
    return v;
  }

  private publicationRecord(v: ContentPublished): SampleRecord {
    return {
      topic: this.topics.published,
      key: v.content_id,
      value: this.serde.encode('ContentPublished', v),
    };
  }

  /** A content new to the catalogue, published now (in event time). */
  private newContentRecord(): SampleRecord {
    const category = CATEGORIES[this.newCategories.int(CATEGORIES.length)];
    this.contentCategory.push(category);
    return this.publicationRecord(
      this.publication(this.contentCategory.length - 1, category, this.eventTime(this.n)),
    );
  }

  private eventTime(i: number): number {
    return this.o.startTime + i * (this.o.stepMs ?? 10);
  }

  objectivesRecord(): SampleRecord {
    const v = this.objectivesValue();
    return { topic: this.topics.objectives, key: null, value: this.serde.encode('BusinessObjectives', v) };
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
    const s = this.o.serving;
    if (s && this.servingRng.next() < s.share) {
      const a = s.slots.take(this.eventTime(this.n));
      if (a) return this.heatedImpression(a.allocation_id, a.content_id);
    }
    const i = this.n++;
    const r = this.rng;
    const contentIdx = r.int(this.contentCategory.length);
    const click = r.next() < 0.08;
    return {
      // The start time too: a rerun of the demo (same seed, later start) is new traffic, not duplicates.
      event_id: `ev-${this.o.seed}-${this.o.startTime}-${i}`,
      user_id: `u${r.int(this.o.users)}`,
      content_id: `c${contentIdx}`,
      category: this.contentCategory[contentIdx],
      event_time: this.eventTime(i),
      click,
      dwell_ms: click ? 1000 + r.int(60_000) : r.int(2000),
      completion: Math.fround(click ? r.next() : r.next() * 0.1),
      shared: click && r.next() < 0.1,
      is_new_content: contentIdx % 3 === 0 || contentIdx >= this.o.contents,
      heated: false,
      allocation_id: null,
      user_registered_at: this.o.startTime - r.int(30) * 86_400_000,
    };
  }

  /** A heated impression of an allocation's content: its outcome drawn from the content's appeal. */
  private heatedImpression(allocationId: string, contentId: string): UserInteraction {
    const i = this.n++;
    const r = this.servingRng;
    const idx = Number(contentId.slice(1));
    const appeal = this.appeal[idx] ?? 0.5;
    const click = r.next() < 0.02 + 0.16 * appeal;
    return {
      event_id: `ev-${this.o.seed}-${this.o.startTime}-${i}`,
      user_id: `u${r.int(this.o.users)}`,
      content_id: contentId,
      category: this.contentCategory[idx] ?? CATEGORIES[0],
      event_time: this.eventTime(i),
      click,
      dwell_ms: click ? 1000 + Math.floor(60_000 * appeal * r.next()) : r.int(2000),
      completion: Math.fround(click ? Math.min(1, appeal * (0.5 + r.next())) : r.next() * 0.1),
      shared: click && r.next() < 0.25 * appeal,
      is_new_content: idx % 3 === 0 || idx >= this.o.contents,
      heated: true,
      allocation_id: allocationId,
      user_registered_at: this.o.startTime - r.int(30) * 86_400_000,
    };
  }

  interactionRecord(): SampleRecord {
    const v = this.nextInteraction();
    return {
      topic: this.topics.interactions,
      key: v.user_id,
      value: this.serde.encode('UserInteraction', v),
    };
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
    return { topic: this.topics.interactions, key: v.user_id, value };
  }

  /** A deterministic choice among the corruption kinds. */
  pickCorruption(): Corruption {
    return CORRUPTIONS[this.rng.int(CORRUPTIONS.length)];
  }

  /** Next record: an interaction (corrupt with probability `corruptFraction`) or a new content. */
  next(corruptFraction = 0): SampleRecord {
    if (this.o.publishEvery && ++this.sincePublish > this.o.publishEvery) {
      this.sincePublish = 0;
      return this.newContentRecord();
    }
    return corruptFraction > 0 && this.rng.next() < corruptFraction
      ? this.corruptInteraction(this.pickCorruption())
      : this.interactionRecord();
  }
}
