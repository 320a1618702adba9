#!/usr/bin/env node
// The `thermostat` command. From a checkout it runs the TypeScript sources through tsx (no build
// step to forget); an installed package (or the container image) runs the compiled dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = `${root}cli/main.ts`;
let entry = `${root}dist/cli/main.js`;
if (existsSync(source) && !process.env.THERMOSTAT_USE_DIST) {
  const { register } = await import('tsx/esm/api');
  register();
  entry = source;
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv);
