// The bench's per-process CPU readings (bench/proc-cpu.ts) on this process: /proc figures that
// grow with work done, on the thread that did it, and the listener of a port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import {
  boxBusySeconds,
  CpuWindow,
  listenerPid,
  processCpuSeconds,
  threadCpuSeconds,
} from '../../bench/proc-cpu.js';

const linux = process.platform === 'linux';

/** Burns `ms` of CPU time on this thread (CPU, not wall: the box may be busy). */
function spin(ms: number): void {
  const start = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + 1);
    const used = process.cpuUsage(start);
    if (used.user + used.system >= ms * 1000) break;
  }
  assert.ok(x > 0);
}

test('CPU seconds of this process grow by the work done, on its main thread', { skip: !linux }, () => {
  const p0 = processCpuSeconds(process.pid)!;
  const t0 = threadCpuSeconds(process.pid)!;
  const b0 = boxBusySeconds()!;
  spin(300);
  const p1 = processCpuSeconds(process.pid)!;
  const t1 = threadCpuSeconds(process.pid)!;
  assert.ok(p1 - p0 >= 0.2, `process CPU grew by ${p1 - p0} s`);
  assert.ok(t1.main - t0.main >= 0.2, `main thread CPU grew by ${t1.main - t0.main} s`);
  const threads = t1.main + t1.kafkaClient + t1.other;
  // Live threads only (ended ones stay in the process's total), each rounded to a clock tick.
  assert.ok(threads <= p1 + 0.05, `threads ${threads} s vs process ${p1} s`);
  assert.ok(boxBusySeconds()! - b0 >= 0.2);
  assert.equal(processCpuSeconds(2 ** 22 + 1), null); // above pid_max: no such process
});

test('a CPU window reports CPU per event of the watched processes and of this one', { skip: !linux }, () => {
  const w = new CpuWindow([
    { name: 'me', pid: process.pid, threads: true },
    { name: 'none', pid: undefined },
  ]);
  spin(200);
  const r = w.stop(1000, 'self');
  assert.deepEqual(
    r.shares.map((s) => s.name),
    ['me', 'self'],
  );
  const me = r.shares[0];
  assert.ok(me.cpuSeconds >= 0.15 && me.usPerEvent >= 150, JSON.stringify(me));
  assert.ok(me.threadsUsPerEvent!.main >= 150);
  assert.ok(r.shares[1].usPerEvent >= 150);
  assert.ok(r.wallSeconds >= 0.15);
});

test('the listener of a TCP port is found; a closed port has none', { skip: !linux }, async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  try {
    assert.equal(listenerPid(port), process.pid);
  } finally {
    await new Promise((r) => srv.close(r));
  }
  assert.equal(listenerPid(port), null);
});
