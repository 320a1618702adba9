import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serde } from '../../../io/serde.js';
import { SampleTraffic } from '../../../io/sample-traffic.js';
import { topologyNames } from '../../../pipelines/topology.js';
import type { ContentPublished, UserInteraction } from '../../../schemas/types.js';

function serde(names = topologyNames('thermostat')): Serde {
  const s = Serde.local();
  void s.prepareWriter(names.interactions, 'UserInteraction');
  void s.prepareWriter(names.published, 'ContentPublished');
  void s.prepareWriter(names.objectives, 'BusinessObjectives');
  return s;
}

test('sample traffic writes to the topics it is given (the job topicPrefix included)', () => {
  const names = topologyNames('app', 'team-a.');
  const t = new SampleTraffic(serde(names), { seed: 1, users: 10, contents: 5, startTime: 0, topics: names });
  const topics = new Set([
    t.objectivesRecord().topic,
    ...t.contentRecords().map((r) => r.topic),
    ...Array.from({ length: 50 }, () => t.next(0.5).topic),
  ]);
  assert.deepEqual([...topics].sort(), [
    'team-a.business-objectives',
    'team-a.content-published',
    'team-a.user-interactions',
  ]);
  const plain = new SampleTraffic(serde(), { seed: 1, users: 10, contents: 5, startTime: 0 });
  assert.equal(plain.next().topic, 'user-interactions');
});

test('with publishEvery, new contents arrive at the current event time and get impressions', () => {
  const s = serde();
  const t = new SampleTraffic(s, {
    seed: 3,
    users: 50,
    contents: 4,
    startTime: 1000,
    stepMs: 10,
    publishEvery: 5,
  });
  const published: ContentPublished[] = [];
  const views: UserInteraction[] = [];
  for (let i = 0; i < 600; i++) {
    const r = t.next();
    const d = s.decode(r.value);
    if (d.schema === 'ContentPublished') published.push(d.value);
    else if (d.schema === 'UserInteraction') views.push(d.value);
  }
  assert.equal(published.length, 100, 'one publication after every 5 interactions');
  assert.deepEqual(
    published.slice(0, 2).map((p) => [p.content_id, p.published_at]),
    [
      ['c4', 1000 + 5 * 10],
      ['c5', 1000 + 10 * 10],
    ],
  );
  const late = views.filter((v) => Number(v.content_id.slice(1)) >= 4);
  assert.ok(late.length > 0 && late.every((v) => v.is_new_content), 'new contents are served, as new');
});

test('the same options give the same records; another start time gives other event ids', () => {
  const ids = (startTime: number) => {
    const t = new SampleTraffic(serde(), { seed: 9, users: 20, contents: 5, startTime, publishEvery: 7 });
    return Array.from({ length: 30 }, () => t.next().value.toString('hex'));
  };
  assert.deepEqual(ids(0), ids(0));
  const a = new SampleTraffic(serde(), { seed: 9, users: 20, contents: 5, startTime: 0 }).nextInteraction();
  const b = new SampleTraffic(serde(), {
    seed: 9,
    users: 20,
    contents: 5,
    startTime: 60_000,
  }).nextInteraction();
  assert.notEqual(a.event_id, b.event_id, 'a rerun of the demo is new traffic, not duplicates');
});

test('a request draws the same numbers whether or not it is served heated; a heated one carries its allocation', () => {
  const s = serde();
  const opts = { seed: 4, users: 30, contents: 40, startTime: 5_000, stepMs: 10 };
  const a = new SampleTraffic(s, opts);
  const b = new SampleTraffic(s, opts);
  const heated = { contentId: 'c777', category: 'pets', allocationId: 'alloc-1' };
  for (let i = 0; i < 20; i++) {
    const ra = a.nextRequest();
    const rb = b.nextRequest();
    assert.deepEqual(ra, rb, 'serving never shifts the stream of requests');
    const organic = a.interaction(ra);
    const served = b.interaction(rb, heated);
    assert.equal(organic.content_id, ra.organic.contentId);
    assert.deepEqual([organic.heated, organic.allocation_id], [false, null]);
    assert.deepEqual(
      [served.content_id, served.category, served.heated, served.allocation_id, served.is_new_content],
      ['c777', 'pets', true, 'alloc-1', true],
    );
    assert.deepEqual(
      [served.event_id, served.user_id, served.event_time, served.user_registered_at],
      [organic.event_id, organic.user_id, organic.event_time, organic.user_registered_at],
    );
  }
});

test('users click and finish items by their hidden appeal, which follows the published quality score', () => {
  const t = new SampleTraffic(serde(), { seed: 8, users: 500, contents: 100, startTime: 0 });
  const ids = Array.from({ length: 400 }, (_, i) => `c${i}`).sort((x, y) => t.appeal(x) - t.appeal(y));
  const poor = ids.slice(0, 40);
  const good = ids.slice(-40);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(mean(good.map((c) => t.qualityScore(c))) > mean(poor.map((c) => t.qualityScore(c))) + 0.4);
  // The same requests, each served once with a good and once with a poor item of the user's own category.
  const outcome = (items: string[]) => {
    let clicks = 0;
    let engaged = 0;
    const replay = new SampleTraffic(serde(), { seed: 8, users: 500, contents: 100, startTime: 0 });
    for (let i = 0; i < 20_000; i++) {
      const r = replay.nextRequest();
      const v = replay.interaction(r, {
        contentId: items[i % items.length],
        category: r.interests[0],
        allocationId: 'a',
      });
      if (v.click) clicks++;
      if (v.click && v.completion >= 0.5) engaged++;
    }
    return { ctr: clicks / 20_000, engagedRate: engaged / Math.max(1, clicks) };
  };
  const g = outcome(good);
  const p = outcome(poor);
  assert.ok(g.ctr > 2.5 * p.ctr, `good ${g.ctr} vs poor ${p.ctr}`);
  assert.ok(g.engagedRate > 0.7 && p.engagedRate < 0.4, `engaged ${g.engagedRate} vs ${p.engagedRate}`);
});

test('the organic feed keeps a bounded fresh shelf: only the latest publications are served as new', () => {
  const s = serde();
  const t = new SampleTraffic(s, { seed: 2, users: 100, contents: 30, startTime: 0, publishEvery: 1 });
  let published = 30;
  let oldest = 0; // publications since the oldest item served as new was published
  const freshIds: number[] = [];
  for (let i = 0; i < 40_000; i++) {
    const e = t.nextEvent();
    if (e.record) published++;
    else if (e.request.organic.isNew) {
      const id = Number(e.request.organic.contentId.slice(1));
      oldest = Math.max(oldest, published - id);
      freshIds.push(id);
    }
  }
  assert.ok(published > 19_000);
  // Ten categories × the 50 latest items each: nothing older than the last several hundred publications.
  assert.ok(oldest < 1000, `an item ${oldest} publications old was served as new`);
  assert.ok(new Set(freshIds).size > 100, 'the shelf turns over');
});
