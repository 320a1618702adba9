// The operations endpoints (SPEC §6): /metrics for Prometheus, /healthz (the process answers),
// /readyz (the job says it can serve: partitions assigned, state restored, dependencies up).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Readiness {
  ready: boolean;
  /** Why not ready, or what is degraded (still ready, e.g. Redis down while running from local state). */
  reason?: string;
  degraded?: boolean;
}

export interface OpsServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export async function startOpsServer(opts: {
  port: number;
  host?: string;
  register: Registry;
  readiness: () => Readiness;
}): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/metrics') {
      opts.register.metrics().then(
        (body) => res.writeHead(200, { 'Content-Type': opts.register.contentType }).end(body),
        (e: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(e.message),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const r = opts.readiness();
      const status = r.ready ? 200 : 503;
      const text = r.ready
        ? r.degraded
          ? `ready (degraded: ${r.reason ?? 'unknown'})`
          : 'ready'
        : `not ready: ${r.reason ?? 'starting'}`;
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(text + '\n');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = !opts.host || opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
  return {
    server,
    url: `http://${host}:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
