// What build is running: the package version, the source revision and the Node.js runtime. The
// container image bakes the revision in (config `revision`, env THERMOSTAT_REVISION, from the
// Dockerfile's REVISION build argument); a git checkout reads it from git; else "unknown".
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

/** Reads the build info (package.json, git); `revision` (config) wins over git. */
export function readBuildInfo(revision?: string): BuildInfo {
  const pkg = findPackage();
  return {
    version: pkg?.version ?? UNKNOWN,
    revision: revision || (pkg && gitRevision(pkg.root)) || UNKNOWN,
    nodeVersion: process.versions.node,
  };
}

let cached: BuildInfo | undefined;

/** This process's build from package.json and git, read once (the job passes its configured revision). */
export function buildInfo(): BuildInfo {
  return (cached ??= readBuildInfo());
}
