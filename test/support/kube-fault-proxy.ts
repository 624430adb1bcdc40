// A fault proxy in front of the real kube-apiserver (issue 10): the stages under test talk to it instead of the
// server, and a test arms failures on the requests it matches: an HTTP status with the API server's Status body
// (500, 409 Conflict, 429 with Retry-After...), a reset connection, or a hung request, optionally after the server
// has carried it out (a write that is stored but whose answer never comes, as across a partition), or a stalled
// stream (the server's answer headers, then silence while the connection stays open, as through a stuck proxy).
// Every other request is forwarded unchanged, watches streamed as they come, so what the client sees is the real
// server's validation, patch merging, RBAC and resourceVersions.
//
// TLS on both sides: the proxy serves the API server's own certificate (clients trust the same CA), passes a
// client's bearer token through (RBAC judges the ServiceAccount), and forwards a request without one with the
// admin certificate (a client certificate cannot be relayed).
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest, createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { KubeCluster } from './kube-cluster.js';

export interface FailureSpec {
  /** HTTP method to match (any when omitted). */
  method?: string;
  /** Substring of the path (without query) to match (any when omitted). */
  pathIncludes?: string;
  /** Match only watch requests (true) or only non-watch requests (false). */
  watch?: boolean;
  /**
   * The status to answer with, 'reset' to destroy the connection without an answer, or 'hang' to hold the request
   * unanswered until the client gives up (or stop()), as an overloaded or partitioned API server does, or 'stall'
   * to forward the request and pass on the server's status and headers but nothing after them: the body (a watch's
   * events and bookmarks) and its end are withheld, and the connection stays open and silent until the client gives
   * up (or stop()), as a stuck proxy or a half-dead connection does.
   */
  status: number | 'reset' | 'hang' | 'stall';
  /** With 'hang': forward the request first (a write is stored), then withhold the answer. */
  apply?: boolean;
  /** How many matching requests fail; 1 when omitted. */
  count?: number;
  reason?: string;
  message?: string;
  /** Sets Retry-After (the API server sends it with 429). */
  retryAfterSeconds?: number;
}

export interface RequestRecord {
  method: string;
  /** Path without the query string, as sent (percent-encoding intact). */
  path: string;
  query: Record<string, string>;
  contentType?: string;
  /** The parsed JSON body, or the raw text when it was not JSON; absent when empty. */
  body?: unknown;
  /** The server's status (or the injected one); 0 while pending or when the connection was reset or withheld. */
  status: number;
  watch: boolean;
  /** True when the answer came from failNext() rather than the server. */
  injected: boolean;
  /** When the request reached the proxy (Date.now()): the gaps between a client's retries. */
  at: number;
  /** A failNext({ status: 'hang', apply: true }) request: the server answered `upstreamStatus`, the client got nothing. */
  withheld?: boolean;
  upstreamStatus?: number;
  /** A failNext({ status: 'stall' }) request: the body bytes the server sent that the client never got. */
  withheldBytes?: number;
  /** A stalled request whose response the server has ended (the client's stays open). */
  upstreamEnded?: boolean;
}

export interface FaultProxy {
  /** https://127.0.0.1:<port> */
  url: string;
  /** A kubeconfig for the proxy: with a ServiceAccount token, or (no token) forwarded as the admin. */
  writeKubeconfig(path: string, opts?: { token?: string; namespace?: string }): void;
  /** Arms a failure for the next `count` matching requests. Failures are matched in the order they were armed. */
  failNext(spec: FailureSpec): void;
  /** Disarms every failure not yet used up (e.g. one armed with count: Infinity for an outage of unknown length). */
  clearFailures(): void;
  /** Every request that reached the proxy, in arrival order. */
  readonly requests: readonly RequestRecord[];
  clearRequests(): void;
  /** Watches streaming right now. */
  readonly watchCount: number;
  /** Requests held open right now by 'hang' or 'stall' (until the client gives up). */
  readonly heldCount: number;
  /** Ends every streaming watch (the connection closes cleanly, as when the server restarts a watch). */
  closeWatches(): void;
  /** Closes the listener and every held or streaming request. Idempotent. */
  stop(): Promise<void>;
}

const STATUS_REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 410: 'Expired',
  422: 'Invalid', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
};

/** A Status body as the API server writes one for a failed request. */
export function statusBody(code: number, reason?: string, message?: string): Record<string, unknown> {
  return {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: message ?? `injected ${code}`, reason: reason ?? STATUS_REASONS[code] ?? 'Unknown', code,
  };
}

function parseQuery(search: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of search) out[k] = v;
  return out;
}

export async function startFaultProxy(kube: KubeCluster): Promise<FaultProxy> {
  const h = kube.handle;
  const ca = readFileSync(h.caFile);
  const adminCert = readFileSync(h.adminCertFile);
  const adminKey = readFileSync(h.adminKeyFile);
  const upstream = new URL(h.server);
  const armed: { spec: FailureSpec; left: number }[] = [];
  const requests: RequestRecord[] = [];
  const watches = new Map<ServerResponse, IncomingMessage>();
  const held = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  const take = (rec: RequestRecord): FailureSpec | undefined => {
    const i = armed.findIndex(({ spec }) =>
      (spec.method === undefined || spec.method.toUpperCase() === rec.method) &&
      (spec.pathIncludes === undefined || rec.path.includes(spec.pathIncludes)) &&
      (spec.watch === undefined || spec.watch === rec.watch));
    if (i < 0) return undefined;
    const a = armed[i]!;
    if (--a.left <= 0) armed.splice(i, 1);
    return a.spec;
  };

  const forward = (req: IncomingMessage, body: Buffer, onResponse: (res: IncomingMessage) => void,
    onError: (err: Error) => void): void => {
    const headers = { ...req.headers, host: upstream.host };
    const bearer = typeof headers.authorization === 'string' && /^bearer /i.test(headers.authorization);
    const up = httpsRequest({
      hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, ca,
      ...(!bearer && { cert: adminCert, key: adminKey }),
    }, onResponse);
    up.on('error', onError);
    req.socket.once('close', () => up.destroy());
    up.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const url = new URL(req.url ?? '/', 'https://proxy');
    const query = parseQuery(url.searchParams);
    const text = body.toString('utf8');
    let parsed: unknown;
    if (text !== '') {
      try { parsed = JSON.parse(text); } catch { parsed = text; }
    }
    const contentType = req.headers['content-type'];
    const rec: RequestRecord = {
      method: (req.method ?? 'GET').toUpperCase(), path: url.pathname, query,
      ...(contentType !== undefined && { contentType }), ...(parsed !== undefined && { body: parsed }),
      status: 0, watch: query.watch === 'true' || query.watch === '1', injected: false, at: Date.now(),
    };
    requests.push(rec);
    const fault = take(rec);
    if (fault !== undefined && fault.status === 'reset') {
      rec.injected = true;
      req.socket.destroy();
      return;
    }
    if (fault !== undefined && fault.status === 'hang') {
      rec.injected = true;
      held.add(res);
      res.once('close', () => held.delete(res));
      if (fault.apply === true) {
        forward(req, body, (up) => {
          rec.withheld = true;
          rec.upstreamStatus = up.statusCode ?? 0;
          up.resume();
        }, () => { /* the client gets nothing either way */ });
      }
      return;
    }
    if (fault !== undefined && fault.status === 'stall') {
      rec.injected = true;
      rec.withheldBytes = 0;
      held.add(res);
      res.once('close', () => held.delete(res));
      forward(req, body, (up) => {
        rec.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, up.headers);
        res.flushHeaders();
        // Read and dropped, so the server is not held back by a full socket; its end is not passed on either.
        up.on('data', (chunk: Buffer) => { rec.withheldBytes = (rec.withheldBytes ?? 0) + chunk.length; });
        up.once('end', () => { rec.upstreamEnded = true; });
        res.once('close', () => up.destroy());
      }, () => res.destroy());
      return;
    }
    if (fault !== undefined && typeof fault.status === 'number') {
      const code = fault.status;
      rec.injected = true;
      rec.status = code;
      const payload = JSON.stringify(statusBody(code, fault.reason, fault.message));
      res.writeHead(code, {
        'content-type': 'application/json', 'content-length': Buffer.byteLength(payload),
        ...(fault.retryAfterSeconds !== undefined && { 'retry-after': String(fault.retryAfterSeconds) }),
      });
      res.end(payload);
      return;
    }
    forward(req, body, (up) => {
      rec.status = up.statusCode ?? 0;
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (rec.watch) {
        // The API server sends a watch's headers at once; Node would hold them until the first event, and a client
        // waiting for them has no watch to abort yet.
        res.flushHeaders();
        watches.set(res, up);
        res.once('close', () => watches.delete(res));
      }
      res.on('error', () => up.destroy());
      up.pipe(res);
      res.once('close', () => up.destroy());
    }, (err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const payload = JSON.stringify(statusBody(502, 'BadGateway', `fault proxy: ${err.message}`));
      res.writeHead(502, { 'content-type': 'application/json' }).end(payload);
    });
  };

  const server: Server = createServer({ cert: readFileSync(h.serverCertFile), key: readFileSync(h.serverKeyFile) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => handle(req, res, Buffer.concat(chunks)));
    });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let stopped: Promise<void> | undefined;

  return {
    url,
    get requests() { return requests; },
    get watchCount() { return watches.size; },
    get heldCount() { return held.size; },
    clearRequests() { requests.length = 0; },
    failNext(spec) { armed.push({ spec, left: spec.count ?? 1 }); },
    clearFailures() { armed.length = 0; },
    closeWatches() {
      for (const [res, up] of [...watches]) {
        up.unpipe(res);
        up.destroy();
        res.end();
      }
    },
    writeKubeconfig(path, opts = {}) {
      writeFileSync(path, [
        'apiVersion: v1', 'kind: Config', 'current-context: palisade-proxy',
        'clusters:', '- name: palisade-proxy', '  cluster:', `    server: ${url}`, `    certificate-authority: ${h.caFile}`,
        'users:', '- name: palisade-proxy', '  user:', ...(opts.token !== undefined ? [`    token: ${opts.token}`] : ['    {}']),
        'contexts:', '- name: palisade-proxy', '  context:', '    cluster: palisade-proxy', '    user: palisade-proxy',
        ...(opts.namespace !== undefined ? [`    namespace: ${opts.namespace}`] : []),
        '',
      ].join('\n'));
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        for (const r of [...held, ...watches.keys()]) r.destroy();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return stopped;
    },
  };
}
