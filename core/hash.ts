// Stable hashes. murmur2 matches Kafka's Java default partitioner (and librdkafka's
// `murmur2_random`), so keys land on the same partition whichever client produced them.

/**
 * Kafka's murmur2 over UTF-8 bytes (signed 32-bit result, as in the Java client). `length` hashes
 * a prefix, so a caller can reuse one scratch buffer instead of allocating per key.
 */
export function murmur2(data: Uint8Array, length = data.length): number {
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  let h = (seed ^ length) | 0;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2;
    let k =
      (data[i4] & 0xff) +
      ((data[i4 + 1] & 0xff) << 8) +
      ((data[i4 + 2] & 0xff) << 16) +
      ((data[i4 + 3] & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const index = length4 << 2;
  switch (length - index) {
    case 3:
      h ^= (data[index + 2] & 0xff) << 16;
    // falls through
    case 2:
      h ^= (data[index + 1] & 0xff) << 8;
    // falls through
    case 1:
      h ^= data[index] & 0xff;
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

const encoder = new TextEncoder();

/** Partition for a key exactly as Kafka's default partitioner computes it. */
export function partitionForKey(key: string | Uint8Array, partitions: number): number {
  const bytes = typeof key === 'string' ? encoder.encode(key) : key;
  return (murmur2(bytes) & 0x7fffffff) % partitions;
}

/** FNV-1a 32-bit over a string's UTF-16 code units: cheap, stable, for ids and RNG keys. */
export function fnv1a32(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** 64 bits of hash as 16 hex chars (two independent FNV-1a passes): for deterministic ids. */
export function hash64Hex(s: string): string {
  const a = fnv1a32(s);
  const b = fnv1a32(s, 0x01000193 ^ a);
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}
