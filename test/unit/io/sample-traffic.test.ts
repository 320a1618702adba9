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
