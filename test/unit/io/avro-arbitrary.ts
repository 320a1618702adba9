// A fast-check arbitrary derived from an Avro schema, so every schema (and every schema added
// later) gets a property-based round-trip test without writing a generator by hand.
import fc from 'fast-check';

type Schema = string | Schema[] | { type: string; [k: string]: unknown };

export function avroArbitrary(schema: Schema): fc.Arbitrary<unknown> {
  const named = new Map<string, fc.Arbitrary<unknown>>();
  const full = (name: string, ns?: string) => (name.includes('.') || !ns ? name : `${ns}.${name}`);

  const go = (s: Schema, ns?: string): fc.Arbitrary<unknown> => {
    if (Array.isArray(s)) return fc.oneof(...s.map((b) => go(b, ns)));
    if (typeof s === 'string') {
      switch (s) {
        case 'null':
          return fc.constant(null);
        case 'boolean':
          return fc.boolean();
        case 'int':
          return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
        // avsc encodes longs exactly within ±2^52 (zig-zag on doubles); see docs/SCHEMAS.md.
        case 'long':
          return fc.integer({ min: -(2 ** 52), max: 2 ** 52 });
        // Avro float is 32-bit: only float32 values survive a round trip unchanged.
        case 'float':
          return fc.double().map(Math.fround);
        case 'double':
          return fc.double();
        case 'string':
          return fc.string({ unit: 'grapheme', maxLength: 24 });
        case 'bytes':
          return fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a));
        default: {
          const ref = named.get(full(s, ns)) ?? named.get(s);
          if (!ref) throw new Error(`unknown Avro type reference ${s}`);
          return ref;
        }
      }
    }
    const namespace = (s.namespace as string | undefined) ?? ns;
    switch (s.type) {
      case 'record':
      case 'error': {
        const fields = s.fields as { name: string; type: Schema }[];
        const model: Record<string, fc.Arbitrary<unknown>> = {};
        // Register before recursing so self-references resolve.
        const arb = fc.constant(null).chain(() => fc.record(model));
        named.set(full(s.name as string, namespace), arb);
        for (const f of fields) model[f.name] = go(f.type, namespace);
        return arb;
      }
      case 'enum': {
        const arb = fc.constantFrom(...(s.symbols as string[]));
        named.set(full(s.name as string, namespace), arb);
        return arb;
      }
      case 'fixed': {
        const arb = fc
          .uint8Array({ minLength: s.size as number, maxLength: s.size as number })
          .map((a) => Buffer.from(a));
        named.set(full(s.name as string, namespace), arb);
        return arb;
      }
      case 'array':
        return fc.array(go(s.items as Schema, namespace), { maxLength: 5 });
      case 'map':
        return fc.dictionary(fc.string({ maxLength: 8 }), go(s.values as Schema, namespace), { maxKeys: 4 });
      default:
        return go(s.type as Schema, namespace); // primitive with attributes (logicalType)
    }
  };
  return go(schema);
}

/** Strips avsc's record classes so decoded values compare structurally with plain inputs. */
export function plain(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  if (Array.isArray(v)) return v.map(plain);
  return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, plain(x)]));
}
