// Flag parsers and checks shared by the commands. A parser rejects a bad value with commander's
// InvalidArgumentError, which commander reports on one line naming the flag; checks that need
// several flags or the file system run at the start of an action and throw UsageError.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { UsageError } from './errors.js';

/** An integer in [min, max]. */
export function integer(min = 0, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer ${range(min, max)}`);
    return n;
  };
}

/** A finite number in [min, max]. */
export function decimal(min: number, max = Infinity): (v: string) => number {
  return (v) => {
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected a number ${range(min, max)}`);
    return n;
  };
}

const range = (min: number, max: number): string =>
  max >= Number.MAX_SAFE_INTEGER || max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;

/** Comma-separated names, each one of `valid` (duplicates dropped, order kept). */
export function nameList(valid: readonly string[]): (v: string) => string[] {
  return (v) => {
    const names = [
      ...new Set(
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      ),
    ];
    const unknown = names.filter((n) => !valid.includes(n));
    if (names.length === 0 || unknown.length > 0)
      throw new InvalidArgumentError(
        `${unknown.length ? `unknown ${unknown.map((u) => `'${u}'`).join(', ')}; ` : ''}expected one or more of ${valid.join(', ')}`,
      );
    return names;
  };
}

/** Seeds as `1-5`, `1,3,7` or `4`: distinct non-negative integers, at most 100. */
export function seedList(v: string): number[] {
  const seeds: number[] = [];
  for (const part of v.split(',').map((s) => s.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new InvalidArgumentError(`expected seeds like 1-5 or 1,3,7, got '${part}'`);
    const [a, b] = [Number(m[1]), Number(m[2] ?? m[1])];
    if (b < a) throw new InvalidArgumentError(`empty seed range '${part}'`);
    for (let s = a; s <= b && seeds.length <= 100; s++) if (!seeds.includes(s)) seeds.push(s);
  }
  if (seeds.length > 100) throw new InvalidArgumentError('at most 100 seeds');
  return seeds;
}

/**
 * Fails now, naming the flag, when `path` cannot be written (missing or read-only folder, a
 * folder in its place, a read-only file), instead of after a run of minutes.
 */
export function assertWritable(flag: string, path: string | undefined): void {
  if (path === undefined) return;
  const file = resolve(path);
  const dir = dirname(file);
  const fail = (why: string) => {
    throw new UsageError(`${flag} ${path}: ${why}`);
  };
  if (!existsSync(dir)) fail(`folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) fail(`${dir} is not a folder`);
  if (existsSync(file)) {
    if (statSync(file).isDirectory()) fail('is a folder');
    if (!canWrite(file)) fail('file is not writable');
  } else if (!canWrite(dir)) fail(`folder ${dir} is not writable`);
}

function canWrite(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
