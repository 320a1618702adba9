// The package as a user gets it: `npm pack` (prepack builds dist/) in a copy of the checkout
// without test/ (what the container build sees: .dockerignore drops it), so the production build
// fails here if it needs anything from test/; the tarball unpacked into an empty project whose node_modules holds only the package's declared dependencies (linked from
// this checkout's, so nothing is downloaded), then the README's library example runs from
// `import … from 'thermostat'` with plain node, type-checks against the packed .d.ts files, and
// the packed CLI answers --version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { partitionForKey } from '../../core/hash.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The README's library example: the js block after the `library-example` marker. */
function readmeExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const m = /<!-- library-example -->\s*```js\n([^]*?)```/.exec(readme);
  assert.ok(m, 'README.md has a js block after <!-- library-example -->');
  return m[1];
}

/** The checkout's files (tracked, and new ones git does not ignore) except test/, copied to `dir`. */
function copyWithoutTests(dir: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f !== '' && !f.startsWith('test/'));
  for (const f of files) {
    try {
      cpSync(join(root, f), join(dir, f));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // deleted, not yet committed
    }
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
}

test('npm pack from a tree without test/ → install in an empty project → the README example and the ranker helpers run from the package', () => {
  const work = mkdtempSync(join(tmpdir(), 'thermostat-pack-'));
  const tree = join(work, 'tree');
  copyWithoutTests(tree);
  const pack = spawnSync('npm', ['pack', '--pack-destination', work, '--loglevel=error'], {
    cwd: tree,
    encoding: 'utf8',
    timeout: 240_000,
  });
  assert.equal(
    pack.status,
    0,
    `npm pack (the production build) failed without test/: ${pack.stdout}${pack.stderr}`,
  );
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'a tarball');

  // What ships: the compiled code, the CLI, the Avro contract, the contract docs; no tests, no bench.
  const files = execFileSync('tar', ['-tzf', join(work, tarball)], { encoding: 'utf8' }).split('\n');
  for (const f of [
    'package/dist/index.js',
    'package/dist/index.d.ts',
    'package/dist/cli/main.js',
    'package/dist/schemas/registry.json',
    'package/dist/schemas/HeatingAllocation.avsc',
    'package/dist/schemas/internal/AllocatorInput.avsc',
    'package/bin/thermostat.mjs',
    'package/docs/CONTRACT.md',
  ])
    assert.ok(files.includes(f), `${f} is in the package`);
  assert.deepEqual(
    files.filter((f) => /\/(test|bench|scripts)\/|\.ts$(?<!\.d\.ts)|\.tsbuildinfo$/.test(f)),
    [],
    'no tests, benchmarks, scripts or TypeScript sources',
  );

  // An empty project with the package and exactly its declared dependencies.
  const app = join(work, 'app');
  const pkgDir = join(app, 'node_modules', 'thermostat');
  mkdirSync(pkgDir, { recursive: true });
  execFileSync('tar', ['-xzf', join(work, tarball), '-C', pkgDir, '--strip-components=1']);
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(manifest.dependencies)) {
    const link = join(app, 'node_modules', dep);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(root, 'node_modules', dep), link, 'dir');
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));

  const example = readmeExample();
  assert.match(example, /from 'thermostat'/);
  writeFileSync(join(app, 'example.mjs'), example);
  const run = spawnSync(process.execPath, ['example.mjs'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, `the example failed:\n${run.stderr}`);
  assert.match(run.stdout, /\[ 'c1: \d+ heated impressions'(, 'c1: \d+ heated impressions')* \]/, run.stdout);
  assert.match(run.stdout, /user_id: 'u1'/);
  assert.ok(
    run.stdout.includes(
      `{thermostat.user.${partitionForKey('u1', 6)}}:user:u1 partition ${partitionForKey('u1', 6)}`,
    ),
    run.stdout,
  );

  // Every ranker-side helper is importable from the package entry.
  const exports = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', "console.log(Object.keys(await import('thermostat')).join(' '))"],
    { cwd: app, encoding: 'utf8' },
  );
  assert.equal(exports.status, 0, exports.stderr);
  const names = exports.stdout.trim().split(' ');
  for (const name of [
    'followAllocations',
    'ActiveAllocationsView',
    'readUserMind',
    'readContentState',
    'readActiveAllocations',
    'partitionForKey',
    'userMindKey',
    'activeAllocationsKey',
    'Serde',
    'wireSerde',
    'LocalSchemaRegistry',
    'HttpSchemaRegistry',
    'ThermostatTestDriver',
  ])
    assert.ok(names.includes(name), `thermostat exports ${name}`);

  // The same example, typed, against the packed declarations.
  writeFileSync(join(app, 'example.ts'), example);
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: [],
        lib: ['ES2023', 'DOM'],
      },
      files: ['example.ts'],
    }),
  );
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', app], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(tsc.status, 0, `the example does not type-check against the package:\n${tsc.stdout}`);

  // The packed CLI runs from dist/.
  const version = spawnSync(process.execPath, [join(pkgDir, 'bin/thermostat.mjs'), '--version'], {
    cwd: app,
    encoding: 'utf8',
  });
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout.trim(), manifest.version);
});
