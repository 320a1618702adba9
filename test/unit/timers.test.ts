import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleepOn, VirtualTime } from '../../core/timers.js';
import { settle } from '../support/virtual-time.js';

test('VirtualTime fires timers due on the way in time order, each at its own instant', () => {
  const t = new VirtualTime(1000);
  const fired: string[] = [];
  t.setTimeout(() => fired.push(`b@${t.now()}`), 20);
  t.setTimeout(() => fired.push(`a@${t.now()}`), 10);
  t.setTimeout(() => fired.push(`c@${t.now()}`), 20); // same instant as b: set later, fires later
  const gone = t.setTimeout(() => fired.push('cleared'), 5);
  t.clearTimeout(gone);
  assert.equal(t.nextAt(), 1010);
  assert.equal(t.advance(15), 1015);
  assert.deepEqual(fired, ['a@1010']);
  t.advance(100);
  assert.deepEqual(fired, ['a@1010', 'b@1020', 'c@1020']);
  assert.equal(t.now(), 1115);
  assert.equal(t.nextAt(), null);
});

test('VirtualTime intervals repeat until cleared; a timer set while firing runs in the same advance', () => {
  const t = new VirtualTime(0);
  const ticks: number[] = [];
  const h = t.setInterval(() => {
    ticks.push(t.now());
    if (ticks.length === 2) t.setTimeout(() => ticks.push(-t.now()), 5);
  }, 10);
  t.advance(35);
  assert.deepEqual(ticks, [10, 20, -25, 30]);
  t.clearInterval(h);
  t.advance(100);
  assert.deepEqual(ticks, [10, 20, -25, 30]);
});

test('sleepOn resolves only once virtual time has passed', async () => {
  const t = new VirtualTime(0);
  let done = false;
  const p = sleepOn(t)(50).then(() => (done = true));
  await settle();
  assert.equal(done, false);
  t.advance(49);
  await settle();
  assert.equal(done, false);
  t.advance(1);
  await p;
  assert.equal(done, true);
});
