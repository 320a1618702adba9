// Client of a Confluent Schema Registry (used when SCHEMA_REGISTRY_URL is set). Subjects follow
// the TopicNameStrategy (`<topic>-value`). Both directions are cached: an id's schema never
// changes, so each id is fetched once per process.
import { ThermostatError } from '../core/errors.js';
import { fullNameOf, type RegisteredSchema, type SchemaRegistry } from './registry.js';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface HttpRegistryOptions {
  /** Extra headers, e.g. Authorization for a managed registry. */
  headers?: Record<string, string>;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class HttpSchemaRegistry implements SchemaRegistry {
  private readonly ids = new Map<number, RegisteredSchema>();
  private readonly pending = new Map<number, Promise<RegisteredSchema | undefined>>();
  private readonly registered = new Map<string, Promise<number>>();
  private readonly base: string;
  private readonly fetchFn: typeof fetch;

  constructor(
    url: string,
    private readonly opts: HttpRegistryOptions = {},
  ) {
    this.base = url.replace(/\/+$/, '');
    this.fetchFn = opts.fetch ?? fetch;
  }

  cached(id: number): RegisteredSchema | undefined {
    return this.ids.get(id);
  }

  byId(id: number): Promise<RegisteredSchema | undefined> {
    const hit = this.ids.get(id);
    if (hit) return Promise.resolve(hit);
    let p = this.pending.get(id);
    if (!p) {
      p = this.request('GET', `/schemas/ids/${id}`).then((body) => {
        if (body === undefined) return undefined;
        const schema = JSON.parse((body as { schema: string }).schema) as object;
        const entry = { id, fullName: fullNameOf(schema as never), schema };
        this.ids.set(id, entry);
        return entry;
      });
      this.pending.set(id, p);
      p.finally(() => this.pending.delete(id)).catch(() => {});
    }
    return p;
  }

  idFor(topic: string, fullName: string, schema: object): Promise<number> {
    const key = `${topic}\u0000${fullName}`;
    let p = this.registered.get(key);
    if (!p) {
      p = this.request('POST', `/subjects/${encodeURIComponent(`${topic}-value`)}/versions`, {
        schema: JSON.stringify(schema),
      }).then((body) => {
        const id = (body as { id?: number } | undefined)?.id;
        if (typeof id !== 'number')
          throw new ThermostatError('DEPENDENCY', `schema registry returned no id for ${topic}-value`, {
            topic,
          });
        this.ids.set(id, { id, fullName, schema });
        return id;
      });
      this.registered.set(key, p);
      p.catch(() => this.registered.delete(key));
    }
    return p;
  }

  /** JSON body, or undefined on 404 (unknown id/subject). Other failures are retriable DEPENDENCY errors. */
  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await this.fetchFn(this.base + path, {
        method,
        headers: {
          Accept: CONTENT_TYPE,
          ...(body ? { 'Content-Type': CONTENT_TYPE } : {}),
          ...this.opts.headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
    } catch (e) {
      throw new ThermostatError(
        'DEPENDENCY',
        `schema registry ${method} ${path} failed: ${(e as Error).message}`,
        { retriable: true, cause: e },
      );
    }
    if (res.status === 404) return undefined;
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      const reason = res.status === 409 ? 'SCHEMA_INCOMPATIBLE' : 'DEPENDENCY';
      throw new ThermostatError(
        reason,
        `schema registry ${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`,
        { retriable: res.status >= 500 },
      );
    }
    return res.json();
  }
}
