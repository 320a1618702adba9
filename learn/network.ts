// The pieces every learned model shares: a Bernoulli actor-critic written as raw tf ops over
// explicitly named weight tensors, immutable versioned weight sets, a versioned binary blob, and the
// ModelHandle that swaps weights atomically between batches.
//
// Why raw ops instead of tf.layers: the weights ARE the model. A WeightSet is plain Float32Arrays,
// so serialisation, Redis checkpoints, versioning and PPO (which needs its own tf.Variables and a
// frozen copy for the behaviour policy) are simple copies, and the same forward function serves the
// hot path (constant tensors) and training (variables).
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../core/rng.js';
import { ThermostatError } from '../core/errors.js';

export type Params = Readonly<Record<string, tf.Tensor>>;

export interface ParamSpec {
  name: string;
  shape: readonly number[];
  /** glorot: uniform ±sqrt(6/(fanIn+fanOut)) from the seeded Rng; zeros; or a constant. */
  init: 'glorot' | 'zeros' | { constant: number };
}

/**
 * A policy over one binary action (approve/deny, explore/exploit) with a value baseline.
 * Observations are row-major rows × obsWidth Float32 (each model documents its own layout).
 */
export interface BernoulliNet {
  /** Architecture id written into blobs; a blob of another architecture is refused. */
  readonly arch: string;
  readonly obsWidth: number;
  readonly params: readonly ParamSpec[];
  /** Logit of P(action = 1), shape [rows]. Pure tf ops: call inside tf.tidy or a gradient fn. */
  logits(p: Params, obs: tf.Tensor2D): tf.Tensor1D;
  /** State value V(s), shape [rows] (critic; not used on the hot path). */
  value(p: Params, obs: tf.Tensor2D): tf.Tensor1D;
}

export interface NamedArray {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** Immutable weights of one model version. `seq` grows by one per published update. */
export interface WeightSet {
  readonly arch: string;
  /** Model name, e.g. "allocation" or "explore" (the model-store key). */
  readonly name: string;
  readonly seq: number;
  readonly arrays: readonly NamedArray[];
}

/** The string written to HeatingAllocation.model_version: "<name>@<seq>". */
export const versionOf = (w: Pick<WeightSet, 'name' | 'seq'>): string => `${w.name}@${w.seq}`;

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Seeded initial weights: the same seed gives bit-identical weights in any process. */
export function initWeights(net: BernoulliNet, name: string, seed: number): WeightSet {
  const rng = new Rng(seed).fork(`${net.arch}/${name}`);
  const arrays = net.params.map((spec) => {
    const values = new Float32Array(size(spec.shape));
    if (spec.init === 'glorot') {
      const fanIn = spec.shape.length > 1 ? spec.shape[0] : 1;
      const fanOut = spec.shape[spec.shape.length - 1];
      const lim = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < values.length; i++) values[i] = (rng.next() * 2 - 1) * lim;
    } else if (spec.init !== 'zeros') {
      values.fill(spec.init.constant);
    }
    return { name: spec.name, shape: [...spec.shape], values };
  });
  return freeze({ arch: net.arch, name, seq: 0, arrays });
}

function freeze(w: WeightSet): WeightSet {
  Object.freeze(w.arrays);
  for (const a of w.arrays) Object.freeze(a);
  return Object.freeze(w);
}

/** Checks that a weight set fits a network exactly (names, order, shapes, finite values). */
export function validateWeights(net: BernoulliNet, w: WeightSet): void {
  const fail = (m: string): never => {
    throw new ThermostatError('INTERNAL', `weights ${versionOf(w)} do not fit ${net.arch}: ${m}`);
  };
  if (w.arch !== net.arch) fail(`architecture ${w.arch}`);
  if (w.arrays.length !== net.params.length) fail(`${w.arrays.length} arrays, expected ${net.params.length}`);
  net.params.forEach((spec, i) => {
    const a = w.arrays[i];
    if (a.name !== spec.name) fail(`array ${i} is ${a.name}, expected ${spec.name}`);
    if (a.shape.length !== spec.shape.length || a.shape.some((d, j) => d !== spec.shape[j]))
      fail(`${a.name} shape [${a.shape}]`);
    if (a.values.length !== size(spec.shape)) fail(`${a.name} has ${a.values.length} values`);
    for (let j = 0; j < a.values.length; j++)
      if (!Number.isFinite(a.values[j])) fail(`${a.name}[${j}] is not finite`);
  });
  if (!Number.isSafeInteger(w.seq) || w.seq < 0) fail(`seq ${w.seq}`);
}

/** A new weight set from trained arrays (copied), with the given seq. */
export function makeWeights(
  base: Pick<WeightSet, 'arch' | 'name'>,
  seq: number,
  arrays: readonly NamedArray[],
): WeightSet {
  return freeze({
    arch: base.arch,
    name: base.name,
    seq,
    arrays: arrays.map((a) => ({ name: a.name, shape: [...a.shape], values: Float32Array.from(a.values) })),
  });
}

// ---- versioned binary blob -------------------------------------------------------------------
// Layout (all little-endian):
//   0  "THMW"                      magic
//   4  u16 format (1)
//   6  u16 reserved (0)
//   8  u32 header length H
//  12  H bytes UTF-8 JSON {arch, name, seq, arrays:[{name, shape}]}
//  12+H, padded to a multiple of 4: float32 values of every array, in header order
const MAGIC = 0x574d4854; // "THMW" read as LE u32
export const BLOB_FORMAT = 1;

export function serializeWeights(w: WeightSet): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({
      arch: w.arch,
      name: w.name,
      seq: w.seq,
      arrays: w.arrays.map((a) => ({ name: a.name, shape: a.shape })),
    }),
  );
  const dataStart = Math.ceil((12 + header.length) / 4) * 4;
  const total = w.arrays.reduce((n, a) => n + a.values.length, 0);
  const buf = new Uint8Array(dataStart + total * 4);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint16(4, BLOB_FORMAT, true);
  dv.setUint16(6, 0, true);
  dv.setUint32(8, header.length, true);
  buf.set(header, 12);
  let off = dataStart;
  for (const a of w.arrays) {
    for (let i = 0; i < a.values.length; i++, off += 4) dv.setFloat32(off, a.values[i], true);
  }
  return buf;
}

export function deserializeWeights(blob: Uint8Array, net?: BernoulliNet): WeightSet {
  const bad = (m: string): never => {
    throw new ThermostatError('VALIDATION', `model blob: ${m}`);
  };
  if (blob.length < 12) bad('truncated header');
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) bad('bad magic');
  const format = dv.getUint16(4, true);
  if (format !== BLOB_FORMAT) bad(`unsupported format ${format}`);
  const hlen = dv.getUint32(8, true);
  if (12 + hlen > blob.length) bad('truncated header');
  let header: { arch: string; name: string; seq: number; arrays: { name: string; shape: number[] }[] };
  try {
    header = JSON.parse(new TextDecoder().decode(blob.subarray(12, 12 + hlen)));
  } catch {
    return bad('header is not JSON');
  }
  let off = Math.ceil((12 + hlen) / 4) * 4;
  const arrays: NamedArray[] = [];
  for (const h of header.arrays ?? []) {
    const n = size(h.shape);
    if (off + n * 4 > blob.length) bad(`truncated data for ${h.name}`);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++, off += 4) values[i] = dv.getFloat32(off, true);
    arrays.push({ name: h.name, shape: [...h.shape], values });
  }
  if (off !== blob.length) bad(`${blob.length - off} trailing bytes`);
  const w = freeze({ arch: header.arch, name: header.name, seq: header.seq, arrays });
  if (net) validateWeights(net, w);
  return w;
}

// ---- ModelHandle ---------------------------------------------------------------------------
/** The current weights of one model as tensors kept alive until the next swap. */
export interface LoadedModel {
  readonly weights: WeightSet;
  readonly version: string;
  readonly params: Params;
}

function toParams(w: WeightSet): Params {
  const p: Record<string, tf.Tensor> = {};
  // tf.keep is not needed outside tidy; the tensors live until swap() disposes them.
  for (const a of w.arrays) p[a.name] = tf.tensor(a.values, a.shape, 'float32');
  return Object.freeze(p);
}

/**
 * Holds the model in use. Scoring reads `current` ONCE per batch and uses only that reference;
 * swap() replaces the reference between batches (JS runs a synchronous batch to completion, so a
 * batch never sees two versions) and disposes the previous tensors. Only newer seqs are accepted.
 */
export class ModelHandle {
  private cur: LoadedModel;
  private readonly listeners: ((m: LoadedModel) => void)[] = [];

  constructor(
    readonly net: BernoulliNet,
    initial: WeightSet,
  ) {
    validateWeights(net, initial);
    this.cur = Object.freeze({ weights: initial, version: versionOf(initial), params: toParams(initial) });
  }

  get current(): LoadedModel {
    return this.cur;
  }

  get version(): string {
    return this.cur.version;
  }

  /** Installs newer weights; returns false (and changes nothing) for a seq that is not newer. */
  swap(next: WeightSet): boolean {
    validateWeights(this.net, next);
    if (next.seq <= this.cur.weights.seq) return false;
    const prev = this.cur;
    this.cur = Object.freeze({ weights: next, version: versionOf(next), params: toParams(next) });
    for (const t of Object.values(prev.params)) t.dispose();
    for (const l of this.listeners) l(this.cur);
    return true;
  }

  /**
   * Installs `next` whatever its seq: the weights a checkpoint or a log record names (a restore may
   * go back to an older version than one adopted after that checkpoint and then lost).
   */
  reset(next: WeightSet): void {
    validateWeights(this.net, next);
    const prev = this.cur;
    this.cur = Object.freeze({ weights: next, version: versionOf(next), params: toParams(next) });
    for (const t of Object.values(prev.params)) t.dispose();
    for (const l of this.listeners) l(this.cur);
  }

  /** Calls `listener` after each successful swap; returns a function that unsubscribes. */
  onSwap(listener: (m: LoadedModel) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  dispose(): void {
    for (const t of Object.values(this.cur.params)) t.dispose();
  }
}

// ---- Bernoulli helpers ------------------------------------------------------------------------
/** log P(a | logit) for a Bernoulli: a=1 → −softplus(−z), a=0 → −softplus(z). */
export function bernoulliLogProb(logit: tf.Tensor1D, action: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const lp1 = tf.neg(tf.softplus(tf.neg(logit)));
    const lp0 = tf.neg(tf.softplus(logit));
    return tf.add(tf.mul(action, lp1), tf.mul(tf.sub(1, action), lp0)) as tf.Tensor1D;
  });
}

/** Entropy of a Bernoulli with logit z: p·softplus(−z) + (1−p)·softplus(z), in nats. */
export function bernoulliEntropy(logit: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const p = tf.sigmoid(logit);
    return tf.add(
      tf.mul(p, tf.softplus(tf.neg(logit))),
      tf.mul(tf.sub(1, p), tf.softplus(logit)),
    ) as tf.Tensor1D;
  });
}

/**
 * Samples an action from P(1) = prob with a given uniform draw u (keyed by the caller, e.g.
 * keyedUniform(seed, allocationId), so replays sample identically) and returns its log-prob.
 */
export function sampleBernoulli(prob: number, u: number): { action: 0 | 1; logProb: number } {
  const p = Math.min(1 - 1e-6, Math.max(1e-6, prob));
  const action: 0 | 1 = u < p ? 1 : 0;
  return { action, logProb: Math.log(action === 1 ? p : 1 - p) };
}

/** Reads a whole batch of a 2-D input once; throws when the length does not match. */
export function checkBatch(what: string, data: Float32Array, rows: number, width: number): void {
  if (!Number.isInteger(rows) || rows < 0 || data.length < rows * width) {
    throw new ThermostatError('INTERNAL', `${what}: ${data.length} values for ${rows} rows × ${width}`);
  }
}

/**
 * A learned policy over a ModelHandle: it reads the handle once per batch (the whole batch uses one
 * version, as `swap` happens only between batches) and reports the version that scored the last
 * batch as its `modelVersion`.
 */
export abstract class HandlePolicy {
  readonly policy = 'LEARNED' as const;
  private last: string;

  constructor(readonly handle: ModelHandle) {
    this.last = handle.version;
  }

  /** The version that scored the last batch (the current one before any). */
  get modelVersion(): string {
    return this.last;
  }

  /** The model for one batch; its version becomes `modelVersion`. */
  protected readModel(): LoadedModel {
    const m = this.handle.current;
    this.last = m.version;
    return m;
  }
}
