// What the serde needs from a schema registry, local or HTTP. Ids are Confluent schema ids: the
// 4 bytes after the magic byte. A schema's `name` is its full Avro name (thermostat.v1.X).
export interface RegisteredSchema {
  id: number;
  /** Full Avro name, e.g. `thermostat.v1.UserInteraction`. */
  fullName: string;
  /** The schema JSON (parsed). */
  schema: object;
}

export interface SchemaRegistry {
  /** A writer schema already known (no I/O); undefined when the id is not cached or unknown. */
  cached(id: number): RegisteredSchema | undefined;
  /** A writer schema by id, fetched when needed; undefined when the registry does not know the id. */
  byId(id: number): Promise<RegisteredSchema | undefined>;
  /** The id under which `schema` is written to `topic` (registered when the registry allows it). */
  idFor(topic: string, fullName: string, schema: object): Promise<number>;
  /** True when ids are only looked up, never registered: subjects must exist before the job writes. */
  readonly lookupOnly?: boolean;
}

/** Short record name: `thermostat.v1.UserInteraction` → `UserInteraction`. */
export const shortName = (fullName: string): string => fullName.slice(fullName.lastIndexOf('.') + 1);

export function fullNameOf(schema: { name?: string; namespace?: string }): string {
  const name = schema.name ?? '';
  return name.includes('.') || !schema.namespace ? name : `${schema.namespace}.${name}`;
}
