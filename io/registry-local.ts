// The project's own schema registry: schemas/registry.json maps each subject (record name) to its
// versions, oldest first, each with an id that never changes. Used when no SCHEMA_REGISTRY_URL is
// configured; everything is in memory after construction, so lookups never wait.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ThermostatError } from '../core/errors.js';
import { fullNameOf, type RegisteredSchema, type SchemaRegistry } from './registry.js';

export const SCHEMAS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'schemas');

export interface RegistryVersion {
  id: number;
  file: string;
}
export interface RegistryFile {
  subjects: Record<string, RegistryVersion[]>;
}

export class LocalSchemaRegistry implements SchemaRegistry {
  private readonly ids = new Map<number, RegisteredSchema>();
  /** Latest version per full name: the id we write with. */
  private readonly latest = new Map<string, RegisteredSchema>();

  /** From explicit versions (tests, tools): subject → schemas oldest first. */
  constructor(subjects: Record<string, { id: number; schema: object }[]>) {
    for (const [subject, versions] of Object.entries(subjects)) {
      for (const v of versions) {
        if (this.ids.has(v.id))
          throw new ThermostatError('CONFIG', `schema id ${v.id} is used twice (subject ${subject})`, {
            key: 'schemas/registry.json',
          });
        const entry = { id: v.id, fullName: fullNameOf(v.schema as never), schema: v.schema };
        this.ids.set(v.id, entry);
        this.latest.set(entry.fullName, entry);
      }
    }
  }

  /** The registry of schemas/registry.json. */
  static fromDir(dir = SCHEMAS_DIR): LocalSchemaRegistry {
    const file = JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')) as RegistryFile;
    const subjects: Record<string, { id: number; schema: object }[]> = {};
    for (const [subject, versions] of Object.entries(file.subjects)) {
      subjects[subject] = versions.map((v) => ({
        id: v.id,
        schema: JSON.parse(readFileSync(join(dir, v.file), 'utf8')),
      }));
    }
    return new LocalSchemaRegistry(subjects);
  }

  cached(id: number): RegisteredSchema | undefined {
    return this.ids.get(id);
  }

  async byId(id: number): Promise<RegisteredSchema | undefined> {
    return this.ids.get(id);
  }

  async idFor(_topic: string, fullName: string): Promise<number> {
    return this.latestId(fullName);
  }

  latestId(fullName: string): number {
    const e = this.latest.get(fullName);
    if (!e) throw new ThermostatError('SCHEMA_UNKNOWN', `schema ${fullName} is not in schemas/registry.json`);
    return e.id;
  }

  /** Latest schema per full name (the reader schemas). */
  latestSchemas(): RegisteredSchema[] {
    return [...this.latest.values()];
  }
}
