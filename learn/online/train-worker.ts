// The online learner's training thread: its own tfjs on the configured backend, one TrainWork, jobs
// answered in order. Scoring and the stream graph never wait for it (learn/online/train-runner.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { DEFAULT_LOADERS } from '../backend.js';
import { TrainWork, weightData } from './train-work.js';
import type { FromTrainer, ToTrainer, TrainerInit } from './train-runner.js';

const port = parentPort;
if (!port) throw new Error('train-worker must run as a worker thread');
const init = workerData as TrainerInit;

try {
  await DEFAULT_LOADERS[init.backend]();
  const work = new TrainWork(init.ppo, init.seed);
  port.on('message', (msg: ToTrainer) => {
    let reply: FromTrainer;
    try {
      const r = work.run(msg.job);
      reply = {
        type: 'done',
        id: msg.id,
        weights: weightData(r.weights),
        ppo: r.ppo,
        imitation: r.imitation,
      };
    } catch (e) {
      reply = { type: 'failed', id: msg.id, error: (e as Error).message };
    }
    port.postMessage(reply);
  });
  port.postMessage({ type: 'ready' } satisfies FromTrainer);
} catch (e) {
  port.postMessage({ type: 'init_failed', error: (e as Error).message } satisfies FromTrainer);
}
