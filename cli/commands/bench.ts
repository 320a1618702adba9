// `thermostat bench [--quick] [--json]`: the performance benchmark (bench/run.ts, docs/results/performance.md).
// Progress goes to stderr; with --json the last stdout line is one JSON object with the keys.
// bench/ is part of a checkout, not of the package: loaded only when the command runs.
import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { assertWritable, nameList } from '../options.js';
import { packageRoot } from '../package-info.js';

/** The parts of bench/run.ts, in run order (a test checks the two lists agree). */
export const BENCH_PARTS = [
  'inprocess',
  'naive',
  'redis',
  'memory',
  'alloc',
  'e2e',
  'latency',
  'recovery',
  'scaleout',
] as const;

/** bench/run.ts's entry, typed here so the build does not follow it. */
export type RunBench = (o: {
  quick: boolean;
  only?: string[];
  log: (m: string) => void;
  onProgress: (result: unknown, details: unknown) => void;
}) => Promise<{ result: { notes: string }; details: unknown }>;

interface BenchOptions {
  quick?: boolean;
  json?: boolean;
  details?: string;
  only?: string[];
  /** Set on the re-run with the larger heap. */
  child?: boolean;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description(
      'Measure throughput, latency, Redis commands, memory, recovery and allocation scoring (from a checkout).',
    )
    .option('--quick', 'small sizes, under 2 minutes')
    .option('--json', 'print one JSON object as the last line')
    .option('--details <file>', 'also write the detailed measurements (JSON) to this file')
    .option(
      '--only <parts>',
      `comma-separated parts: ${BENCH_PARTS.join(',')} (scaleout only when named)`,
      nameList(BENCH_PARTS),
    )
    .addOption(new Option('--child', 'running in the child with the larger heap').hideHelp())
    .action(async (o: BenchOptions) => {
      if (!existsSync(`${packageRoot}/bench/run.ts`))
        throw new UsageError('bench runs from a source checkout (bench/ is not part of the package)');
      assertWritable('--details', o.details);
      // The full run holds 1M users of state and millions of records: re-run in a child with a
      // larger heap than Node's default (which the full run exceeds).
      if (!o.child) {
        const { spawnSync } = await import('node:child_process');
        const r = spawnSync(
          process.execPath,
          // A 64 MiB young generation: the graph's per-batch garbage dies young instead of being
          // promoted (≈ +25 % events per CPU-second in-process, docs/results/performance.md).
          [
            ...process.execArgv,
            '--max-old-space-size=12288',
            '--max-semi-space-size=64',
            process.argv[1],
            ...process.argv.slice(2),
            '--child',
          ],
          { stdio: 'inherit' },
        );
        process.exit(r.status ?? 1);
      }
      // A computed specifier: the package build must not follow it into bench/ (and test/).
      const benchModule = '../../bench/run.js';
      const { runBench } = (await import(benchModule)) as { runBench: RunBench };
      const t0 = Date.now();
      const { writeFileSync } = await import('node:fs');
      const save = (result: unknown, details: unknown) => {
        if (o.details) writeFileSync(o.details, JSON.stringify({ result, details }, null, 2));
      };
      const { result, details } = await runBench({
        quick: Boolean(o.quick),
        only: o.only,
        log: (m) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}\n`),
        onProgress: save,
      });
      save(result, details);
      if (o.json) console.log(JSON.stringify(result));
      else {
        for (const [k, v] of Object.entries(result))
          if (k !== 'notes') console.log(`${k.padEnd(28)} ${v ?? 'n/a'}`);
        console.log(`notes: ${result.notes}`);
      }
      process.exit(0); // child processes and clients are closed; do not wait on stray handles
    });
}
