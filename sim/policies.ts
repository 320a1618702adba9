// Registry of regulation policies by name. The CLI and the A/B harness look names up here.
// The Thermostat policies run the real stream graph through ThermostatTestDriver (pipelines/);
// until that lands their factories throw PolicyUnavailableError. To plug one in, replace its
// entry with one line, e.g.:
//   registerPolicy('thermostat', (ctx) => new DriverPolicy(ctx, 'rule'));
import {
  ManualHeatingPolicy,
  PopularityPolicy,
  defaultManualOptions,
  type ManualHeatingOptions,
  type PolicyContext,
  type RegulationPolicy,
} from './policy.js';

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

const notYet =
  (name: string): PolicyFactory =>
  () => {
    throw new PolicyUnavailableError(
      name,
      'it runs the real graph through pipelines/ThermostatTestDriver, which is not wired into sim/policies.ts yet',
    );
  };

const registry = new Map<string, PolicyFactory>([
  ['popularity', () => new PopularityPolicy()],
  [
    'manual',
    (ctx) =>
      new ManualHeatingPolicy(ctx.seed, {
        ...defaultManualOptions(ctx.world),
        ...((ctx.options.manual ?? {}) as Partial<ManualHeatingOptions>),
      }),
  ],
  ['thermostat', notYet('thermostat')],
  ['thermostat-rule', notYet('thermostat-rule')],
  ['thermostat-learned', notYet('thermostat-learned')],
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
