// Where the end-to-end CPU goes: CPU seconds (utime + stime from /proc/<pid>/stat, every thread
// of the process) of the processes an end-to-end run involves, sampled before and after, and the
// whole box's busy time from /proc/stat. Linux only; elsewhere every figure is null.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

let ticksPerS: number | undefined;
function clockTicks(): number {
  if (ticksPerS === undefined) {
    try {
      ticksPerS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerS = 100;
    }
  }
  return ticksPerS;
}

/** CPU seconds (user + system) a process has used so far; null if it is gone or not readable. */
export function processCpuSeconds(pid: number): number | null {
  try {
    return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** utime + stime (seconds) from the text of a /proc stat file. */
function statCpuSeconds(stat: string): number {
  // Fields after the command name (which may hold spaces) in parentheses: state is field 3,
  // utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / clockTicks();
}

/** A process's threads in three groups: its main thread, librdkafka's (`rdk:*`), all others (V8 helpers, libuv, workers). */
export interface ThreadGroups {
  main: number;
  kafkaClient: number;
  other: number;
}

/** CPU seconds of a process's live threads by group (threads that ended are not counted). */
export function threadCpuSeconds(pid: number): ThreadGroups | null {
  const g: ThreadGroups = { main: 0, kafkaClient: 0, other: 0 };
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  for (const tid of tids) {
    try {
      const s = statCpuSeconds(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8');
      if (Number(tid) === pid) g.main += s;
      else if (name.startsWith('rdk:')) g.kafkaClient += s;
      else g.other += s;
    } catch {
      // the thread ended meanwhile
    }
  }
  return g;
}

/** Busy CPU seconds of the whole box so far, over every core (everything but idle and iowait). */
export function boxBusySeconds(): number | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = cpu.slice(0, 8).reduce((s, x) => s + x, 0); // user..steal (guest is inside user)
    return (total - cpu[3] - cpu[4]) / clockTicks();
  } catch {
    return null;
  }
}

/** The process listening on TCP `port` (e.g. the local Kafka broker), null if none is found. */
export function listenerPid(port: number): number | null {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[];
    try {
      lines = readFileSync(table, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      // local_address ends in :PORT, state 0A = LISTEN, inode is field 10.
      if (f.length > 9 && f[1].endsWith(`:${hex}`) && f[3] === '0A') inodes.add(`socket:[${f[9]}]`);
    }
  }
  if (inodes.size === 0) return null;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry);
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

export interface CpuShare {
  name: string;
  cpuSeconds: number;
  /** CPU µs per interaction of the run. */
  usPerEvent: number;
  /** The same by thread group (processes watched with `threads`). */
  threadsUsPerEvent?: ThreadGroups;
}

/** CPU of named processes over a window (`start` … `stop`), per interaction. */
export class CpuWindow {
  private readonly at0: (number | null)[];
  private readonly threads0: (ThreadGroups | null)[];
  private readonly box0 = boxBusySeconds();
  private readonly self0 = process.cpuUsage();
  private readonly wall0 = performance.now();

  constructor(private readonly procs: { name: string; pid: number | undefined; threads?: boolean }[]) {
    this.at0 = procs.map((p) => (p.pid === undefined ? null : processCpuSeconds(p.pid)));
    this.threads0 = procs.map((p) => (p.pid !== undefined && p.threads ? threadCpuSeconds(p.pid) : null));
  }

  /**
   * Per process (and `self`: this process, the producer), CPU over the window per event; `box`:
   * every core's busy time, so box − the named processes is what else ran meanwhile.
   */
  stop(
    events: number,
    selfName: string,
  ): { shares: CpuShare[]; boxCpuSeconds: number | null; wallSeconds: number } {
    const per = (name: string, s: number): CpuShare => ({
      name,
      cpuSeconds: Number(s.toFixed(2)),
      usPerEvent: Number(((s * 1e6) / events).toFixed(1)),
    });
    const shares: CpuShare[] = [];
    this.procs.forEach((p, k) => {
      const now = p.pid === undefined ? null : processCpuSeconds(p.pid);
      const before = this.at0[k];
      if (now === null || before === null) return;
      const share = per(p.name, now - before);
      const t0 = this.threads0[k];
      const t1 = t0 && p.pid !== undefined ? threadCpuSeconds(p.pid) : null;
      if (t0 && t1) {
        const us = (a: number, b: number) => Number((((a - b) * 1e6) / events).toFixed(1));
        share.threadsUsPerEvent = {
          main: us(t1.main, t0.main),
          kafkaClient: us(t1.kafkaClient, t0.kafkaClient),
          other: us(t1.other, t0.other),
        };
      }
      shares.push(share);
    });
    const self = process.cpuUsage(this.self0);
    shares.push(per(selfName, (self.user + self.system) / 1e6));
    const box = boxBusySeconds();
    return {
      shares,
      boxCpuSeconds: box === null || this.box0 === null ? null : Number((box - this.box0).toFixed(2)),
      wallSeconds: Number(((performance.now() - this.wall0) / 1000).toFixed(2)),
    };
  }
}
