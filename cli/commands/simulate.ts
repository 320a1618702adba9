// `thermostat simulate`: runs the simulated world under each policy, for one seed or several,
// prints the side-by-side table (mean and 95% CI across seeds), optionally an A/B run in one
// population, and writes --json / --html. Flags and output paths are checked before any run.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadRuntimeConfig } from '../../core/config.js';
import { runAb, type AbResult } from '../../sim/ab.js';
import { summarize } from '../../sim/aggregate.js';
import { WORLD_NAMES, defaultWorldConfig, type WorldConfig, type WorldName } from '../../sim/config.js';
import type { RunResult } from '../../sim/metrics.js';
import { checkPolicies, policyNames } from '../../sim/policies.js';
import { abTextTable, htmlReport, textSummaryTable, textTable, type Provenance } from '../../sim/report.js';
import { policyContext, runPolicy } from '../../sim/run.js';
import { TRANSPORT_KINDS, type TransportKind, type TransportOptions } from '../../sim/transport.js';
import { UsageError } from '../errors.js';
import { assertWritable, integer, nameList, seedList } from '../options.js';
import { packageRoot } from '../package-info.js';

interface SimulateOptions {
  policy: string[];
  users: number;
  days: number;
  seed: number;
  world: WorldName;
  budget?: number;
  seeds?: number[];
  json?: string;
  html?: string;
  ab?: boolean;
  bootstrap: number;
  progress: boolean;
  transport: TransportKind;
  brokers?: string;
  redis?: string;
}

/** The commit the report was made from: `git rev-parse HEAD`, "+dirty" with local changes. */
function commitOf(root: string): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
    const head = git('rev-parse', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${head}+dirty` : head;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** Fails before a run of minutes: policies that cannot start, brokers or Redis that do not answer. */
async function preflight(o: SimulateOptions, cfg: WorldConfig, transport: TransportOptions): Promise<void> {
  if (o.ab && o.policy.length < 2) throw new UsageError('--ab needs at least two policies in --policy');
  assertWritable('--json', o.json);
  assertWritable('--html', o.html);
  if (transport.kind === 'kafka') {
    const { probeBroker, probeRedis } = await import('../../io/probe.js');
    await probeBroker(transport.brokers!);
    await probeRedis(transport.redisUrl!);
  }
  try {
    await checkPolicies(o.policy, policyContext(cfg, { transport }));
  } catch (e) {
    throw new UsageError(`--policy: ${(e as Error).message}`);
  }
}

async function simulate(o: SimulateOptions, argv: readonly string[]): Promise<void> {
  const seeds = o.seeds ?? [o.seed];
  const worldOf = (seed: number) =>
    defaultWorldConfig({ users: o.users, days: o.days, seed, world: o.world });
  const cfg = worldOf(seeds[0]);
  // The job's brokers and Redis (config file, environment) unless given on the command line.
  const job = o.transport === 'kafka' ? loadRuntimeConfig() : undefined;
  const transport: TransportOptions = {
    kind: o.transport,
    brokers: o.brokers ?? job?.kafka.brokers,
    redisUrl: o.redis ?? job?.redis.url,
  };
  // Thermostat's only setting a run may change: its heating pool (impressions per day).
  const options = {
    transport,
    ...(o.budget !== undefined ? { agents: { system: { budgetPool: o.budget } } } : {}),
  };
  await preflight(o, cfg, transport);

  const bar = o.progress
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: '{policy} [{bar}] {percentage}% | tick {value}/{total} | {duration_formatted}',
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  const progress = (label: string) => {
    bar?.start(1, 0, { policy: label.padEnd(24) });
    return (done: number, total: number) => {
      bar?.setTotal(total);
      bar?.update(done);
    };
  };
  const runs: Record<string, RunResult[]> = Object.fromEntries(o.policy.map((n) => [n, []]));
  for (const seed of seeds)
    for (const n of o.policy) {
      const tick = progress(seeds.length > 1 ? `${n} seed ${seed}` : n);
      runs[n].push(await runPolicy(n, worldOf(seed), { options, onTick: (_p, d, t) => tick(d, t) }));
      bar?.stop();
    }
  let ab: AbResult | undefined;
  if (o.ab) {
    const tick = progress('A/B');
    ab = await runAb(o.policy, { world: cfg, bootstrap: o.bootstrap, options, onTick: tick });
    bar?.stop();
  }

  const summary = summarize(seeds, runs);
  const single = Object.fromEntries(o.policy.map((n) => [n, runs[n][0]]));
  process.stdout.write(
    `users=${cfg.users} days=${cfg.days} seeds=${seeds.join(',')} transport=${transport.kind}\n` +
      `${seeds.length > 1 ? textSummaryTable(summary) : textTable(single)}\n`,
  );
  if (ab) process.stdout.write(`\n${abTextTable(ab)}\n`);
  if (o.json) {
    const perPolicy = <T>(f: (runs: RunResult[], n: string) => T) =>
      Object.fromEntries(o.policy.map((n) => [n, f(runs[n], n)]));
    const out = {
      // Means over the seeds (the run itself with one seed).
      policies: perPolicy((_r, n) =>
        Object.fromEntries(Object.entries(summary.metrics[n]).map(([m, e]) => [m, e.mean])),
      ),
      config: cfg,
      seeds,
      series: perPolicy((r) => r[0].series),
      lorenz: perPolicy((r) => r[0].lorenz),
      learning: perPolicy((r) => r[0].learning ?? null),
      ...(seeds.length > 1
        ? {
            perSeed: perPolicy((r) => r.map((x) => x.metrics)),
            summary: { metrics: summary.metrics, lifts: summary.lifts },
          }
        : {}),
      ...(ab ? { ab } : {}),
    };
    writeFileSync(o.json, JSON.stringify(out, null, 2));
  }
  if (o.html) {
    const provenance: Provenance = {
      commit: commitOf(packageRoot),
      command: ['thermostat', ...argv].join(' '),
      generatedAt: new Date().toISOString(),
    };
    writeFileSync(o.html, htmlReport({ config: cfg, policies: single, runs, seeds, ab, provenance }));
  }
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description(
      'Simulate users, creators and cheaters under regulation policies and compare them (docs/SIMULATOR.md).',
    )
    .option(
      '--policy <names>',
      `comma-separated policies (${policyNames().join(', ')})`,
      nameList(policyNames()),
      ['popularity', 'manual'],
    )
    .option('--users <n>', 'simulated users', integer(1), 2000)
    .option('--days <n>', 'simulated days', integer(1, 365), 7)
    .option('--seed <n>', 'seed (same seed, same numbers)', integer(0), 1)
    .option('--seeds <list>', 'several seeds, e.g. 1-5 or 1,3,7: mean and 95% CI across them', seedList)
    .addOption(
      new Option('--world <name>', 'simulated world (docs/SIMULATOR.md §2)')
        .choices(WORLD_NAMES)
        .default('today'),
    )
    .option('--budget <n>', "Thermostat's heating pool, impressions per day (default: the job's)", integer(0))
    .option(
      '--json <file>',
      'write { policies: { name: { metric: number } }, config, seeds, series, lorenz, learning, perSeed?, summary?, ab? }',
    )
    .option('--html <file>', 'write a self-contained HTML report with charts')
    .option('--ab', 'also run the policies as A/B arms in one population (first policy = control)')
    .option('--bootstrap <n>', 'bootstrap resamples for A/B confidence intervals', integer(1), 200)
    .option('--no-progress', 'no progress bar')
    .addOption(
      new Option(
        '--transport <kind>',
        "how the Thermostat policies reach the graph: 'inprocess' (in-memory topics) or 'kafka' (the real job on the local Kafka and Redis)",
      )
        .choices(TRANSPORT_KINDS)
        .default('inprocess'),
    )
    .option('--brokers <list>', 'Kafka bootstrap servers for --transport kafka (default: kafka.brokers)')
    .option('--redis <url>', "Redis for the job's checkpoints with --transport kafka (default: redis.url)")
    .action(async (o: SimulateOptions, command: Command) => {
      if (o.seeds && o.ab) throw new UsageError('--ab runs one population: use --seed, not --seeds');
      // The argv this command line was parsed from (main's, which is process.argv from a shell).
      const rawArgs = (command.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? process.argv;
      await simulate(o, rawArgs.slice(2));
    });
}
