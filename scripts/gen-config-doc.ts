// Generates docs/CONFIG.md, the reference of every configuration key, from the config schemas
// themselves: types, ranges and defaults from zod (core/config.ts, agents/config.ts under
// `agents`, learn/config.ts under `learn`), environment variables from the ENV_KEYS table of core/config.ts,
// descriptions from the JSDoc comments on the schema fields. `npm run gen:config-doc` rewrites the
// file; test/unit/config-doc.test.ts fails when it is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { z } from 'zod';
import { agentConfigSchema } from '../agents/config.js';
import { ENV_KEYS, runtimeConfigSchema } from '../core/config.js';
import { learnConfigSchema } from '../learn/config.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  format?: string;
  anyOf?: JsonSchema[];
}

/** JSDoc text of every field of the z.object literals in `file`, by dotted path from its schemas. */
export function fieldDocs(file: string): Map<string, string> {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const consts = new Map<string, ts.Expression>();
  source.forEachChild((n) => {
    if (ts.isVariableStatement(n))
      for (const d of n.declarationList.declarations)
        if (ts.isIdentifier(d.name) && d.initializer) consts.set(d.name.text, d.initializer);
  });
  const docs = new Map<string, string>();
  /** The object literal a schema expression is built on (through calls like .default(), .refine()). */
  const objectOf = (e: ts.Node, seen = new Set<string>()): ts.ObjectLiteralExpression | undefined => {
    if (ts.isIdentifier(e) && consts.has(e.text) && !seen.has(e.text))
      return objectOf(consts.get(e.text) as ts.Expression, new Set(seen).add(e.text));
    if (ts.isCallExpression(e)) {
      const callee = e.expression;
      if (ts.isPropertyAccessExpression(callee) && /^(strictObject|object)$/.test(callee.name.text)) {
        const arg = e.arguments[0];
        return arg && ts.isObjectLiteralExpression(arg) ? arg : undefined;
      }
      if (ts.isPropertyAccessExpression(callee)) return objectOf(callee.expression, seen);
    }
    return undefined;
  };
  const walk = (obj: ts.ObjectLiteralExpression, prefix: string) => {
    for (const p of obj.properties) {
      if (!ts.isPropertyAssignment(p) || !(ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) continue;
      const key = prefix + p.name.text;
      const doc = ts
        .getJSDocCommentsAndTags(p)
        .map((j) => ts.getTextOfJSDocComment(j.comment) ?? '')
        .join(' ')
        .replace(/\s+/g, ' ')
        .trim();
      if (doc) docs.set(key, doc);
      const inner = objectOf(p.initializer);
      if (inner) walk(inner, `${key}.`);
    }
  };
  for (const [, init] of consts) {
    const obj = objectOf(init);
    if (obj) walk(obj, '');
  }
  return docs;
}

const code = (v: unknown): string => '`' + (typeof v === 'string' && v !== '' ? v : JSON.stringify(v)) + '`';

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => code(v)).join(' | ');
  const t = Array.isArray(s.type)
    ? s.type.join(' | ')
    : (s.type ?? s.anyOf?.map(typeOf).join(' | ') ?? 'any');
  if (t === 'integer' || t === 'number') {
    const lo =
      s.exclusiveMinimum !== undefined
        ? `> ${s.exclusiveMinimum}`
        : s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER
          ? `≥ ${s.minimum}`
          : '';
    const hi = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? `≤ ${s.maximum}` : '';
    return [t, lo, hi].filter(Boolean).join(' ');
  }
  if (t === 'object') return 'map';
  if (t === 'array') return 'list';
  if (t === 'string' && s.format === 'uri') return 'URL';
  return t;
}

interface Row {
  key: string;
  env: string;
  type: string;
  default: string;
  description: string;
}

/** One row per leaf key; a field without its own doc comment reads its section's. */
function rows(
  schema: JsonSchema,
  prefix: string,
  docs: Map<string, string>,
  env: Map<string, string>,
  sectionDoc = '',
): Row[] {
  const out: Row[] = [];
  for (const [name, s] of Object.entries(schema.properties ?? {})) {
    const key = prefix + name;
    if (s.type === 'object' && s.properties) {
      out.push(...rows(s, `${key}.`, docs, env, docs.get(key) ?? sectionDoc));
      continue;
    }
    out.push({
      key,
      env: env.get(key) ?? '',
      type: typeOf(s),
      default: s.default === undefined ? '(unset)' : code(s.default),
      description: docs.get(key) ?? sectionDoc,
    });
  }
  return out;
}

const escapeCell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderConfigDoc(): string {
  const json = (schema: z.ZodType) =>
    z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const env = new Map<string, string>(Object.entries(ENV_KEYS).map(([name, d]) => [d.key, name]));
  const docs = new Map([
    ...fieldDocs(join(root, 'core/config.ts')),
    ...[...fieldDocs(join(root, 'agents/config.ts'))].map(([k, v]) => [`agents.${k}`, v] as [string, string]),
    ...[...fieldDocs(join(root, 'learn/config.ts'))].map(([k, v]) => [`learn.${k}`, v] as [string, string]),
  ]);
  // The job's keys first, then the learn and agents sections (documented in their own files).
  const runtime = json(runtimeConfigSchema);
  const { agents: _agents, learn: _learn, ...jobProps } = runtime.properties ?? {};
  const all = [
    ...rows({ properties: jobProps }, '', docs, env),
    ...rows(json(learnConfigSchema), 'learn.', docs, env),
    ...rows(json(agentConfigSchema), 'agents.', docs, env),
  ];
  return [
    '<!-- GENERATED by scripts/gen-config-doc.ts from the config schemas: do not edit; run `npm run gen:config-doc`. -->',
    '',
    '# Configuration reference',
    '',
    'Every key the job reads. Sources, later wins: these defaults, a JSON file (`THERMOSTAT_CONFIG=path`,',
    'nested objects by the dotted keys below), then the environment variables. Everything is validated',
    'at start; an invalid value or an unknown key fails naming it, with exit code 2. Durations are',
    'milliseconds; `agents.*` times are event time. The agent rules are explained in [AGENTS.md](AGENTS.md),',
    'the learning layer in [LEARNING.md](LEARNING.md).',
    '',
    '| key | environment | type | default | description |',
    '| --- | --- | --- | --- | --- |',
    ...all.map(
      (r) =>
        `| \`${r.key}\` | ${r.env ? `\`${r.env}\`` : ''} | ${escapeCell(r.type)} | ${escapeCell(r.default)} | ${escapeCell(r.description)} |`,
    ),
    '',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(join(root, 'docs/CONFIG.md'), renderConfigDoc());
  console.log('wrote docs/CONFIG.md');
}
