// Validation of a configuration section against its zod schema, failing with the dotted key that
// is wrong (`ConfigError`). Shared by the one configuration schema (core/config.ts) and the section
// parsers the simulator and tests use (agents/config.ts, learn/config.ts).
import type { z } from 'zod';
import { ConfigError } from './errors.js';

/** Validates against a zod schema and reports the first problem with its dotted key. */
export function parseWithSchema<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    if (issue.code === 'unrecognized_keys') {
      throw new ConfigError(
        [...issue.path, issue.keys[0]].join('.'),
        `unknown key (${issue.keys.join(', ')}): not a setting`,
      );
    }
    throw new ConfigError(issue.path.join('.') || '(root)', issue.message);
  }
  return r.data;
}
