import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialQueue } from '../../core/serial-queue.js';

/** A step that logs its start and end and ends when the test says so. */
function gate(log: string[], name: string): { step: () => Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((r) => (open = r));
  return {
    step: async () => {
      log.push(`${name} start`);
      await opened;
      log.push(`${name} end`);
    },
    open: () => open(),
  };
}

const ticks = async (n = 5) => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

test('SerialQueue: a step queued while another runs starts only once that one settled, failures included', async () => {
  const q = new SerialQueue();
  const log: string[] = [];
  assert.equal(q.pending, null);
  const assign = gate(log, 'assign');
  const revoke = gate(log, 'revoke');
  const first = q.push(assign.step);
  const failing = q.push(async () => {
    log.push('failing');
    throw new Error('hook failed');
  });
  const last = q.push(revoke.step);
  await ticks();
  assert.deepEqual(log, ['assign start'], 'the later steps wait for the one running');
  assert.notEqual(q.pending, null);
  assign.open();
  await first;
  await assert.rejects(failing, /hook failed/);
  await ticks();
  assert.deepEqual(log, ['assign start', 'assign end', 'failing', 'revoke start']);
  revoke.open();
  await last;
  await q.pending;
  await ticks();
  assert.deepEqual(log.at(-1), 'revoke end');
  assert.equal(q.pending, null, 'nothing pending once every step settled');
});
