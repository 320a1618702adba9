// Confluent wire format: [0x00 magic][int32 BE schema id][Avro binary body]. Decoding resolves the
// writer schema (by id) to the reader schema this code was built with (same full name, latest
// local version), so producers on an older or newer compatible schema keep working.
// Hot path: one Map lookup per record, avsc's compiled decoder reading straight from the
// consumer's buffer (no copy), resolvers built once per writer id.
import avro from 'avsc';
import { ThermostatError } from '../core/errors.js';
import type { RuntimeConfig } from '../core/config.js';
import type {
  AllocatorInput,
  BusinessObjectives,
  ContentEvent,
  ContentPublished,
  ContentState,
  HeatingAllocation,
  SchemaName,
  UserInteraction,
  UserMindState,
} from '../schemas/types.js';
import { httpRegistryFromConfig } from './registry-http.js';
import { LocalSchemaRegistry } from './registry-local.js';
import { fullNameOf, shortName, type SchemaRegistry } from './registry.js';

export const MAGIC_BYTE = 0;
export const HEADER_SIZE = 5;

/** Value type of each schema. (Generated types carry no name → type map yet; see docs/SCHEMAS.md.) */
export interface SchemaValues {
  UserInteraction: UserInteraction;
  ContentPublished: ContentPublished;
  BusinessObjectives: BusinessObjectives;
  HeatingAllocation: HeatingAllocation;
  UserMindState: UserMindState;
  ContentState: ContentState;
  AllocatorInput: AllocatorInput;
  ContentEvent: ContentEvent;
}
export type ValueOf<K extends string> = K extends keyof SchemaValues
  ? SchemaValues[K]
  : Record<string, unknown>;

/** A decoded value, discriminated by its schema name. */
export type Decoded = { [K in SchemaName]: { schema: K; schemaId: number; value: ValueOf<K> } }[SchemaName];

interface Reader {
  schema: SchemaName;
  type: avro.Type;
  /**
   * The schema as published (the .avsc: docs, defaults, logical types). This is what is
   * registered: avsc's `type.schema()` drops all three, so a client registering the .avsc would
   * not match it.
   */
  contract: object;
}
interface DecoderEntry {
  schema: SchemaName;
  type: avro.Type;
  resolver?: avro.Resolver;
  /** A writer that cannot be read is remembered, so it is not re-resolved per record. */
  error?: ThermostatError;
}

export class Serde {
  private readonly readers = new Map<string, Reader>();
  private readonly readersByShortName = new Map<string, Reader>();
  private readonly decoders = new Map<number, DecoderEntry>();
  private readonly writerIds = new Map<string, number>();
  private scratch = Buffer.allocUnsafe(64 * 1024);

  /**
   * @param registry where writer schemas come from (ids on the wire)
   * @param local the project's schemas: the reader schemas, and the writer ids when `registry` is local
   */
  constructor(
    private readonly registry: SchemaRegistry,
    local: LocalSchemaRegistry = LocalSchemaRegistry.fromDir(),
  ) {
    for (const s of local.latestSchemas()) {
      const reader = {
        schema: shortName(s.fullName) as SchemaName,
        type: avro.Type.forSchema(s.schema as avro.Schema),
        contract: s.schema,
      };
      this.readers.set(s.fullName, reader);
      this.readersByShortName.set(reader.schema, reader);
      if (registry === local) this.writerIds.set(shortName(s.fullName), s.id);
    }
  }

  /** The local registry of schemas/ (no network). */
  static local(local = LocalSchemaRegistry.fromDir()): Serde {
    return new Serde(local, local);
  }

  /** HTTP registry (URL, mode, credentials) when `schemaRegistryUrl` is configured, otherwise the local one. */
  static fromConfig(cfg: Pick<RuntimeConfig, 'schemaRegistryUrl' | 'schemaRegistry'>): Serde {
    return cfg.schemaRegistryUrl ? new Serde(httpRegistryFromConfig(cfg)) : Serde.local();
  }

  /** Writer ids are only looked up in the registry (lookup mode), never registered. */
  get lookupOnly(): boolean {
    return this.registry.lookupOnly ?? false;
  }

  /**
   * Resolves the id `encode(name)` writes with: HTTP registry, the contract schema registered (or
   * in lookup mode looked up) under `<topic>-value`. Call once at start.
   */
  async prepareWriter(topic: string, name: SchemaName): Promise<number> {
    const { contract } = this.readerByName(name);
    const id = await this.registry.idFor(topic, fullNameOf(contract as never), contract);
    this.writerIds.set(name, id);
    return id;
  }

  /** Fetches writer schemas of ids not seen yet (HTTP registry); a no-op when all are known. */
  async prefetch(values: Iterable<Buffer | null | undefined>): Promise<void> {
    let missing: Set<number> | undefined;
    let known: number | null = null; // a batch is nearly always one schema id: check each run once
    for (const v of values) {
      if (!v || v.length < HEADER_SIZE || v[0] !== MAGIC_BYTE) continue;
      const id = v.readInt32BE(1);
      if (id === known) continue;
      if (this.decoders.has(id) || this.registry.cached(id)) {
        known = id;
        continue;
      }
      (missing ??= new Set()).add(id);
    }
    if (missing) await Promise.all([...missing].map((id) => this.registry.byId(id)));
  }

  /** Encodes `value` with the latest local schema `name`, prefixed with the wire-format header. */
  encode<K extends SchemaName>(name: K, value: ValueOf<K>): Buffer {
    const id = this.writerIds.get(name);
    if (id === undefined)
      throw new ThermostatError(
        'INTERNAL',
        `no writer id for ${name}: call prepareWriter(topic, '${name}') first`,
      );
    const type = this.readerByName(name).type;
    for (;;) {
      const buf = this.scratch;
      buf[0] = MAGIC_BYTE;
      buf.writeInt32BE(id, 1);
      let end: number;
      try {
        end = type.encode(value, buf, HEADER_SIZE);
      } catch (e) {
        throw new ThermostatError('INTERNAL', `cannot encode ${name}: ${(e as Error).message}`, { cause: e });
      }
      if (end >= 0) return Buffer.from(buf.subarray(0, end)); // one copy out of the scratch buffer
      this.scratch = Buffer.allocUnsafe(Math.max(buf.length * 2, -end + HEADER_SIZE));
    }
  }

  /** Decodes one wire-format value. Throws ThermostatError: WIRE_FORMAT, SCHEMA_UNKNOWN, SCHEMA_INCOMPATIBLE, AVRO_DECODE. */
  decode(buf: Buffer): Decoded {
    if (buf.length < HEADER_SIZE)
      throw new ThermostatError(
        'WIRE_FORMAT',
        `value has ${buf.length} bytes, shorter than the 5-byte wire-format header`,
      );
    if (buf[0] !== MAGIC_BYTE)
      throw new ThermostatError('WIRE_FORMAT', `magic byte is ${buf[0]}, expected 0`);
    const id = buf.readInt32BE(1);
    const d = this.decoders.get(id) ?? this.decoderFor(id);
    if (d.error) throw d.error;
    let r: { value: unknown; offset: number };
    try {
      r = d.type.decode(buf, HEADER_SIZE, d.resolver);
    } catch (e) {
      throw new ThermostatError(
        'AVRO_DECODE',
        `invalid Avro body for ${d.schema} (schema id ${id}): ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (r.offset < 0)
      throw new ThermostatError('AVRO_DECODE', `truncated Avro body for ${d.schema} (schema id ${id})`);
    if (r.offset !== buf.length)
      throw new ThermostatError(
        'AVRO_DECODE',
        `${buf.length - r.offset} trailing bytes after the Avro body of ${d.schema} (schema id ${id})`,
      );
    return { schema: d.schema, schemaId: id, value: r.value } as Decoded;
  }

  /** The schema id a value was written with, or undefined when it has no wire-format header. */
  static schemaIdOf(buf: Buffer): number | undefined {
    return buf.length >= HEADER_SIZE && buf[0] === MAGIC_BYTE ? buf.readInt32BE(1) : undefined;
  }

  private readerByName(name: string): Reader {
    const r = this.readersByShortName.get(name);
    if (r) return r;
    throw new ThermostatError('SCHEMA_UNKNOWN', `no local schema named ${name}`);
  }

  private decoderFor(id: number): DecoderEntry {
    const writer = this.registry.cached(id);
    // Unknown ids are not cached: an HTTP registry may learn them later (prefetch).
    if (!writer) throw new ThermostatError('SCHEMA_UNKNOWN', `schema id ${id} is not in the registry`);
    const reader = this.readers.get(writer.fullName);
    let entry: DecoderEntry;
    if (!reader) {
      entry = {
        schema: shortName(writer.fullName) as SchemaName,
        type: avro.Type.forSchema(writer.schema as avro.Schema),
        error: new ThermostatError(
          'SCHEMA_UNKNOWN',
          `schema id ${id} is ${writer.fullName}, which this job has no reader schema for`,
        ),
      };
    } else {
      const writerType = avro.Type.forSchema(writer.schema as avro.Schema);
      entry = { schema: reader.schema, type: reader.type };
      if (!writerType.fingerprint().equals(reader.type.fingerprint())) {
        try {
          entry.resolver = reader.type.createResolver(writerType);
        } catch (e) {
          entry.error = new ThermostatError(
            'SCHEMA_INCOMPATIBLE',
            `writer schema id ${id} of ${writer.fullName} cannot be read as the current schema: ${(e as Error).message}`,
            { cause: e },
          );
        }
      }
    }
    this.decoders.set(id, entry);
    return entry;
  }
}
