// Versioned model checkpoints (SPEC §3 "Learning": versioned, checkpointed, swapped atomically).
//
// Redis key layout, per model <name>:
//   {<appId>:model:<name>}          hash: seq (integer, the version order), version ("<name>@<seq>"),
//                                   blob (binary, learn/network.ts serializeWeights), created_at (ms)
//                                   = the LATEST version
//   {<appId>:model:<name>}:v:<seq>  hash with the same fields: the last `keepVersions` versions, so a
//                                   restore can load the exact version an allocator checkpoint recorded
// One Lua script writes both only when the new seq is greater than the stored one and deletes the
// version that falls out of the window, atomically: an older trainer (a zombie after a restart) can
// never overwrite newer weights. The braces are a Redis Cluster hash tag: a model's keys share one
// slot, so the script is valid on a Cluster. Models saved under the untagged keys of earlier
// releases (`<appId>:model:<name>[:v:<seq>]`) are still read when no tagged one exists.
import type { StateRedis } from '../state/redis-options.js';
import { ThermostatError } from '../core/errors.js';
import {
  deserializeWeights,
  serializeWeights,
  versionOf,
  type BernoulliNet,
  type WeightSet,
} from './network.js';

export interface StoredModel {
  seq: number;
  version: string;
  blob: Uint8Array;
  createdAt: number;
}

export interface ModelStore {
  /** Stores the blob when `seq` is newer than what is stored; resolves false when it is not. */
  save(name: string, seq: number, blob: Uint8Array, createdAt: number): Promise<boolean>;
  /** The latest stored version, or the given `seq` if it is still kept; undefined when absent. */
  load(name: string, seq?: number): Promise<StoredModel | undefined>;
}

export const DEFAULT_KEEP_VERSIONS = 5;

/** For tests and the in-process simulator. Stores copies; same semantics as RedisModelStore. */
export class InMemoryModelStore implements ModelStore {
  private readonly models = new Map<string, Map<number, StoredModel>>();
  private readonly latest = new Map<string, number>();

  constructor(private readonly keepVersions = DEFAULT_KEEP_VERSIONS) {}

  async save(name: string, seq: number, blob: Uint8Array, createdAt: number): Promise<boolean> {
    const cur = this.latest.get(name);
    if (cur !== undefined && cur >= seq) return false;
    let versions = this.models.get(name);
    if (!versions) this.models.set(name, (versions = new Map()));
    versions.set(seq, { seq, version: `${name}@${seq}`, blob: Uint8Array.from(blob), createdAt });
    versions.delete(seq - this.keepVersions);
    this.latest.set(name, seq);
    return true;
  }

  async load(name: string, seq?: number): Promise<StoredModel | undefined> {
    const s = seq ?? this.latest.get(name);
    const m = s === undefined ? undefined : this.models.get(name)?.get(s);
    return m && { ...m, blob: Uint8Array.from(m.blob) };
  }
}

// KEYS[1] latest hash, KEYS[2] version hash of this seq, KEYS[3] version hash to drop.
// ARGV seq, version, blob, created_at. Returns 1 written, 0 stale.
const SAVE_IF_NEWER = `
local cur = redis.call('HGET', KEYS[1], 'seq')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'version', ARGV[2], 'blob', ARGV[3], 'created_at', ARGV[4])
redis.call('HSET', KEYS[2], 'seq', ARGV[1], 'version', ARGV[2], 'blob', ARGV[3], 'created_at', ARGV[4])
redis.call('DEL', KEYS[3])
return 1
`;

type RedisWithSave = StateRedis & {
  thermostatModelSave(
    latestKey: string,
    versionKey: string,
    dropKey: string,
    seq: string,
    version: string,
    blob: Buffer,
    createdAt: string,
  ): Promise<number>;
};

export class RedisModelStore implements ModelStore {
  private readonly redis: RedisWithSave;

  constructor(
    redis: StateRedis,
    private readonly appId: string,
    private readonly keepVersions = DEFAULT_KEEP_VERSIONS,
  ) {
    if (!(redis as unknown as Partial<RedisWithSave>).thermostatModelSave)
      redis.defineCommand('thermostatModelSave', { numberOfKeys: 3, lua: SAVE_IF_NEWER });
    this.redis = redis as unknown as RedisWithSave;
  }

  /** `{<appId>:model:<name>}` (latest), or `{<appId>:model:<name>}:v:<seq>` (one kept version). */
  key(name: string, seq?: number): string {
    const tag = `{${this.appId}:model:${name}}`;
    return seq === undefined ? tag : `${tag}:v:${seq}`;
  }

  /** The untagged key of earlier releases, read when the tagged one is absent. */
  legacyKey(name: string, seq?: number): string {
    return this.key(name, seq).replace(/^\{([^}]*)\}/, '$1');
  }

  async save(name: string, seq: number, blob: Uint8Array, createdAt: number): Promise<boolean> {
    const r = await this.redis.thermostatModelSave(
      this.key(name),
      this.key(name, seq),
      this.key(name, seq - this.keepVersions),
      String(seq),
      `${name}@${seq}`,
      Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength),
      String(createdAt),
    );
    return r === 1;
  }

  async load(name: string, seq?: number): Promise<StoredModel | undefined> {
    return (await this.loadKey(this.key(name, seq))) ?? this.loadKey(this.legacyKey(name, seq));
  }

  private async loadKey(key: string): Promise<StoredModel | undefined> {
    // One command: the four fields of one version, never a mix of two saves.
    const [seqB, versionB, blob, createdB] = await this.redis.hmgetBuffer(
      key,
      'seq',
      'version',
      'blob',
      'created_at',
    );
    if (seqB === null) return undefined;
    const storedSeq = seqB.toString();
    if (!blob) throw new ThermostatError('VALIDATION', `model ${key} has seq ${storedSeq} but no blob`);
    return {
      seq: Number(storedSeq),
      version: versionB?.toString() ?? '',
      blob: new Uint8Array(blob),
      createdAt: Number(createdB?.toString() ?? 0),
    };
  }
}

/** Checkpoints a weight set (only if newer than the stored one). */
export async function saveWeights(store: ModelStore, w: WeightSet, createdAt: number): Promise<boolean> {
  return store.save(w.name, w.seq, serializeWeights(w), createdAt);
}

/**
 * Loads the latest checkpoint of `name` for `net` (or version `seq`, e.g. the one an allocator
 * checkpoint recorded, for an exact replay); undefined when there is none.
 */
export async function loadLatestWeights(
  store: ModelStore,
  net: BernoulliNet,
  name: string,
  seq?: number,
): Promise<WeightSet | undefined> {
  const m = await store.load(name, seq);
  if (!m) return undefined;
  const w = deserializeWeights(m.blob, net);
  if (w.name !== name || w.seq !== m.seq) {
    throw new ThermostatError(
      'VALIDATION',
      `model ${name}: stored seq ${m.seq} but blob holds ${versionOf(w)}`,
    );
  }
  return w;
}
