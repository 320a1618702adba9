import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { register } from '../../../cli/commands/simulate.js';

test('simulate --json writes { policies: { name: { metric: number } }, config } and --html a self-contained page', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
  const program = new Command('thermostat').exitOverride();
  register(program);
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    await program.parseAsync([
      'node',
      'thermostat',
      'simulate',
      '--policy',
      'popularity,manual',
      '--users',
      '200',
      '--days',
      '1',
      '--seed',
      '4',
      '--no-progress',
      '--json',
      join(dir, 'o.json'),
      '--html',
      join(dir, 'r.html'),
    ]);
  } finally {
    process.stdout.write = write;
  }
  const j = JSON.parse(readFileSync(join(dir, 'o.json'), 'utf8'));
  assert.deepEqual(Object.keys(j.policies), ['popularity', 'manual']);
  for (const m of Object.values(j.policies) as Record<string, unknown>[])
    for (const v of Object.values(m)) assert.equal(typeof v, 'number');
  assert.equal(j.config.users, 200);
  assert.equal(j.config.seed, 4);
  assert.match(out, /new_content_ctr/);
  const html = readFileSync(join(dir, 'r.html'), 'utf8');
  assert.match(html, /<svg/);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/);
});
