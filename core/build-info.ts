// What build is running: the package version, the source revision and the Node.js runtime. The
// container image bakes the revision in (THERMOSTAT_REVISION, from the Dockerfile's REVISION
// build argument); a git checkout reads it from git; anything else reports "unknown".
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  version: string;
  revision: string;
  nodeVersion: string;
}

const UNKNOWN = 'unknown';

/** This package's root and version: core/ in a checkout, dist/core/ in the image or an install. */
function findPackage(): { root: string; version: string } | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 3; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'thermostat') return { root: dir, version: pkg.version ?? UNKNOWN };
    }
    dir = dirname(dir);
  }
  return undefined;
}

function gitRevision(root: string): string | undefined {
  // Only the package's own checkout: git would otherwise answer for an enclosing project.
  if (!existsSync(join(root, '.git'))) return undefined;
  try {
    return (
      execFileSync('git', ['rev-parse', 'HEAD'], {
        cwd: root,
        encoding: 'utf8',
        timeout: 2000,
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() || undefined
    );
  } catch {
    return undefined;
  }
}

/** Reads the build info (package.json, env, git): use buildInfo() for the cached answer. */
export function readBuildInfo(env: NodeJS.ProcessEnv): BuildInfo {
  const pkg = findPackage();
  const revision = env.THERMOSTAT_REVISION || (pkg && gitRevision(pkg.root)) || UNKNOWN;
  return { version: pkg?.version ?? UNKNOWN, revision, nodeVersion: process.versions.node };
}

let cached: BuildInfo | undefined;

/** This process's build, read once. */
export function buildInfo(): BuildInfo {
  return (cached ??= readBuildInfo(process.env));
}
