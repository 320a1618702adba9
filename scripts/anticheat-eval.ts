// Prints anti-cheat precision / recall / accuracy on the seeded scenario of agents/anticheat-scenario.ts
// (described in docs/AGENTS.md) as JSON.
//   npx tsx scripts/anticheat-eval.ts [--seed N] [--scale X]
import { DEFAULT_AGENT_CONFIG } from '../agents/config.js';
import { DEFAULT_SCENARIO, evaluateAntiCheat, type AntiCheatScenario } from '../agents/anticheat-scenario.js';

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}

const scale = arg('scale') ?? 1;
const sc: AntiCheatScenario = {
  ...DEFAULT_SCENARIO,
  seed: arg('seed') ?? DEFAULT_SCENARIO.seed,
  honestUsers: Math.round(DEFAULT_SCENARIO.honestUsers * scale),
  normal: Math.round(DEFAULT_SCENARIO.normal * scale),
  clickbait: Math.round(DEFAULT_SCENARIO.clickbait * scale),
  niche: Math.round(DEFAULT_SCENARIO.niche * scale),
  bought: Math.round(DEFAULT_SCENARIO.bought * scale),
  rings: Math.max(1, Math.round(DEFAULT_SCENARIO.rings * scale)),
};
const report = evaluateAntiCheat(sc, DEFAULT_AGENT_CONFIG);
console.log(JSON.stringify({ scenario: sc, ...report }, null, 2));
