// The effectiveness evaluation in one command (sim/effectiveness.ts, docs/results/effectiveness.md):
//   npx tsx bench/effectiveness.ts --worlds today,engagement --seeds 1-5 --users 1000 --days 5 \
//     --out docs/results/effectiveness
// writes <out>.json (every run's metrics and the summaries) and <out>.md (tables, mean [95% CI]).
// <out>.json is rewritten after each world and seed ("complete": false until the end), so an
// evaluation stopped part-way keeps the runs it finished.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { seedList } from '../cli/options.js';
import { WORLD_NAMES, parseWorldName } from '../sim/config.js';
import {
  markdown,
  runEffectiveness,
  summarise,
  summaryTable,
  type EffectivenessOptions,
} from '../sim/effectiveness.js';

const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got '${v}'`);
  return n;
};

const program = new Command()
  .name('effectiveness')
  .option('--worlds <names>', `comma-separated worlds (${WORLD_NAMES.join(', ')})`, WORLD_NAMES.join(','))
  .option('--seeds <list>', 'seeds, e.g. 1-5', seedList, [1, 2, 3, 4, 5])
  .option('--users <n>', 'simulated users', num, 1000)
  .option('--days <n>', 'simulated days', num, 5)
  .option('--budget-share <x>', "Thermostat's pool as a share of manual's heated impressions", num, 0.4)
  .option('--manual-share <x>', "manual heating's share of slots", num, 0.1)
  .option('--greedy-k <n>', 'draws of the quality-greedy heater', num, 5)
  .option('--out <prefix>', 'write <prefix>.json and <prefix>.md')
  .parse();

const o = program.opts<Omit<EffectivenessOptions, 'worlds' | 'onRun'> & { worlds: string; out?: string }>();
const worlds = o.worlds.split(',').map((w) => parseWorldName(w.trim()));
const t0 = Date.now();
const meta = () => ({
  command: `npx tsx bench/effectiveness.ts ${process.argv.slice(2).join(' ')}`,
  date: new Date().toISOString(),
  machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg()[0].toFixed(1)}`,
  wall_s: (Date.now() - t0) / 1000,
});
const runs = await runEffectiveness({
  worlds,
  seeds: o.seeds,
  users: o.users,
  days: o.days,
  budgetShare: o.budgetShare,
  manualShare: o.manualShare,
  greedyK: o.greedyK,
  onRun: (w, s, p, sec) =>
    process.stderr.write(
      `[${((Date.now() - t0) / 1000).toFixed(0)}s] ${w} seed ${s} ${p}: ${sec.toFixed(1)} s\n`,
    ),
  onSeed: (sofar) => {
    if (o.out)
      writeFileSync(
        `${o.out}.json`,
        JSON.stringify({ meta: meta(), complete: false, options: o, runs: sofar }, null, 2),
      );
  },
});
const summaries = summarise(runs);
const md = `${summaryTable(summaries)}\n\n${markdown(summaries)}`;
process.stdout.write(`${md}\n`);
if (o.out) {
  const m = meta();
  writeFileSync(
    `${o.out}.json`,
    JSON.stringify({ meta: m, complete: true, options: o, runs, summaries }, null, 2),
  );
  writeFileSync(`${o.out}.md`, `<!-- ${m.command} | ${m.date} | ${m.machine} -->\n\n${md}\n`);
}
