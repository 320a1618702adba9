// The online learner's training thread (learn/online/train-runner.ts): a PPO update and a warm
// start in the worker give bit for bit the weights of the same jobs in this thread (cpu backend in
// both), this thread stays free while the worker trains, and a thread that dies is reported once
// and its later jobs run here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALLOCATION_FEATURE_COUNT as F } from '../../../agents/scorer.js';
import { initAllocationWeights } from '../../../learn/allocation-model.js';
import { selectBackend } from '../../../learn/backend.js';
import { InlineTrainRunner, WorkerTrainRunner } from '../../../learn/online/train-runner.js';
import { ppoJob, weightData, type TrainJob } from '../../../learn/online/train-work.js';
import type { Experience } from '../../../learn/ppo.js';
import { Rng } from '../../../core/rng.js';

const PPO = { epochs: 2, minibatchSize: 32 };

function jobs(): TrainJob[] {
  const rng = new Rng(5);
  const base = initAllocationWeights(3);
  const batch: Experience[] = Array.from({ length: 96 }, () => {
    const obs = Float32Array.from({ length: F }, () => rng.next());
    const action = rng.next() < 0.5 ? 1 : 0;
    return { obs, action, logProb: Math.log(0.5), reward: action ? obs[2] - 0.4 : 0 };
  });
  const obs = new Float32Array(64 * F).map(() => rng.next());
  const targets = new Float32Array(64).map((_, i) => (obs[i * F + 2] > 0.5 ? 0.9 : 0.1));
  return [ppoJob(base, batch, 1), { kind: 'imitate', base: weightData(base), obs, targets, seq: 2, seed: 7 }];
}

const values = (o: { weights: { arrays: readonly { values: Float32Array }[] } }) =>
  o.weights.arrays.map((a) => Array.from(a.values));

test('the training thread gives the weights of the in-thread runner, and this thread stays free meanwhile', async () => {
  await selectBackend({ requested: 'cpu' });
  const inline = new InlineTrainRunner(PPO, 11);
  const worker = await WorkerTrainRunner.create({ backend: 'cpu', ppo: PPO, seed: 11 });
  try {
    for (const job of jobs()) {
      let turns = 0;
      const ticker = setInterval(() => turns++, 1);
      const fromThread = await worker.run(job);
      clearInterval(ticker);
      const here = inline.runNow(job);
      assert.equal(fromThread.weights.seq, job.seq);
      assert.deepEqual(values(fromThread), values(here), `${job.kind}: same weights`);
      if (job.kind === 'ppo') assert.equal(fromThread.ppo?.steps, here.ppo?.steps);
      assert.ok(turns > 0, `${job.kind}: the event loop ran while the thread trained`);
    }
  } finally {
    await worker.close();
    await inline.close();
  }
});

test('a training thread that dies is reported once; its later jobs run in this thread', async () => {
  const worker = await WorkerTrainRunner.create({ backend: 'cpu', ppo: PPO, seed: 11 });
  const deaths: string[] = [];
  worker.onDeath = (why) => deaths.push(why);
  await (worker as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  await new Promise((r) => setImmediate(r));
  const [job] = jobs();
  const out = await worker.run(job);
  assert.equal(out.weights.seq, 1);
  assert.equal(deaths.length, 1);
  await worker.run(job);
  assert.equal(deaths.length, 1, 'once');
  await worker.close();
});
