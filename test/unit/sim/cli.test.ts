import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../cli/main.js';

/** Runs `thermostat simulate …` in-process; returns its stdout. */
async function simulate(args: string[]): Promise<string> {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    const code = await main(['node', 'thermostat', 'simulate', '--no-progress', ...args], {
      writeOut: (s) => void (out += s),
      writeErr: (s) => assert.fail(s),
    });
    assert.equal(code, 0);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

test('simulate --json writes { policies: { name: { metric: number } }, config } and --html a self-contained page', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
  const out = await simulate([
    ...['--policy', 'popularity,manual', '--users', '200', '--days', '1', '--seed', '4'],
    ...['--json', join(dir, 'o.json'), '--html', join(dir, 'r.html')],
  ]);
  const j = JSON.parse(readFileSync(join(dir, 'o.json'), 'utf8'));
  assert.deepEqual(Object.keys(j.policies), ['popularity', 'manual']);
  for (const m of Object.values(j.policies) as Record<string, unknown>[])
    for (const v of Object.values(m)) assert.equal(typeof v, 'number');
  assert.equal(j.config.users, 200);
  assert.equal(j.config.seed, 4);
  assert.deepEqual(j.seeds, [4]);
  assert.match(out, /new_content_ctr/);
  const html = readFileSync(join(dir, 'r.html'), 'utf8');
  // Self-contained: inline scripts only, no address to load anything from.
  // (regex tests, not assert.match: a failure would print the whole inlined bundle)
  assert.ok(html.includes('<script>'), 'inline scripts');
  const external = /<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)[^\s"']*/.exec(html);
  assert.equal(external?.[0], undefined, 'no address to load anything from');
  const provenance = /<p id="provenance">[^]*?<\/p>/.exec(html)?.[0] ?? '';
  assert.match(
    provenance,
    /commit <code>[0-9a-f]{40}(\+dirty)?<\/code>, command <code>thermostat simulate --no-progress --policy popularity,manual/,
  );
});

test('simulate --seeds runs every seed and reports the mean with a 95% CI across them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
  const out = await simulate([
    ...['--policy', 'popularity,manual', '--users', '150', '--days', '1', '--seeds', '1-3'],
    ...['--json', join(dir, 'o.json')],
  ]);
  assert.match(out, /seeds=1,2,3/);
  const j = JSON.parse(readFileSync(join(dir, 'o.json'), 'utf8'));
  assert.deepEqual(j.seeds, [1, 2, 3]);
  for (const p of ['popularity', 'manual']) {
    const perSeed: Record<string, number>[] = j.perSeed[p];
    assert.equal(perSeed.length, 3);
    const engagement = perSeed.map((m) => m.engagement);
    assert.ok(new Set(engagement).size > 1, 'seeds differ');
    const mean = engagement.reduce((a, b) => a + b, 0) / 3;
    assert.ok(Math.abs(j.policies[p].engagement - mean) < 1e-9);
    const e = j.summary.metrics[p].engagement;
    const sd = Math.sqrt(engagement.reduce((a, x) => a + (x - mean) ** 2, 0) / 2);
    assert.ok(
      Math.abs(e.hi - mean - (4.303 * sd) / Math.sqrt(3)) < 1e-6,
      't interval with 2 degrees of freedom',
    );
  }
  assert.ok(j.summary.lifts.some((l: { policy: string }) => l.policy === 'manual'));
  assert.match(out, /engagement\s+[\d,]+ \[[\d,]+, [\d,]+\]/);
});
