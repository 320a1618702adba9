// A Confluent Schema Registry stand-in over real HTTP, for tests: the REST subset the job and the
// Confluent clients (Java, Python, Go, JS) use, with basic or bearer auth enforced on every call.
//
//   GET  /subjects                              POST /subjects/{s}/versions   register (idempotent)
//   GET  /subjects/{s}/versions                 POST /subjects/{s}            look up by schema
//   GET  /subjects/{s}/versions/{v|latest}      GET  /schemas/ids/{id}[/versions|/subjects]
//   GET  /config, GET /config/{s}
//
// As in the real registry, ids are global (the same schema under two subjects has one id) and
// schemas are compared by content, not by text: whitespace and key order do not matter, docs,
// defaults and logical types do. Every request is recorded (`requests`) so a test can assert what
// a client sent (e.g. no registration in lookup mode). Unknown routes answer 404 and are recorded
// in `unhandled`.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import avro from 'avsc';
import { SCHEMAS_DIR, type RegistryFile } from '../../io/registry-local.js';

export interface StandInAuth {
  basic?: { username: string; password: string };
  bearer?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** Whether the request passed the auth check. */
  authorized: boolean;
}

interface Version {
  subject: string;
  version: number;
  id: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The published schema text of a record (the latest `.avsc` of schemas/registry.json), e.g. `UserInteraction`. */
export function contractText(name: string): string {
  const file = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'registry.json'), 'utf8')) as RegistryFile;
  const latest = file.subjects[name]?.at(-1);
  if (!latest) throw new Error(`no schema ${name} in schemas/registry.json`);
  return readFileSync(join(SCHEMAS_DIR, latest.file), 'utf8');
}

/** Sorted-key JSON of the parsed schema: equal for the same schema written differently. */
export function canonicalSchema(text: string): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sort(JSON.parse(text)));
}

export class SchemaRegistryStandIn {
  readonly requests: RecordedRequest[] = [];
  readonly unhandled: string[] = [];
  private readonly texts = new Map<number, string>();
  private readonly idsByCanonical = new Map<string, number>();
  private readonly subjects = new Map<string, Version[]>();
  private nextId = 1;
  /** False: every request is answered 503, as by a registry that is down. */
  available = true;
  /** Requests this answers 503 even while available (a registry failing for some lookups only). */
  refuses: (method: string, path: string) => boolean = () => false;

  private readonly server: Server;

  private constructor(private readonly auth: StandInAuth) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  static async start(auth: StandInAuth = {}, port = 0): Promise<SchemaRegistryStandIn> {
    const self = new SchemaRegistryStandIn(auth);
    await new Promise<void>((resolve) => self.server.listen(port, '127.0.0.1', resolve));
    return self;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Registers directly (no HTTP): what a team with admin rights did before the job started. */
  register(subject: string, schemaText: string): number {
    return this.registerVersion(subject, schemaText).id;
  }

  /** Versions of a subject, oldest first (empty when unknown). */
  versions(subject: string): { version: number; id: number; schema: string }[] {
    return (this.subjects.get(subject) ?? []).map((v) => ({ ...v, schema: this.texts.get(v.id)! }));
  }

  subjectNames(): string[] {
    return [...this.subjects.keys()].sort();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const authorized = this.authorized(req.headers.authorization);
    this.requests.push({ method, path, authorized });
    try {
      if (!this.available || this.refuses(method, path))
        throw new HttpError(503, 50301, 'Service Unavailable');
      if (!authorized) throw new HttpError(401, 40101, 'Unauthorized');
      const body = method === 'POST' ? await readJson(req) : undefined;
      this.reply(res, 200, this.route(method, path.split('/').slice(1).map(decodeURIComponent), body));
    } catch (e) {
      const err = e instanceof HttpError ? e : new HttpError(500, 50001, (e as Error).message);
      if (err.code === 40499) this.unhandled.push(`${method} ${path}`);
      this.reply(res, err.status, { error_code: err.code, message: err.message });
    }
  }

  private route(method: string, p: string[], body: unknown): unknown {
    const [a, b, c, d] = p;
    if (method === 'GET' && a === 'subjects' && p.length === 1) return this.subjectNames();
    if (a === 'subjects' && b !== undefined) {
      if (method === 'POST' && p.length === 2) return this.lookup(b, schemaOf(body));
      if (method === 'POST' && c === 'versions' && p.length === 3)
        return { id: this.registerVersion(b, schemaOf(body)).id };
      if (method === 'GET' && c === 'versions' && p.length === 3)
        return this.subjectVersions(b).map((v) => v.version);
      if (method === 'GET' && c === 'versions' && p.length === 4) return this.version(b, d);
    }
    if (method === 'GET' && a === 'schemas' && b === 'ids' && c !== undefined) {
      const id = Number(c);
      const text = this.texts.get(id);
      if (text === undefined) throw new HttpError(404, 40403, `Schema ${c} not found`);
      const uses = [...this.subjects.values()].flat().filter((v) => v.id === id);
      if (p.length === 3) return { schema: text };
      if (d === 'versions') return uses.map((v) => ({ subject: v.subject, version: v.version }));
      if (d === 'subjects') return [...new Set(uses.map((v) => v.subject))];
    }
    if (method === 'GET' && a === 'config') return { compatibilityLevel: 'BACKWARD' };
    throw new HttpError(404, 40499, `no route ${method} /${p.join('/')} in the stand-in`);
  }

  private registerVersion(subject: string, text: string): Version {
    const canonical = parseCanonical(text);
    const versions = this.subjects.get(subject) ?? [];
    let id = this.idsByCanonical.get(canonical);
    const existing = id === undefined ? undefined : versions.find((v) => v.id === id);
    if (existing) return existing;
    if (id === undefined) {
      id = this.nextId++;
      this.idsByCanonical.set(canonical, id);
      this.texts.set(id, text);
    }
    const v = { subject, version: versions.length + 1, id };
    this.subjects.set(subject, [...versions, v]);
    return v;
  }

  private lookup(subject: string, text: string): unknown {
    const versions = this.subjectVersions(subject);
    const id = this.idsByCanonical.get(parseCanonical(text));
    const v = versions.find((x) => x.id === id);
    if (!v) throw new HttpError(404, 40403, 'Schema not found');
    return { subject, id: v.id, version: v.version, schema: this.texts.get(v.id) };
  }

  private subjectVersions(subject: string): Version[] {
    const versions = this.subjects.get(subject);
    if (!versions) throw new HttpError(404, 40401, `Subject '${subject}' not found.`);
    return versions;
  }

  private version(subject: string, which: string): unknown {
    const versions = this.subjectVersions(subject);
    const v = which === 'latest' || which === '-1' ? versions.at(-1) : versions[Number(which) - 1];
    if (!v) throw new HttpError(404, 40402, `Version ${which} not found.`);
    return { subject, id: v.id, version: v.version, schema: this.texts.get(v.id) };
  }

  private authorized(header: string | undefined): boolean {
    const { basic, bearer } = this.auth;
    if (!basic && !bearer) return true;
    if (basic && header === `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`)
      return true;
    return bearer !== undefined && header === `Bearer ${bearer}`;
  }

  private reply(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'Content-Type': 'application/vnd.schemaregistry.v1+json' });
    res.end(JSON.stringify(body));
  }
}

/** The canonical form of an Avro schema text; 422 (as the registry) when it is not one. */
function parseCanonical(text: string): string {
  try {
    avro.Type.forSchema(JSON.parse(text) as avro.Schema);
    return canonicalSchema(text);
  } catch (e) {
    throw new HttpError(422, 42201, `Invalid schema: ${(e as Error).message}`);
  }
}

function schemaOf(body: unknown): string {
  const b = body as { schema?: unknown; schemaType?: unknown } | undefined;
  if (typeof b?.schema !== 'string') throw new HttpError(422, 42201, 'body has no "schema" string');
  if (b.schemaType !== undefined && b.schemaType !== 'AVRO')
    throw new HttpError(422, 42201, `schemaType ${String(b.schemaType)} is not served by the stand-in`);
  return b.schema;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 400, 'body is not JSON');
  }
}
