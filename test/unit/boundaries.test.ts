// Import boundaries between folders, read from the sources: production code (what
// tsconfig.build.json compiles) imports neither test/ nor bench/; bench/ does not import test/
// (its fixtures live in bench/support, which the tests share).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function tsFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) tsFiles(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Relative import specifiers of a file (static, dynamic with a literal, and re-exports), resolved from the root. */
function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g))
    out.push(relative(root, resolve(dirname(file), m[1])));
  return out;
}

function productionFiles(): string[] {
  const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  return build.include.flatMap((p) => {
    const full = join(root, p);
    return statSync(full).isDirectory() ? tsFiles(full) : [full];
  });
}

test('production code imports nothing from test/ or bench/', () => {
  const files = productionFiles();
  assert.ok(files.length > 100, `read ${files.length} production files`);
  const bad = files.flatMap((f) =>
    importsOf(f)
      .filter((i) => /^(test|bench)\//.test(i))
      .map((i) => `${relative(root, f)} → ${i}`),
  );
  assert.deepEqual(bad, []);
});

test('the production build compiles neither test/ nor bench/', () => {
  const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as {
    include: string[];
    exclude: string[];
  };
  for (const dir of ['test', 'bench']) {
    assert.ok(!build.include.includes(dir), `${dir} is not included`);
    assert.ok(build.exclude.includes(dir), `${dir} is excluded`);
  }
});

test('bench/ imports nothing from test/', () => {
  const bad = tsFiles(join(root, 'bench')).flatMap((f) =>
    importsOf(f)
      .filter((i) => i.startsWith('test/'))
      .map((i) => `${relative(root, f)} → ${i}`),
  );
  assert.deepEqual(bad, []);
});
