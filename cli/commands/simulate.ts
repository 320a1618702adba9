// `thermostat simulate`: runs the simulated world under each policy (same seed), prints the
// side-by-side table, optionally an A/B run in one population, and writes --json / --html.
import { writeFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { runAb, type AbResult } from '../../sim/ab.js';
import { WORLD_NAMES, defaultWorldConfig, parseWorldName, type WorldName } from '../../sim/config.js';
import { checkPolicies, policyNames } from '../../sim/policies.js';
import { abTextTable, htmlReport, textTable } from '../../sim/report.js';
import { policyContext, runPolicy } from '../../sim/run.js';
import type { RunResult } from '../../sim/metrics.js';
import { parseTransportKind, type TransportKind, type TransportOptions } from '../../sim/transport.js';

const int =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`--${name} must be a non-negative integer, got '${v}'`);
    return n;
  };

export function register(program: Command): void {
  program
    .command('simulate')
    .description(
      'Simulate users, creators and cheaters under regulation policies and compare them (docs/SIMULATOR.md).',
    )
    .option('--policy <names>', `comma-separated policies (${policyNames().join(', ')})`, 'popularity,manual')
    .option('--users <n>', 'simulated users', int('users'), 2000)
    .option('--days <n>', 'simulated days', int('days'), 7)
    .option('--seed <n>', 'seed (same seed, same numbers)', int('seed'), 1)
    .option(
      '--world <name>',
      `simulated world (${WORLD_NAMES.join(', ')}; docs/SIMULATOR.md)`,
      (v: string) => {
        try {
          return parseWorldName(v);
        } catch (e) {
          throw new InvalidArgumentError((e as Error).message);
        }
      },
      'today' as WorldName,
    )
    .option(
      '--budget <n>',
      "Thermostat's heating pool, impressions per day (default: the job's)",
      int('budget'),
    )
    .option(
      '--json <file>',
      'write { policies: { name: { metric: number } }, config, series, lorenz, learning, ab? }',
    )
    .option('--html <file>', 'write a self-contained HTML report with plots')
    .option('--ab', 'also run the policies as A/B arms in one population (first policy = control)')
    .option('--bootstrap <n>', 'bootstrap resamples for A/B confidence intervals', int('bootstrap'), 200)
    .option('--no-progress', 'no progress bar')
    .option(
      '--transport <kind>',
      "how the Thermostat policies reach the graph: 'inprocess' (in-memory topics) or 'kafka' (the real job on the local Kafka and Redis)",
      (v: string) => {
        try {
          return parseTransportKind(v);
        } catch (e) {
          throw new InvalidArgumentError((e as Error).message);
        }
      },
      'inprocess' as TransportKind,
    )
    .option(
      '--brokers <list>',
      'Kafka bootstrap servers for --transport kafka',
      process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
    )
    .option(
      '--redis <url>',
      "Redis for the job's checkpoints with --transport kafka",
      process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    )
    .action(
      async (o: {
        policy: string;
        users: number;
        days: number;
        seed: number;
        world: WorldName;
        budget?: number;
        json?: string;
        html?: string;
        ab?: boolean;
        bootstrap: number;
        progress: boolean;
        transport: TransportKind;
        brokers: string;
        redis: string;
      }) => {
        const names = o.policy
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const cfg = defaultWorldConfig({ users: o.users, days: o.days, seed: o.seed, world: o.world });
        const transport: TransportOptions = { kind: o.transport, brokers: o.brokers, redisUrl: o.redis };
        const options = {
          transport,
          ...(o.budget !== undefined ? { agents: { system: { budgetPool: o.budget } } } : {}),
        };
        try {
          if (transport.kind === 'kafka') {
            // Loaded only for Kafka runs; fails fast instead of librdkafka retrying forever.
            const { probeBroker, probeRedis } = await import('../../sim/kafka-transport.js');
            await probeBroker(o.brokers);
            await probeRedis(o.redis);
          }
          await checkPolicies(names, policyContext(cfg, options));
        } catch (e) {
          process.stderr.write(`thermostat simulate: ${(e as Error).message}\n`);
          process.exitCode = 2;
          return;
        }
        const bar = o.progress
          ? new cliProgress.SingleBar(
              {
                stream: process.stderr,
                format: '{policy} [{bar}] {percentage}% | tick {value}/{total} | {duration_formatted}',
              },
              cliProgress.Presets.shades_classic,
            )
          : null;
        const policies: Record<string, RunResult> = {};
        for (const n of names) {
          bar?.start(1, 0, { policy: n.padEnd(18) });
          policies[n] = await runPolicy(n, cfg, {
            options,
            onTick: (_p, done, total) => {
              bar?.setTotal(total);
              bar?.update(done);
            },
          });
          bar?.stop();
        }
        let ab: AbResult | undefined;
        if (o.ab) {
          if (names.length < 2) {
            process.stderr.write('thermostat simulate: --ab needs at least two policies\n');
            process.exitCode = 2;
            return;
          }
          bar?.start(1, 0, { policy: 'A/B'.padEnd(18) });
          ab = await runAb(names, {
            world: cfg,
            bootstrap: o.bootstrap,
            options,
            onTick: (done, total) => {
              bar?.setTotal(total);
              bar?.update(done);
            },
          });
          bar?.stop();
        }
        process.stdout.write(
          `world=${cfg.world} users=${cfg.users} days=${cfg.days} seed=${cfg.seed} transport=${transport.kind}\n${textTable(policies)}\n`,
        );
        if (ab) process.stdout.write(`\n${abTextTable(ab)}\n`);
        if (o.json) {
          const out = {
            policies: Object.fromEntries(Object.entries(policies).map(([n, r]) => [n, r.metrics])),
            config: cfg,
            series: Object.fromEntries(Object.entries(policies).map(([n, r]) => [n, r.series])),
            lorenz: Object.fromEntries(Object.entries(policies).map(([n, r]) => [n, r.lorenz])),
            learning: Object.fromEntries(Object.entries(policies).map(([n, r]) => [n, r.learning ?? null])),
            ...(ab ? { ab } : {}),
          };
          writeFileSync(o.json, JSON.stringify(out, null, 2));
        }
        if (o.html) writeFileSync(o.html, htmlReport({ config: cfg, policies, ab }));
      },
    );
}
