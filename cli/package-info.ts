// Where the package lives and its version, from a checkout (cli/) or the compiled package
// (dist/cli/) alike: the nearest folder above this module with thermostat's package.json.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'thermostat')
      return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json of thermostat not found above cli/');
    dir = up;
  }
}

export const packageRoot: string = findRoot();

export const packageVersion: string = (
  JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }
).version;
