// The stall guard on a manual clock: a gap between commit-timer rounds above max(3 intervals, 3 s)
// skips that round and holds early rounds until the next regular one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../../core/clock.js';
import { StallGuard } from '../../../../runtime/kafka/stall.js';

test('regular rounds go ahead; a stall skips one round and holds early rounds until the next', () => {
  const clock = new ManualClock(0);
  const g = new StallGuard(clock, 2000);
  assert.equal(g.limitMs, 6000);
  clock.advance(2000);
  assert.equal(g.round(), null);
  assert.equal(g.held(), false);
  // Frozen for 10 s: before the timer fires, early rounds already see the stall.
  clock.advance(10_000);
  assert.equal(g.held(), true);
  assert.equal(g.round(), 10_000); // skipped, reporting the gap
  clock.advance(1999);
  assert.equal(g.held(), true); // held until the next regular round
  clock.advance(1);
  assert.equal(g.held(), false);
  assert.equal(g.round(), null);
});

test('short intervals: a stall is at least 3 s; restart() starts the timer afresh', () => {
  const clock = new ManualClock(0);
  const g = new StallGuard(clock, 100);
  assert.equal(g.limitMs, 3000);
  clock.advance(3000);
  assert.equal(g.round(), null); // the limit itself is not a stall
  clock.advance(50_000);
  g.restart();
  clock.advance(100);
  assert.equal(g.held(), false);
  assert.equal(g.round(), null);
});

test('an early round counts as a round: the next gap is measured from it', () => {
  const clock = new ManualClock(0);
  const g = new StallGuard(clock, 1000);
  clock.advance(2500);
  g.earlyRound(); // the commit timer restarts from here
  clock.advance(2500);
  assert.equal(g.held(), false); // 5 s since the last timer round, 2.5 s since the early one
  assert.equal(g.round(), null);
  clock.advance(3001);
  assert.equal(g.held(), true); // a stall after it is still one
});
