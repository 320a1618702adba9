// How in-process cost grows with users, contents and partitions: one fresh process per size
// (bench/inprocess.ts), 500k interactions each. Prints one JSON line per size and a summary.
//   npx tsx bench/scaling.ts [events]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const events = Number(process.argv[2] ?? 500_000);
const sizes: [string, number, number, number][] = [
  // [varies, users, contents, partitions]
  ['base', 100_000, 10_000, 6],
  ['users', 1_000_000, 10_000, 6],
  ['contents', 100_000, 100_000, 6],
  ['partitions', 100_000, 10_000, 2],
  ['partitions', 100_000, 10_000, 12],
];
const rows = [];
for (const [varies, users, contents, partitions] of sizes) {
  const out = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/inprocess.ts',
      String(users),
      String(contents),
      String(events),
      String(partitions),
      '5000',
      '30000',
    ],
    { cwd: root, maxBuffer: 1 << 20 },
  ).toString();
  const r = JSON.parse(out.trim().split('\n').pop()!);
  const row = {
    varies,
    users,
    contents,
    partitions,
    events: r.events,
    eventsPerS: Math.round(r.eventsPerS),
    eventsPerCpuS: Math.round(r.eventsPerCpuS),
    cpuSeconds: +r.cpuSeconds.toFixed(1),
  };
  console.log(JSON.stringify(row));
  rows.push(row);
}
