// Configuration sections as the job resolves them (core/config.ts): from an environment and overrides.
import { loadRuntimeConfig } from '../../core/config.js';
import type { LearnConfig } from '../../learn/config.js';

/** The `learn` section from environment variables and a partial section (the file's, say). */
export const learnConfig = (
  env: Record<string, string> = {},
  learn: Record<string, unknown> = {},
): LearnConfig => loadRuntimeConfig({ env, overrides: { learn } }).learn;
