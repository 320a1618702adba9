// Client of a Confluent Schema Registry (used when SCHEMA_REGISTRY_URL is set). Subjects follow
// the TopicNameStrategy (`<topic>-value`). Both directions are cached: an id's schema never
// changes, so each id is fetched once per process.
//
// Writers send the contract's own schema (the .avsc as published: docs, defaults, logical types),
// so a third-party client using the same file matches the registered version instead of adding
// one. `register` mode registers it (POST /subjects/{s}/versions, which returns the existing id
// when the subject already has it); `lookup` mode only looks it up (POST /subjects/{s}), for
// registries where the job may not register.
import { ConfigError, ThermostatError } from '../core/errors.js';
import type { RuntimeConfig } from '../core/config.js';
import { fullNameOf, type RegisteredSchema, type SchemaRegistry } from './registry.js';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export type RegistryMode = 'register' | 'lookup';

export type RegistryAuth =
  | { kind: 'basic'; username: string; password: string }
  | {
      kind: 'bearer';
      token: string;
      /** Confluent Cloud: the registry's logical cluster id (header `target-sr-cluster`). */
      logicalCluster?: string;
      /** Confluent Cloud: the identity pool of the token (header `Confluent-Identity-Pool-Id`). */
      identityPoolId?: string;
    };

export interface HttpRegistryOptions {
  mode?: RegistryMode;
  auth?: RegistryAuth;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** The registry's `error_code` (40401 subject not found, 40403 schema not found, ...) when it sent one. */
interface RegistryReply {
  status: number;
  body: unknown;
}

export class HttpSchemaRegistry implements SchemaRegistry {
  private readonly ids = new Map<number, RegisteredSchema>();
  private readonly pending = new Map<number, Promise<RegisteredSchema | undefined>>();
  private readonly registered = new Map<string, Promise<number>>();
  /** The URL without credentials (fetch refuses URLs that carry them); safe to print. */
  readonly base: string;
  readonly mode: RegistryMode;
  readonly lookupOnly: boolean;
  private readonly headers: Record<string, string>;
  private readonly fetchFn: typeof fetch;

  constructor(
    url: string,
    private readonly opts: HttpRegistryOptions = {},
  ) {
    const { base, auth: urlAuth } = splitCredentials(url);
    if (urlAuth && opts.auth)
      throw new ConfigError(
        'schemaRegistryUrl',
        'carries credentials and schemaRegistry.auth sets them too: keep one',
      );
    this.base = base;
    this.mode = opts.mode ?? 'register';
    this.lookupOnly = this.mode === 'lookup';
    this.headers = { Accept: CONTENT_TYPE, ...authHeaders(opts.auth ?? urlAuth), ...opts.headers };
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
      p = this.request('GET', `/schemas/ids/${id}`).then(({ status, body }) => {
        if (status === 404) return undefined;
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
      p = this.writerId(`${topic}-value`, fullName, schema);
      this.registered.set(key, p);
      p.catch(() => this.registered.delete(key));
    }
    return p;
  }

  private async writerId(subject: string, fullName: string, schema: object): Promise<number> {
    const path = `/subjects/${encodeURIComponent(subject)}`;
    const body = { schema: JSON.stringify(schema) };
    const { status, body: reply } =
      this.mode === 'register'
        ? await this.request('POST', `${path}/versions`, body)
        : await this.request('POST', path, body);
    if (status === 404) {
      const code = (reply as { error_code?: number } | undefined)?.error_code;
      const what =
        code === 40401
          ? `subject "${subject}" does not exist`
          : `subject "${subject}" has no version equal to the contract schema`;
      throw new ThermostatError(
        'CONFIG',
        `schema registry ${this.base} (lookup-only mode): ${what}; register the published ${fullName} ` +
          'schema under it first (docs/SCHEMA-REGISTRY.md) or set schemaRegistry.mode=register',
        { key: 'schemaRegistry.mode' },
      );
    }
    const id = (reply as { id?: number } | undefined)?.id;
    if (typeof id !== 'number')
      throw new ThermostatError('DEPENDENCY', `schema registry ${this.base} returned no id for ${subject}`);
    this.ids.set(id, { id, fullName, schema });
    return id;
  }

  /** Status and JSON body of a 2xx or 404 reply (unknown id/subject). Other failures throw a DEPENDENCY error. */
  private async request(method: string, path: string, body?: unknown): Promise<RegistryReply> {
    const where = `schema registry ${this.base}: ${method} ${path}`;
    let res: Response;
    try {
      res = await this.fetchFn(this.base + path, {
        method,
        headers: body === undefined ? this.headers : { ...this.headers, 'Content-Type': CONTENT_TYPE },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
    } catch (e) {
      throw new ThermostatError('DEPENDENCY', `${where} failed: ${(e as Error).message}`, {
        retriable: true,
        cause: e,
      });
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new ThermostatError(
        'DEPENDENCY',
        `${where}: HTTP ${res.status}, ${res.status === 401 ? 'credentials missing or rejected' : 'not permitted for these credentials'}` +
          ' (schemaRegistry.auth: SCHEMA_REGISTRY_USERNAME/SCHEMA_REGISTRY_PASSWORD or SCHEMA_REGISTRY_BEARER_TOKEN)',
      );
    }
    if (!res.ok && res.status !== 404) {
      const text = await res.text().catch(() => '');
      throw new ThermostatError(
        res.status === 409 ? 'SCHEMA_INCOMPATIBLE' : 'DEPENDENCY',
        `${where}: HTTP ${res.status} ${text.slice(0, 200)}`,
        { retriable: res.status >= 500 || res.status === 429 },
      );
    }
    try {
      return { status: res.status, body: await res.json() };
    } catch (e) {
      if (res.status === 404) return { status: 404, body: undefined };
      throw new ThermostatError('DEPENDENCY', `${where}: the reply is not JSON (${(e as Error).message})`, {
        cause: e,
      });
    }
  }
}

/** Builds the client from the job configuration (URL, mode, credentials, timeout). */
export function httpRegistryFromConfig(
  cfg: Pick<RuntimeConfig, 'schemaRegistryUrl' | 'schemaRegistry'>,
): HttpSchemaRegistry {
  if (!cfg.schemaRegistryUrl) throw new ConfigError('schemaRegistryUrl', 'is not set');
  const { mode, auth, timeoutMs } = cfg.schemaRegistry;
  let credentials: RegistryAuth | undefined;
  if (auth.bearerToken)
    credentials = {
      kind: 'bearer',
      token: auth.bearerToken,
      logicalCluster: auth.logicalCluster,
      identityPoolId: auth.identityPoolId,
    };
  else if (auth.username !== undefined && auth.password !== undefined)
    credentials = { kind: 'basic', username: auth.username, password: auth.password };
  return new HttpSchemaRegistry(cfg.schemaRegistryUrl, { mode, auth: credentials, timeoutMs });
}

/** `https://user:pass@host/` → the URL without them, and them as basic credentials. */
function splitCredentials(url: string): { base: string; auth?: RegistryAuth } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('schemaRegistryUrl', `"${url}" is not a URL`);
  }
  const auth: RegistryAuth | undefined =
    u.username || u.password
      ? {
          kind: 'basic',
          username: decodeURIComponent(u.username),
          password: decodeURIComponent(u.password),
        }
      : undefined;
  u.username = '';
  u.password = '';
  return { base: u.toString().replace(/\/+$/, ''), auth };
}

function authHeaders(auth: RegistryAuth | undefined): Record<string, string> {
  if (!auth) return {};
  if (auth.kind === 'basic')
    return {
      Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`,
    };
  const h: Record<string, string> = { Authorization: `Bearer ${auth.token}` };
  if (auth.logicalCluster) h['target-sr-cluster'] = auth.logicalCluster;
  if (auth.identityPoolId) h['Confluent-Identity-Pool-Id'] = auth.identityPoolId;
  return h;
}
