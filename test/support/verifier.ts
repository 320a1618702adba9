// The verifier of job-level runs (as Kafka Streams' EOS system test verifies its runs): what the
// job left behind — every user and content state in Redis (public fields, version and internal
// agent state), the changelogs, every allocation id, and where poison records went — compared key
// by key with the uninterrupted run over the same input, with the counts printed.
import type { Serde } from '../../io/serde.js';
import assert from 'node:assert/strict';
import type { Cluster, Redis } from 'ioredis';
import type { TopologyNames } from '../../pipelines/topology.js';
import type { ContentState, HeatingAllocation, UserMindState } from '../../schemas/types.js';
import {
  countStateKeys,
  highestVersionByKey,
  latestByKey,
  readRedisState,
  readTopic,
  type FinalState,
} from './job-fixture.js';

/** Keys of a state map against the reference's. */
export interface KeyComparison {
  expected: number;
  equal: number;
  missing: number;
  extra: number;
  /** The first key that differs, with both values (for assertion messages). */
  first?: string;
}

export function compareKeys<T>(actual: Map<string, T>, expected: Map<string, T>): KeyComparison {
  const c: KeyComparison = { expected: expected.size, equal: 0, missing: 0, extra: 0 };
  for (const k of actual.keys()) if (!expected.has(k)) c.extra++;
  for (const [k, v] of expected) {
    if (!actual.has(k)) {
      c.missing++;
      c.first ??= `${k}: missing`;
      continue;
    }
    try {
      assert.deepStrictEqual(actual.get(k), v);
      c.equal++;
    } catch {
      c.first ??= `${k}: actual ${JSON.stringify(actual.get(k))}\n expected ${JSON.stringify(v)}`;
    }
  }
  return c;
}

export function assertSameState<T>(actual: Map<string, T>, expected: Map<string, T>, what: string): void {
  assertKeys(compareKeys(actual, expected), what);
}

function assertKeys(c: KeyComparison, what: string): void {
  assert.deepEqual(
    { missing: c.missing, extra: c.extra },
    { missing: 0, extra: 0 },
    `${what}: keys (${c.missing} missing, ${c.extra} extra); first: ${c.first}`,
  );
  assert.equal(
    c.expected - c.equal,
    0,
    `${what}: ${c.expected - c.equal} of ${c.expected} keys differ; first: ${c.first}`,
  );
}

export interface VerifierReport {
  users: KeyComparison;
  usersInternal: KeyComparison;
  contents: KeyComparison;
  contentsInternal: KeyComparison;
  userChangelog: KeyComparison;
  contentChangelog: KeyComparison;
  stateKeys: { users: number; contents: number };
  allocationIds: { expected: number; got: number; missing: number; extra: number; records: number };
  changelogRecords: number;
  staleAfterNewer: number;
}

export interface VerifyOptions {
  brokers: string;
  names: TopologyNames;
  appId: string;
  redis: Redis | Cluster;
  ref: FinalState;
  /**
   * How the changelogs are compared: `latest` (default) — the last record per key by offset, true
   * whenever no zombie wrote; `highest-version` — the consumer contract, for runs with a zombie,
   * whose unfenced Kafka writes may land after the new owner's (docs/STATE.md).
   */
  changelog?: 'latest' | 'highest-version';
  /** Decodes the outputs (default: the bundled registry; a run against a Schema Registry reads with that one). */
  serde?: Serde;
}

/** Reads everything the run left behind and compares it with the reference; never throws on a difference. */
export async function verifyRun(o: VerifyOptions): Promise<VerifierReport> {
  const { brokers, names, appId, redis, ref } = o;
  const st = await readRedisState(redis, appId, ref);
  const read = <T>(topic: string) =>
    readTopic<T>(brokers, names, topic, `${appId}-verify`, undefined, o.serde);
  const userLog = await read<UserMindState>(names.userChangelog);
  const contentLog = await read<ContentState>(names.contentChangelog);
  let users: Map<string, UserMindState>;
  let contents: Map<string, ContentState>;
  let staleAfterNewer = 0;
  if (o.changelog === 'highest-version') {
    const u = highestVersionByKey(userLog);
    const c = highestVersionByKey(contentLog);
    [users, contents, staleAfterNewer] = [u.state, c.state, u.staleAfterNewer + c.staleAfterNewer];
  } else [users, contents] = [latestByKey(userLog), latestByKey(contentLog)];
  const allocations = await read<HeatingAllocation>(names.allocations);
  const ids = new Set(allocations.map((a) => a.value.allocation_id));
  return {
    users: compareKeys(st.users, ref.users),
    usersInternal: compareKeys(st.usersInternal, ref.usersInternal),
    contents: compareKeys(st.contents, ref.contents),
    contentsInternal: compareKeys(st.contentsInternal, ref.contentsInternal),
    userChangelog: compareKeys(users, ref.users),
    contentChangelog: compareKeys(contents, ref.contents),
    stateKeys: await countStateKeys(redis, appId),
    allocationIds: {
      expected: ref.allocationIds.size,
      got: ids.size,
      missing: [...ref.allocationIds].filter((i) => !ids.has(i)).length,
      extra: [...ids].filter((i) => !ref.allocationIds.has(i)).length,
      records: allocations.length,
    },
    changelogRecords: userLog.length + contentLog.length,
    staleAfterNewer,
  };
}

const keys = (c: KeyComparison) => `${c.equal}/${c.expected} equal (${c.missing} missing, ${c.extra} extra)`;

/** One line per comparison, as the verifier prints them. */
export function formatReport(r: VerifierReport): string {
  const a = r.allocationIds;
  return [
    `users in Redis: ${keys(r.users)}; internal state ${keys(r.usersInternal)}`,
    `contents in Redis: ${keys(r.contents)}; internal state ${keys(r.contentsInternal)}`,
    `state keys in Redis: ${r.stateKeys.users} users, ${r.stateKeys.contents} contents`,
    `changelogs: users ${keys(r.userChangelog)}, contents ${keys(r.contentChangelog)} (${r.changelogRecords} records)`,
    `allocation ids: ${a.got - a.extra}/${a.expected} equal (${a.missing} missing, ${a.extra} extra; ${a.records} records, ${a.records - a.got} re-emitted)`,
  ].join('\n');
}

/** Throws on the first comparison that is not exact. */
export function assertVerified(r: VerifierReport): void {
  assertKeys(r.users, 'Redis user mind state');
  assertKeys(r.contents, 'Redis content state');
  assertKeys(r.usersInternal, 'Redis internal user state');
  assertKeys(r.contentsInternal, 'Redis internal content state');
  assert.deepEqual(
    r.stateKeys,
    { users: r.users.expected, contents: r.contents.expected },
    'no state key beyond the reference',
  );
  assertKeys(r.userChangelog, 'user-mind-state changelog');
  assertKeys(r.contentChangelog, 'content-state changelog');
  assert.deepEqual(
    { missing: r.allocationIds.missing, extra: r.allocationIds.extra },
    { missing: 0, extra: 0 },
    `allocation ids (${r.allocationIds.got} distinct vs ${r.allocationIds.expected})`,
  );
}

/**
 * What the job left behind equals the uninterrupted run: every user and content state in Redis
 * (public fields, version, and the internal agent state), the latest changelog record per key,
 * and the set of distinct allocation ids on heating-allocations. Returns counts for reporting.
 */
export async function assertMatchesReference(
  o: VerifyOptions,
): Promise<{ allocationRecords: number; changelogRecords: number; staleAfterNewer: number }> {
  const r = await verifyRun(o);
  assertVerified(r);
  return {
    allocationRecords: r.allocationIds.records,
    changelogRecords: r.changelogRecords,
    staleAfterNewer: r.staleAfterNewer,
  };
}

/** assertMatchesReference for a run set up by job-fixture's setupJobRun / setupJobLog. */
export const assertRunMatchesReference = (
  brokers: string,
  run: { names: TopologyNames; appId: string; client: Redis | Cluster; ref: FinalState },
) => assertMatchesReference({ brokers, names: run.names, appId: run.appId, redis: run.client, ref: run.ref });
