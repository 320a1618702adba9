// The CLI's contract with a shell: one-line errors naming the flag, key, path or address; exit 2
// for usage and configuration errors, 1 for runtime failures; nothing runs before the checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { runBench } from '../../../bench/run.js';
import { BENCH_PARTS, type RunBench } from '../../../cli/commands/bench.js';
import { main } from '../../../cli/main.js';

// bench/ is loaded by a computed specifier: this keeps its declared type in step (tsc checks it).
const _benchEntry: RunBench = null as unknown as typeof runBench;

async function cli(args: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const code = await main(['node', 'thermostat', ...args], {
      writeOut: (s) => void (out += s),
      writeErr: (s) => void (err += s),
    });
    return { code, out, err };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** One line, no stack trace. */
function assertOneLine(err: string): void {
  assert.equal(err.trim().split('\n').length, 1, `one line, got:\n${err}`);
  assert.doesNotMatch(err, /\n\s+at /);
}

test('--version prints the package version and exits 0', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
  const r = await cli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.out.trim(), pkg.version);
});

test('bad numbers are usage errors naming the flag: exit 2, one line', async () => {
  for (const [args, flag] of [
    [['simulate', '--users', 'abc'], '--users'],
    [['simulate', '--days', '0'], '--days'],
    [['simulate', '--seed', '1.5'], '--seed'],
    [['simulate', '--seeds', '5-1'], '--seeds'],
    [['simulate', '--bootstrap', '-3'], '--bootstrap'],
    [['run', '--rate', 'fast'], '--rate'],
    [['run', '--corrupt-fraction', '2'], '--corrupt-fraction'],
    [['produce-sample', '--users', '0'], '--users'],
  ] as const) {
    const r = await cli([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, new RegExp(`option '${flag}`), args.join(' '));
    assertOneLine(r.err);
  }
});

test('unknown names are usage errors that list the valid ones', async () => {
  const bench = await cli(['bench', '--only', 'inprocess,nope']);
  assert.equal(bench.code, 2);
  assert.match(
    bench.err,
    /--only.*unknown 'nope'.*inprocess, naive, redis, memory, alloc, e2e, latency, recovery/,
  );
  const policy = await cli(['simulate', '--policy', 'popularity,nope']);
  assert.equal(policy.code, 2);
  assert.match(policy.err, /--policy.*unknown 'nope'.*popularity, manual/);
  const transport = await cli(['simulate', '--transport', 'carrier-pigeon']);
  assert.equal(transport.code, 2);
  assert.match(transport.err, /--transport.*inprocess, kafka/);
  assert.equal((await cli(['stack', 'sideways'])).code, 2);
  assert.equal((await cli(['nonsense'])).code, 2);
  for (const r of [bench, policy, transport]) assertOneLine(r.err);
});

test('output paths and flag combinations are checked before any simulation runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  for (const [args, message] of [
    [['--html', join(dir, 'missing', 'r.html')], /--html .*folder .*missing does not exist/],
    [['--json', dir], /--json .*is a folder/],
    [['--ab', '--policy', 'popularity'], /--ab needs at least two policies/],
    [['--ab', '--seeds', '1-2'], /--ab runs one population/],
  ] as const) {
    const write = process.stdout.write.bind(process.stdout);
    let stdout = '';
    process.stdout.write = ((s: string) => ((stdout += s), true)) as typeof process.stdout.write;
    let r;
    try {
      r = await cli(['simulate', '--users', '50', '--days', '1', '--no-progress', ...args]);
    } finally {
      process.stdout.write = write;
    }
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, message);
    assertOneLine(r.err);
    assert.equal(stdout, '', 'nothing ran');
  }
});

test('a bad configuration value is exit 2 naming the key and its environment variable', async () => {
  const r = await cli(['run'], { THERMOSTAT_TICK_MS: 'soon', KAFKA_BROKERS: '127.0.0.1:1' });
  assert.equal(r.code, 2);
  assert.equal(
    r.err.trim(),
    'thermostat: invalid configuration tickMs (env THERMOSTAT_TICK_MS): expected an integer, got "soon"',
  );
});

test('an unreachable broker fails within the probe bound, naming the address: exit 1', async () => {
  const r = await cli(['run', '--no-sample-traffic'], { KAFKA_BROKERS: '127.0.0.1:1' });
  assert.equal(r.code, 1);
  assert.match(r.err, /^thermostat: cannot reach Kafka at 127\.0\.0\.1:1 within 10 s/);
  assertOneLine(r.err);
});

test('the bench parts the CLI accepts are the parts bench/run.ts runs, in order', () => {
  const source = readFileSync(new URL('../../../bench/run.ts', import.meta.url), 'utf8');
  const parts = [...source.matchAll(/await part\('([a-z0-9]+)'/g)].map((m) => m[1]);
  assert.deepEqual(parts, [...BENCH_PARTS]);
});
