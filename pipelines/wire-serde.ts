// The graph's RecordSerde on the Confluent wire format (io/serde) with range validation
// (io/validate): a record of the wrong schema for its topic, or an out-of-range value, is a
// ThermostatError and goes to the DLQ like any undecodable record.
import { ThermostatError } from '../core/errors.js';
import { Serde } from '../io/serde.js';
import { validate } from '../io/validate.js';
import type { SchemaName } from '../schemas/types.js';
import type { RecordSerde } from './task-runner.js';
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

/** Registers (HTTP registry) or looks up the writer schema id of every topic the graph writes. */
export async function prepareWriters(names: TopologyNames, serde: Serde): Promise<void> {
  const schemas = topicSchemas(names);
  for (const [topic, schema] of Object.entries(schemas))
    await serde.prepareWriter(topic, schema as SchemaName);
}
