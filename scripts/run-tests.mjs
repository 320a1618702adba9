#!/usr/bin/env node
// Runs the test suite with node's test runner (TypeScript through tsx) and ends with a closing
// line CI can read: "N passed, N failed, N skipped".
//   node scripts/run-tests.mjs                 # everything under test/
//   node scripts/run-tests.mjs test/unit       # a folder or single files
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const targets = process.argv.slice(2).length ? process.argv.slice(2) : ['test'];

function collect(p, out) {
  const st = statSync(p);
  if (st.isDirectory()) {
    for (const e of readdirSync(p).sort()) collect(join(p, e), out);
  } else if (/\.(test|spec)\.ts$/.test(p)) {
    out.push(p);
  }
  return out;
}
const files = targets.flatMap((t) => collect(resolve(root, t), []));
// Unit tests first: they are fast and need no broker.
files.sort(
  (a, b) => Number(a.includes('/integration/')) - Number(b.includes('/integration/')) || a.localeCompare(b),
);
if (files.length === 0) {
  console.error(`no test files under ${targets.join(' ')}`);
  process.exit(1);
}

const args = [
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=1',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  `--test-reporter=${join(root, 'scripts/summary-reporter.mjs')}`,
  '--test-reporter-destination=stdout',
  ...files,
];
const child = spawn(process.execPath, args, {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, NODE_ENV: 'test' },
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
