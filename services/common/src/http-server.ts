// The operations endpoint every service serves: /metrics (Prometheus), /healthz (alive), /readyz (ready for work:
// 503 while starting, draining or failed, or while a ready service says it cannot work (notReady(): a stalled consumer,
// an output failing for too long), so a load balancer or the kubelet stops sending work first and someone looks).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { ServiceState } from './lifecycle.js';

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** The states of the services in this process; ready only when all are ready. */
  states: () => Record<string, ServiceState>;
  /** Per service, what its detail() says (only services that have one). */
  details?: () => Record<string, Record<string, unknown>>;
  /** Per service that is ready but cannot do its work, why (Service.notReady()). */
  reasons?: () => Record<string, string>;
}

export class OpsServer {
  private server: Server | undefined;

  constructor(private readonly opts: OpsServerOptions) {}

  async start(): Promise<{ port: number }> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') { res.writeHead(405).end(); return; }
      if (path === '/metrics') {
        this.opts.registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': this.opts.registry.contentType }).end(body),
          (err: unknown) => res.writeHead(500).end(String(err)),
        );
        return;
      }
      if (path === '/healthz' || path === '/readyz') {
        const states = this.opts.states();
        const values = Object.values(states);
        const reasons = path === '/readyz' ? this.opts.reasons?.() ?? {} : {};
        const ok = path === '/healthz'
          ? values.every((s) => s !== 'failed')
          : values.length > 0 && values.every((s) => s === 'ready') && Object.keys(reasons).length === 0;
        const detail = path === '/readyz' ? this.opts.details?.() : undefined;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({
            ok, states,
            ...(Object.keys(reasons).length > 0 && { reasons }),
            ...(detail !== undefined && Object.keys(detail).length > 0 && { detail }),
          }));
        return;
      }
      res.writeHead(404).end();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => { server.off('error', reject); resolve(); });
    });
    return { port: (server.address() as AddressInfo).port };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
