// How to start one of learn/'s worker threads. From dist/ the compiled .js entry. From source under
// tsx (the CLI registers tsx programmatically, tests use --import tsx) a worker does not inherit the
// loader on Node 20, and `execArgv: ['--import', 'tsx']` does not register it either (measured:
// "Unknown file extension .ts"), so a one-line bootstrap registers tsx in the worker, then imports
// the entry.

/** `entry` is the worker module's URL as a .ts file next to `from` (an import.meta.url). */
export function workerEntry(from: string, file: string): { code: string | URL; eval: boolean } {
  if (!from.endsWith('.ts')) return { code: new URL(`./${file}.js`, from), eval: false };
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(new URL(`./${file}.ts`, from).href);
  return { code: `import(${tsx}).then((t) => { t.register(); return import(${entry}); });`, eval: true };
}
