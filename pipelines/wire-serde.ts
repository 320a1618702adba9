// The graph's RecordSerde on the Confluent wire format (io/serde) with range validation
// (io/validate): a record of the wrong schema for its topic, or an out-of-range value, is a
// ThermostatError and goes to the DLQ like any undecodable record.
import { ThermostatError } from '../core/errors.js';
import { Serde } from '../io/serde.js';
import { validate } from '../io/validate.js';
import type { SchemaName } from '../schemas/types.js';
import type { RecordSerde } from './task.js';
import { topicSchemas, type TopologyNames } from './topology.js';

export function wireSerde(
  names: TopologyNames,
  serde: Serde = Serde.local(),
): RecordSerde & { serde: Serde } {
  const expected = topicSchemas(names);
  return {
    serde,
    encode: (schema, value) => serde.encode(schema, value as never),
    decode(topic, bytes) {
      const d = serde.decode(bytes);
      const want = expected[topic];
      if (want !== undefined && d.schema !== want) {
        throw new ThermostatError(
          'SCHEMA_INCOMPATIBLE',
          `topic ${topic} carries ${want} records, got ${d.schema} (schema id ${d.schemaId})`,
          { topic },
        );
      }
      validate(d);
      return d.value;
    },
    prefetch: (values) => serde.prefetch(values),
  };
}

/**
 * Resolves the writer schema id of every topic of the graph: registered under `<topic>-value`
 * (so producers with auto-registration off find the contract's ids), or in lookup mode looked up
 * for the topics the job writes only (the inputs' producers register theirs).
 */
export async function prepareWriters(names: TopologyNames, serde: Serde): Promise<void> {
  const inputs = new Set([names.interactions, names.published, names.objectives]);
  for (const [topic, schema] of Object.entries(topicSchemas(names)))
    if (!(serde.lookupOnly && inputs.has(topic))) await serde.prepareWriter(topic, schema as SchemaName);
}
