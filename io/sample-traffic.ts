// Seeded sample traffic for the dev job and `produce-sample`: contents, page requests and their
// interactions, one objectives record, plus optional corrupt records (each kind of failure the DLQ
// must catch). A request is one impression: the organic item the feed would show, or a heated
// item when a ranker (io/sample-ranker.ts) serves one in its place. Simulated users click and
// complete what they see by a hidden appeal of the item, a noisy function of its published
// quality_score, so heated items earn outcomes (and budget) by their quality.
// Deterministic: every request draws the same numbers whatever is served, so the same options and
// the same served items give the same records, byte for byte. Memory is bounded: users are keyed
// draws (nothing stored per user) and only the latest `contents` items per category stay live.
import { keyedUniform, Rng } from '../core/rng.js';
import { PUBLIC_TOPICS, type TopologyNames } from '../pipelines/topology.js';
import type { BusinessObjectives, ContentPublished, UserInteraction } from '../schemas/types.js';
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

/** One page request of a user: what the feed would show organically, and the draws of its outcome. */
export interface PageRequest {
  index: number;
  userId: string;
  eventTime: number;
  /** The user's categories of interest, strongest first. */
  interests: readonly string[];
  organic: { contentId: string; category: string; isNew: boolean };
  /** Uniform draws in [0,1): the ranker's explore decision, then the user's reaction. */
  draws: { explore: number; click: number; completion: number; dwell: number; share: number };
}

/** A heated item a ranker served in place of the organic one. */
export interface HeatedItem {
  contentId: string;
  category: string;
  allocationId: string;
}

export type SampleEvent =
  { record: SampleRecord; request?: never } | { request: PageRequest; record?: never };

/** Click-through of an item the user is interested in, by its hidden appeal a ∈ [0,1]: 2% + 16%·a². */
const CTR_FLOOR = 0.02;
const CTR_APPEAL = 0.16;
/** Outside the user's interests an item is clicked half as often. */
const OFF_INTEREST = 0.5;
/** Novelty seekers (this share of users) click new items this many times as often; the others less. */
const NOVELTY_SEEKERS = 0.5;
const NOVELTY_LIFT = 3;
const NOVELTY_DAMP = 0.6;
/** Share of organic impressions in the user's own categories. */
const ORGANIC_IN_INTEREST = 0.8;
/** Share of organic impressions from the fresh shelf (recently published items). */
const ORGANIC_FRESH = 0.35;
/** Items on the fresh shelf per category: the latest published. */
const FRESH_PER_CATEGORY = 50;
const DAY = 86_400_000;
/** The objectives' heating pool: this share of a day of the traffic's impressions (under the 20% cap). */
const HEATING_POOL_SHARE = 0.15;

function shelf(shelves: Map<string, number[]>, category: string): number[] {
  let list = shelves.get(category);
  if (!list) shelves.set(category, (list = []));
  return list;
}

export class SampleTraffic {
  private readonly rng: Rng;
  private n = 0;
  private sincePublish = 0;
  private published: number;
  /** Categories of the initial catalogue, by content index. */
  private readonly contentCategory: string[];
  /**
   * Organic shelves per category, content indices: the established catalogue (the initial items
   * but every third) and the fresh shelf (every third initial item, then each new publication;
   * the latest FRESH_PER_CATEGORY stay).
   */
  private readonly established = new Map<string, number[]>();
  private readonly fresh = new Map<string, number[]>();
  private readonly creators: Rng;
  private readonly newCategories: Rng;
  private readonly topics: Pick<TopologyNames, 'interactions' | 'published' | 'objectives'>;

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
    this.contentCategory.forEach((c, i) =>
      i % 3 === 0 ? this.addFresh(i, c) : shelf(this.established, c).push(i),
    );
    this.published = o.contents;
    this.creators = this.rng.fork('contents');
    this.newCategories = this.rng.fork('new-contents');
  }

  /** The initial catalogue, published at the start time. */
  contentRecords(): SampleRecord[] {
    return this.contentCategory.map((category, i) => this.publication(i, category, this.o.startTime));
  }

  /** Published quality score of a content (a keyed draw: known for any id without storing it). */
  qualityScore(contentId: string): number {
    return Math.fround(keyedUniform(this.o.seed, 'quality', contentId));
  }

  /** Hidden appeal of a content: 0.6·quality_score + 0.4·what the score does not say. */
  appeal(contentId: string): number {
    return 0.6 * this.qualityScore(contentId) + 0.4 * keyedUniform(this.o.seed, 'appeal', contentId);
  }

  /** The user's categories of interest, strongest first (one to three, keyed by user). */
  interests(userId: string): string[] {
    const k = 1 + Math.floor(keyedUniform(this.o.seed, 'breadth', userId) * 3);
    const out: string[] = [];
    for (let i = 0; out.length < k; i++) {
      const c = CATEGORIES[Math.floor(keyedUniform(this.o.seed, 'interest', userId, i) * CATEGORIES.length)];
      if (!out.includes(c)) out.push(c);
    }
    return out;
  }

  /** How much more (or less) than usual the user clicks new items: what the job reads as curiosity. */
  novelty(userId: string): number {
    return keyedUniform(this.o.seed, 'novelty', userId) < NOVELTY_SEEKERS ? NOVELTY_LIFT : NOVELTY_DAMP;
  }

  /** Registration time of a user: 0 to 29 days before the start (a tenth are new, in protection). */
  private registeredAt(userId: string): number {
    return this.o.startTime - Math.floor(keyedUniform(this.o.seed, 'registered', userId) * 30) * DAY;
  }

  private addFresh(index: number, category: string): void {
    const list = shelf(this.fresh, category);
    list.push(index);
    if (list.length > FRESH_PER_CATEGORY) list.shift();
  }

  private publication(index: number, category: string, publishedAt: number): SampleRecord {
    const r = this.creators;
    const contentId = `c${index}`;
    const v: ContentPublished = {
      content_id: contentId,
      creator_id: `cr${r.int(Math.max(1, Math.floor(this.o.contents / 5)))}`,
      category,
      quality_score: this.qualityScore(contentId),
      published_at: publishedAt,
      creator_followers: r.int(100_000),
    };
    return {
      topic: this.topics.published,
      key: v.content_id,
      value: this.serde.encode('ContentPublished', v),
    };
  }

  /** A content new to the catalogue, published now (in event time). */
  private newContentRecord(): SampleRecord {
    const category = CATEGORIES[this.newCategories.int(CATEGORIES.length)];
    const index = this.published++;
    this.addFresh(index, category);
    return this.publication(index, category, this.eventTime(this.n));
  }

  private eventTime(i: number): number {
    return this.o.startTime + i * (this.o.stepMs ?? 10);
  }

  /** Event time of the next request. */
  now(): number {
    return this.eventTime(this.n);
  }

  objectivesRecord(): SampleRecord {
    const v: BusinessObjectives = {
      objective_id: `obj-${this.o.seed}`,
      effective_from: this.o.startTime,
      gmv_target: 3_490_000,
      retention_target: 0.67,
      diversity_target: 0.62,
      heating_budget_pool: Math.round(HEATING_POOL_SHARE * (DAY / (this.o.stepMs ?? 10))),
      heating_cap_ratio: 0.2,
      weights: { user_satisfaction: 0.4, platform_revenue: 0.3, long_term: 0.3 },
    };
    return { topic: this.topics.objectives, key: null, value: this.serde.encode('BusinessObjectives', v) };
  }

  /** The next page request: the same number of draws whatever is served for it. */
  nextRequest(): PageRequest {
    const i = this.n++;
    const r = this.rng;
    const userId = `u${r.int(this.o.users)}`;
    const interests = this.interests(userId);
    const inInterest = r.next() < ORGANIC_IN_INTEREST;
    const category = inInterest ? interests[r.int(interests.length)] : CATEGORIES[r.int(CATEGORIES.length)];
    const wantNew = r.next() < ORGANIC_FRESH;
    const pick = r.next();
    const wanted = (wantNew ? this.fresh : this.established).get(category);
    const isNew = wanted?.length ? wantNew : !wantNew;
    const list = wanted?.length ? wanted : (wantNew ? this.established : this.fresh).get(category);
    // Nothing of this category at all (a tiny catalogue): the first item.
    const organic = list?.length
      ? { contentId: `c${list[Math.floor(pick * list.length)]}`, category, isNew }
      : { contentId: 'c0', category: this.contentCategory[0], isNew: false };
    return {
      index: i,
      userId,
      eventTime: this.eventTime(i),
      interests,
      organic,
      draws: { explore: r.next(), click: r.next(), completion: r.next(), dwell: r.next(), share: r.next() },
    };
  }

  /** The interaction a request ends in: the heated item when one was served, else the organic one. */
  interaction(req: PageRequest, heated?: HeatedItem | null): UserInteraction {
    const item = heated ?? req.organic;
    const a = this.appeal(item.contentId);
    const d = req.draws;
    const isNew = heated != null || req.organic.isNew;
    const affinity =
      (req.interests.includes(item.category) ? 1 : OFF_INTEREST) * (isNew ? this.novelty(req.userId) : 1);
    const click = d.click < affinity * (CTR_FLOOR + CTR_APPEAL * a * a);
    // Good items are watched through (completion around their appeal); a skip barely starts.
    const completion = click ? Math.min(1, Math.max(0, a + 0.7 * (d.completion - 0.5))) : d.completion * 0.1;
    return {
      // The start time too: a rerun of the demo (same seed, later start) is new traffic, not duplicates.
      event_id: `ev-${this.o.seed}-${this.o.startTime}-${req.index}`,
      user_id: req.userId,
      content_id: item.contentId,
      category: item.category,
      event_time: req.eventTime,
      click,
      dwell_ms: click ? 1000 + Math.floor(d.dwell * 60_000 * completion) : Math.floor(d.dwell * 2000),
      completion: Math.fround(completion),
      shared: click && d.share < 0.15 * a,
      is_new_content: isNew,
      heated: heated != null,
      allocation_id: heated?.allocationId ?? null,
      user_registered_at: this.registeredAt(req.userId),
    };
  }

  /** The next organic interaction value (not encoded). */
  nextInteraction(): UserInteraction {
    return this.interaction(this.nextRequest());
  }

  interactionRecord(v: UserInteraction = this.nextInteraction()): SampleRecord {
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

  /**
   * Next event: a page request for a ranker to serve, a corrupt interaction (with probability
   * `corruptFraction`) or a new content.
   */
  nextEvent(corruptFraction = 0): SampleEvent {
    if (this.o.publishEvery && ++this.sincePublish > this.o.publishEvery) {
      this.sincePublish = 0;
      return { record: this.newContentRecord() };
    }
    return corruptFraction > 0 && this.rng.next() < corruptFraction
      ? { record: this.corruptInteraction(this.pickCorruption()) }
      : { request: this.nextRequest() };
  }

  /** Next record, with every request served organically (no ranker). */
  next(corruptFraction = 0): SampleRecord {
    const e = this.nextEvent(corruptFraction);
    return e.record ?? this.interactionRecord(this.interaction(e.request));
  }
}
