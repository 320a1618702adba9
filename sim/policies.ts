// Registry of regulation policies by name. The CLI and the A/B harness look names up here.
// The Thermostat policies run the real stream graph through ThermostatTestDriver (pipelines/);
// a policy that is not wired yet throws PolicyUnavailableError.
import { topologyNames } from '../pipelines/topology.js';
import { wireSerde } from '../pipelines/wire-serde.js';
import { ThermostatGraphPolicy } from './policy/graph-adapter.js';
import type { LearnedPolicyOptions } from './policy/learned-options.js';
import { LearnedThermostatPolicy } from './policy/learned-policy.js';
import type { SlotHeater } from './ranker.js';
import {
  ManualHeatingPolicy,
  PopularityPolicy,
  SlotHeaterPolicy,
  defaultManualOptions,
  type ManualHeatingOptions,
  type PolicyContext,
  type RegulationPolicy,
} from './policy.js';

/** Thermostat with the rule scorer, on the real graph (in-process, real serde and state). */
function thermostatPolicy(ctx: PolicyContext, name: string): Promise<RegulationPolicy> {
  return ThermostatGraphPolicy.create(ctx, { name, serde: wireSerde(topologyNames('thermostat')) });
}

/** A slot heater's share and k: ctx.options[name] ({ share?, k? }) over the defaults. */
function slotHeater(ctx: PolicyContext, name: string, share: number, k: number): SlotHeater {
  const o = (ctx.options[name] ?? {}) as Partial<SlotHeater>;
  return { share: o.share ?? share, k: o.k ?? k };
}

export type PolicyFactory = (ctx: PolicyContext) => RegulationPolicy | Promise<RegulationPolicy>;

export class PolicyUnavailableError extends Error {
  constructor(
    readonly policy: string,
    reason: string,
  ) {
    super(`policy '${policy}' is not available yet: ${reason}`);
    this.name = 'PolicyUnavailableError';
  }
}

export class UnknownPolicyError extends Error {
  constructor(readonly policy: string) {
    super(`unknown policy '${policy}' (known: ${policyNames().join(', ')})`);
    this.name = 'UnknownPolicyError';
  }
}

const registry = new Map<string, PolicyFactory>([
  ['popularity', () => new PopularityPolicy()],
  ['manual', (ctx) => new SlotHeaterPolicy('manual', slotHeater(ctx, 'manual', 0.1, 1))],
  ['uniform', (ctx) => new SlotHeaterPolicy('uniform', slotHeater(ctx, 'uniform', 0.04, 1))],
  ['greedy', (ctx) => new SlotHeaterPolicy('greedy', slotHeater(ctx, 'greedy', 0.04, 5))],
  [
    'manual-items',
    (ctx) =>
      new ManualHeatingPolicy(ctx.seed, {
        ...defaultManualOptions(ctx.world),
        ...((ctx.options['manual-items'] ?? {}) as Partial<ManualHeatingOptions>),
      }),
  ],
  ['thermostat', (ctx) => thermostatPolicy(ctx, 'thermostat')],
  ['thermostat-rule', (ctx) => thermostatPolicy(ctx, 'thermostat-rule')],
  [
    'thermostat-learned',
    (ctx) =>
      LearnedThermostatPolicy.createLearned(
        ctx,
        'thermostat-learned',
        wireSerde(topologyNames('thermostat')),
        (ctx.options.learned ?? {}) as Partial<LearnedPolicyOptions>,
      ),
  ],
]);

export function registerPolicy(name: string, factory: PolicyFactory): void {
  registry.set(name, factory);
}

export function policyNames(): string[] {
  return [...registry.keys()];
}

export async function createPolicy(name: string, ctx: PolicyContext): Promise<RegulationPolicy> {
  const f = registry.get(name);
  if (!f) throw new UnknownPolicyError(name);
  return await f(ctx);
}

/** Fails fast (before a long run starts) when a name is unknown or not available yet. */
export async function checkPolicies(names: string[], ctx: PolicyContext): Promise<void> {
  for (const n of names) {
    const p = await createPolicy(n, ctx);
    await p.close?.();
  }
}
