#!/usr/bin/env node
// The package build (`npm run build`, run by `npm pack` through prepack): a clean dist/ from the
// production sources only (tsconfig.build.json: no test/, bench/ or scripts/), plus the Avro
// contract next to the compiled code, where the local schema registry looks for it
// (dist/io → dist/schemas).
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(`${root}dist`, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tsconfig.build.json`],
  {
    stdio: 'inherit',
  },
);
cpSync(`${root}schemas`, `${root}dist/schemas`, { recursive: true, filter: (src) => !src.endsWith('.ts') });
