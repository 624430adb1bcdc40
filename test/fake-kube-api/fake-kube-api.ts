// An in-process Kubernetes API server for tests: core/v1 pods and namespaces, networking.k8s.io/v1 networkpolicies.
// It keeps the API server's semantics where a client can tell the difference, and is strict rather than forgiving:
// one global resourceVersion bumped by every write, watches replayed from a resourceVersion (expired → 410),
// Status bodies with the real reasons, optimistic concurrency on metadata.resourceVersion, the same validation
// order (decode 400 → namespace 404 → validate 422 → storage 409). Fault injection and a request log are for tests.
//
// Deliberate simplifications (a client cannot rely on the real behaviour here either without a kubelet):
// deletes are immediate (no graceful termination, no namespace Terminating phase: contained objects go with it),
// no subresources (pods/status, pods/log), no server-side apply (415), strategic merge patch replaces lists
// instead of merging them by key, list `limit`/`continue` are ignored (the server may return everything).
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { clone, deepEqual, isObject, parseJson, str, type JsonObject, type JsonValue } from './json.js';
import { jsonPatch, mergePatch, PatchError, strategicMergePatch } from './patch.js';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
  type FieldRequirement,
  type LabelRequirement,
} from './selectors.js';
import {
  DecodeError,
  defaultNetworkPolicy,
  podSpecUpdateCauses,
  validateMetadata,
  validateName,
  validateNetworkPolicySpec,
  validatePodSpec,
  type Cause,
  type NameRule,
} from './validation.js';

export type { JsonObject, JsonValue } from './json.js';

export type ResourceName = 'pods' | 'namespaces' | 'networkpolicies';

interface ResourceInfo {
  resource: ResourceName;
  group: string;
  apiVersion: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  nameRule: NameRule;
  fieldLabels: readonly string[];
}

const RESOURCES: Readonly<Record<ResourceName, ResourceInfo>> = {
  pods: {
    resource: 'pods',
    group: '',
    apiVersion: 'v1',
    kind: 'Pod',
    listKind: 'PodList',
    namespaced: true,
    nameRule: 'dns1123-subdomain',
    fieldLabels: [
      'metadata.name',
      'metadata.namespace',
      'spec.nodeName',
      'spec.restartPolicy',
      'spec.schedulerName',
      'spec.serviceAccountName',
      'spec.hostNetwork',
      'status.phase',
      'status.podIP',
      'status.nominatedNodeName',
    ],
  },
  namespaces: {
    resource: 'namespaces',
    group: '',
    apiVersion: 'v1',
    kind: 'Namespace',
    listKind: 'NamespaceList',
    namespaced: false,
    nameRule: 'dns1123-label',
    fieldLabels: ['metadata.name', 'status.phase'],
  },
  networkpolicies: {
    resource: 'networkpolicies',
    group: 'networking.k8s.io',
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    listKind: 'NetworkPolicyList',
    namespaced: true,
    nameRule: 'dns1123-subdomain',
    fieldLabels: ['metadata.name', 'metadata.namespace'],
  },
};

export interface RequestRecord {
  method: string;
  /** Path without the query string, as sent (percent-encoding intact). */
  path: string;
  query: Record<string, string>;
  contentType?: string;
  /** The parsed JSON body, or the raw text when it was not JSON; absent when empty. */
  body?: JsonValue;
  /** 0 while a response is pending or when the connection was reset by an injected fault. */
  status: number;
  watch: boolean;
  /** True when the response came from failNext() rather than the fake's logic. */
  injected: boolean;
  /** A failNext({ status: 'hang', apply: true }) request: the fake's logic ran (status is its answer), the client got nothing. */
  withheld?: boolean;
}

export interface FailureSpec {
  /** HTTP method to match (any when omitted). */
  method?: string;
  /** Substring of the path (without query) to match (any when omitted). */
  pathIncludes?: string;
  /** Match only watch requests (true) or only non-watch requests (false). */
  watch?: boolean;
  /**
   * The status to answer with, 'reset' to destroy the connection without an answer, or 'hang' to hold the request
   * unanswered until the client gives up (or stop()), as an overloaded or partitioned API server does.
   */
  status: number | 'reset' | 'hang';
  /** With 'hang': carry the request out first (a write is stored), then withhold the answer. */
  apply?: boolean;
  /** How many matching requests fail; 1 when omitted. */
  count?: number;
  reason?: string;
  message?: string;
  /** Sets Retry-After (the API server sends it with 429). */
  retryAfterSeconds?: number;
}

export interface FakeKubeApiOptions {
  /** When set, requests must carry `Authorization: Bearer <token>` or get 401. */
  token?: string;
  /** How many write events are kept for watches to resume from; older versions get 410 Gone. Default 1000. */
  historyLimit?: number;
  /** Interval of BOOKMARK events on watches that allow them. Default 60 s, like the API server. */
  bookmarkIntervalMs?: number;
  /**
   * How a watch from an expired resourceVersion fails. 'event' (default) is what the API server's watch cache
   * does: HTTP 200 and one ERROR event carrying a 410 Expired Status. 'http' answers 410 Gone with the Status
   * as the body, as a server without the watch cache (or a proxy) does.
   */
  expiredWatch?: 'event' | 'http';
  /** Namespaces that exist at start. Default ['default', 'kube-system']. */
  namespaces?: readonly string[];
}

interface HistoryEntry {
  rv: number;
  resource: ResourceName;
  namespace: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: JsonObject;
  /** The object before a MODIFIED or DELETED event, for selector transitions. */
  previous?: JsonObject;
}

interface Watcher {
  info: ResourceInfo;
  namespace: string | undefined;
  labels: LabelRequirement[];
  fields: FieldRequirement[];
  res: ServerResponse;
  bookmarks: boolean;
  timers: NodeJS.Timeout[];
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: JsonObject,
  ) {
    super(message);
  }
}

export function statusBody(code: number, reason: string, message: string, details?: JsonObject): JsonObject {
  const body: JsonObject = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details !== undefined) body['details'] = details;
  return body;
}

const HTTP_REASON: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function metadataOf(obj: JsonObject): JsonObject {
  const meta = obj['metadata'];
  if (meta === undefined || meta === null) {
    const created: JsonObject = {};
    obj['metadata'] = created;
    return created;
  }
  if (!isObject(meta)) throw new ApiError(400, 'BadRequest', 'json: cannot unmarshal metadata into Go struct field of type v1.ObjectMeta');
  return meta;
}

function toJsonObject(value: object): JsonObject {
  const parsed = JSON.parse(JSON.stringify(value)) as JsonValue;
  if (!isObject(parsed)) throw new Error('expected a JSON object');
  return parsed;
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export class FakeKubeApi {
  /** Every request received, in arrival order. */
  readonly requests: RequestRecord[] = [];

  private readonly opts: Required<Omit<FakeKubeApiOptions, 'token'>> & { token?: string };
  private readonly objects = new Map<string, JsonObject>();
  private history: HistoryEntry[] = [];
  /** Events with rv <= compactedRv are gone: a watch must start at or after it. */
  private compactedRv = 0;
  private rv = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly failures: Array<FailureSpec & { remaining: number }> = [];
  private readonly sockets = new Set<Socket>();
  /** Responses of 'hang' + apply requests: the fake's answer is recorded, never sent. */
  private readonly withheld = new WeakSet<ServerResponse>();
  private server: Server | undefined;
  private baseUrl: string | undefined;

  constructor(options: FakeKubeApiOptions = {}) {
    this.opts = {
      historyLimit: options.historyLimit ?? 1000,
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
      expiredWatch: options.expiredWatch ?? 'event',
      namespaces: options.namespaces ?? ['default', 'kube-system'],
      ...(options.token === undefined ? {} : { token: options.token }),
    };
    for (const ns of this.opts.namespaces) this.addObject('namespaces', { metadata: { name: ns } });
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------

  async start(): Promise<{ url: string }> {
    if (this.baseUrl !== undefined) return { url: this.baseUrl };
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.sendJson(res, undefined, 500, statusBody(500, 'InternalError', String(err)));
        else res.destroy();
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    const { port } = server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${port}`;
    return { url: this.baseUrl };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    this.baseUrl = undefined;
    this.closeWatches();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  get url(): string {
    if (this.baseUrl === undefined) throw new Error('FakeKubeApi is not started');
    return this.baseUrl;
  }

  /** Writes a kubeconfig (JSON, which is YAML) that points the real client at this server over plain http. */
  async writeKubeconfig(path: string, opts: { namespace?: string; token?: string } = {}): Promise<void> {
    const token = opts.token ?? this.opts.token;
    const context: JsonObject = { cluster: 'fake', user: 'fake-user' };
    if (opts.namespace !== undefined) context['namespace'] = opts.namespace;
    const config: JsonObject = {
      apiVersion: 'v1',
      kind: 'Config',
      // The client refuses plain http unless TLS verification is declared off.
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake-user', user: token === undefined ? {} : { token } }],
      contexts: [{ name: 'fake', context }],
      'current-context': 'fake',
    };
    await writeFile(path, JSON.stringify(config, null, 2), { mode: 0o600 });
  }

  // ---- test controls ---------------------------------------------------------------------------------------

  /** Makes the next `count` requests that match answer `status` (or lose their connection) instead. */
  failNext(spec: FailureSpec): void {
    this.failures.push({ ...spec, remaining: spec.count ?? 1 });
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  /** The current global resourceVersion (that of the last write). */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Open watch streams. */
  get watchCount(): number {
    return this.watchers.size;
  }

  /** Forgets all watch history, as an etcd compaction does: a watch from any earlier version now gets 410. */
  compact(): void {
    this.history = [];
    this.compactedRv = this.rv;
  }

  /** Ends every open watch stream cleanly, as the API server does when a watch's timeout expires. */
  closeWatches(): void {
    for (const w of [...this.watchers]) this.endWatch(w);
  }

  /** Sends a BOOKMARK now to every watch that allowed them. */
  bookmark(): void {
    for (const w of this.watchers) if (w.bookmarks) this.sendBookmark(w);
  }

  // ---- seeding helpers (the world outside the API: kubelet, scheduler, controllers) ---------------------------

  /**
   * Stores a pod as the kubelet would see it: status is kept as given (a create through the API resets it).
   * The namespace defaults to "default" and is created when missing. The pod is validated like a create.
   */
  addPod(pod: object): JsonObject {
    return this.addObject('pods', pod);
  }

  /**
   * Stores any object (validated and defaulted like a create) and emits ADDED. Status and metadata.uid are kept
   * when given; a missing namespace is created first.
   */
  addObject(resource: ResourceName, value: object): JsonObject {
    const info = RESOURCES[resource];
    const obj = toJsonObject(value);
    const meta = metadataOf(obj);
    const namespace = info.namespaced ? (str(meta['namespace']) ?? 'default') : '';
    if (info.namespaced && !this.objects.has(this.key(RESOURCES.namespaces, '', namespace))) {
      this.addObject('namespaces', { metadata: { name: namespace } });
    }
    const status = obj['status'];
    const uid = str(meta['uid']);
    const prepared = this.prepareCreate(info, namespace, obj);
    if (status !== undefined) prepared['status'] = status;
    if (uid !== undefined) metadataOf(prepared)['uid'] = uid;
    const name = str(metadataOf(prepared)['name']) ?? '';
    if (this.objects.has(this.key(info, namespace, name))) throw new Error(`${resource} ${namespace}/${name} already exists`);
    return this.commit(info, 'ADDED', prepared);
  }

  /** Changes a stored object in place (status included) and emits MODIFIED, as the kubelet updating a pod. */
  updateObject(resource: ResourceName, namespace: string | undefined, name: string, mutate: (obj: JsonObject) => void): JsonObject {
    const info = RESOURCES[resource];
    const existing = this.objects.get(this.key(info, namespace ?? '', name));
    if (existing === undefined) throw new Error(`${resource} ${namespace ?? ''}/${name} not found`);
    const next = clone(existing);
    mutate(next);
    return this.commit(info, 'MODIFIED', next, existing);
  }

  updatePod(namespace: string, name: string, mutate: (pod: JsonObject) => void): JsonObject {
    return this.updateObject('pods', namespace, name, mutate);
  }

  deleteObject(resource: ResourceName, namespace: string | undefined, name: string): JsonObject {
    const info = RESOURCES[resource];
    const existing = this.objects.get(this.key(info, namespace ?? '', name));
    if (existing === undefined) throw new Error(`${resource} ${namespace ?? ''}/${name} not found`);
    return this.remove(info, existing);
  }

  deletePod(namespace: string, name: string): JsonObject {
    return this.deleteObject('pods', namespace, name);
  }

  /** A copy of a stored object, or undefined. Pass namespace undefined for namespaces. */
  getObject(resource: ResourceName, namespace: string | undefined, name: string): JsonObject | undefined {
    const obj = this.objects.get(this.key(RESOURCES[resource], namespace ?? '', name));
    return obj === undefined ? undefined : clone(obj);
  }

  listObjects(resource: ResourceName, namespace?: string): JsonObject[] {
    const info = RESOURCES[resource];
    return this.sorted(info, namespace).map((o) => clone(o));
  }

  // ---- storage ---------------------------------------------------------------------------------------------

  private key(info: ResourceInfo, namespace: string, name: string): string {
    return `${info.resource}/${info.namespaced ? namespace : ''}/${name}`;
  }

  private sorted(info: ResourceInfo, namespace: string | undefined): JsonObject[] {
    const prefix = namespace === undefined ? `${info.resource}/` : `${info.resource}/${namespace}/`;
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => v);
  }

  private commit(info: ResourceInfo, type: HistoryEntry['type'], obj: JsonObject, previous?: JsonObject): JsonObject {
    this.rv += 1;
    const meta = metadataOf(obj);
    meta['resourceVersion'] = String(this.rv);
    const namespace = info.namespaced ? (str(meta['namespace']) ?? '') : '';
    const key = this.key(info, namespace, str(meta['name']) ?? '');
    if (type === 'DELETED') this.objects.delete(key);
    else this.objects.set(key, clone(obj));
    const entry: HistoryEntry = { rv: this.rv, resource: info.resource, namespace, type, object: clone(obj) };
    if (previous !== undefined) entry.previous = clone(previous);
    this.history.push(entry);
    while (this.history.length > this.opts.historyLimit) {
      const dropped = this.history.shift();
      if (dropped !== undefined) this.compactedRv = dropped.rv;
    }
    for (const w of this.watchers) this.deliver(w, entry);
    return clone(obj);
  }

  private remove(info: ResourceInfo, existing: JsonObject): JsonObject {
    if (info.resource === 'namespaces') {
      // The namespace controller empties a namespace before it goes; here that happens at once.
      const name = str(metadataOf(existing)['name']) ?? '';
      for (const r of ['pods', 'networkpolicies'] as const) {
        for (const obj of this.sorted(RESOURCES[r], name)) this.commit(RESOURCES[r], 'DELETED', clone(obj), obj);
      }
    }
    return this.commit(info, 'DELETED', clone(existing), existing);
  }

  // ---- HTTP ------------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    const query = Object.fromEntries(url.searchParams.entries());
    const isWatch = method === 'GET' && (query['watch'] === 'true' || query['watch'] === '1');
    const record: RequestRecord = { method, path: url.pathname, query, status: 0, watch: isWatch, injected: false };
    const contentType = req.headers['content-type'];
    if (contentType !== undefined) record.contentType = contentType;
    this.requests.push(record);

    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const bodyText = Buffer.concat(chunks).toString('utf8');
    if (bodyText.length > 0) record.body = parseJson(bodyText) ?? bodyText;

    const failure = this.failures.find(
      (f) =>
        f.remaining > 0 &&
        (f.method === undefined || f.method.toUpperCase() === method) &&
        (f.pathIncludes === undefined || url.pathname.includes(f.pathIncludes)) &&
        (f.watch === undefined || f.watch === isWatch),
    );
    if (failure !== undefined) {
      failure.remaining -= 1;
      if (failure.remaining === 0) this.failures.splice(this.failures.indexOf(failure), 1);
      record.injected = true;
      if (failure.status === 'reset') {
        req.socket.destroy();
        return;
      }
      if (failure.status === 'hang') {
        // Held open: the socket is destroyed when the client gives up or by stop().
        if (failure.apply !== true || isWatch) return;
        this.withheld.add(res);
      } else {
        const reason = failure.reason ?? HTTP_REASON[failure.status] ?? 'InternalError';
        const headers: Record<string, string> = {};
        if (failure.retryAfterSeconds !== undefined) headers['Retry-After'] = String(failure.retryAfterSeconds);
        this.sendJson(res, record, failure.status, statusBody(failure.status, reason, failure.message ?? `injected ${failure.status}`), headers);
        return;
      }
    }

    if (this.opts.token !== undefined && req.headers.authorization !== `Bearer ${this.opts.token}`) {
      this.sendJson(res, record, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
      return;
    }

    try {
      const warnings: string[] = [];
      const result = this.route(method, url, query, bodyText, mediaType(contentType), record, res, warnings);
      if (result === undefined) return; // a watch owns the response now
      const headers: Record<string, string> = {};
      if (warnings.length > 0) headers['Warning'] = warnings.map((w) => `299 - "${w}"`).join(', ');
      this.sendJson(res, record, result.code, result.body, headers);
    } catch (err) {
      if (err instanceof ApiError) {
        this.sendJson(res, record, err.code, statusBody(err.code, err.reason, err.message, err.details));
      } else if (err instanceof SelectorError || err instanceof DecodeError) {
        this.sendJson(res, record, 400, statusBody(400, 'BadRequest', err.message));
      } else if (err instanceof PatchError) {
        this.sendJson(res, record, err.status, statusBody(err.status, HTTP_REASON[err.status] ?? 'BadRequest', err.message));
      } else {
        throw err;
      }
    }
  }

  private sendJson(res: ServerResponse, record: RequestRecord | undefined, code: number, body: JsonValue, headers: Record<string, string> = {}): void {
    if (record !== undefined) record.status = code;
    if (this.withheld.has(res)) {
      if (record !== undefined) record.withheld = true;
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private route(
    method: string,
    url: URL,
    query: Record<string, string>,
    bodyText: string,
    contentType: string,
    record: RequestRecord,
    res: ServerResponse,
    warnings: string[],
  ): { code: number; body: JsonValue } | undefined {
    const target = this.parsePath(url.pathname);
    if (target === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const { info, namespace, name } = target;
    const dryRun = query['dryRun'] === 'All';
    if (query['dryRun'] !== undefined && !dryRun) {
      throw new ApiError(400, 'BadRequest', `Invalid dryRun value: "${query['dryRun']}"; supported values: "All"`);
    }

    if (name === undefined) {
      if (method === 'GET') {
        if (record.watch) {
          this.watch(info, namespace, query, record, res);
          return undefined;
        }
        return { code: 200, body: this.list(info, namespace, query) };
      }
      if (method === 'POST' && (namespace !== undefined || !info.namespaced)) {
        return { code: 201, body: this.create(info, namespace ?? '', bodyText, contentType, dryRun, warnings) };
      }
      throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }

    const ns = namespace ?? '';
    switch (method) {
      case 'GET':
        return { code: 200, body: this.get(info, ns, name) };
      case 'PUT':
        return { code: 200, body: this.update(info, ns, name, bodyText, contentType, dryRun, warnings) };
      case 'PATCH':
        return { code: 200, body: this.patch(info, ns, name, bodyText, contentType, dryRun, warnings) };
      case 'DELETE':
        return { code: 200, body: this.delete(info, ns, name, bodyText, dryRun) };
      default:
        throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
  }

  private parsePath(pathname: string): { info: ResourceInfo; namespace?: string; name?: string } | undefined {
    let segments: string[];
    try {
      segments = pathname.split('/').filter((s) => s.length > 0).map((s) => decodeURIComponent(s));
    } catch {
      return undefined;
    }
    let group: string;
    let rest: string[];
    if (segments[0] === 'api' && segments[1] === 'v1') {
      group = '';
      rest = segments.slice(2);
    } else if (segments[0] === 'apis' && segments[1] === 'networking.k8s.io' && segments[2] === 'v1') {
      group = 'networking.k8s.io';
      rest = segments.slice(3);
    } else {
      return undefined;
    }
    const lookup = (resource: string | undefined): ResourceInfo | undefined => {
      const info = Object.values(RESOURCES).find((r) => r.resource === resource && r.group === group);
      return info;
    };
    const [a, b, c, d] = rest;
    if (rest.length === 1) {
      const info = lookup(a);
      return info === undefined ? undefined : { info };
    }
    if (rest.length === 2) {
      const info = lookup(a);
      return info === undefined || info.namespaced || b === undefined ? undefined : { info, name: b };
    }
    if (a !== 'namespaces' || b === undefined) return undefined;
    const info = lookup(c);
    if (info === undefined || !info.namespaced) return undefined;
    if (rest.length === 3) return { info, namespace: b };
    if (rest.length === 4 && d !== undefined) return { info, namespace: b, name: d };
    return undefined;
  }

  private notFound(info: ResourceInfo, name: string): ApiError {
    const details: JsonObject = { name, kind: info.resource };
    if (info.group !== '') details['group'] = info.group;
    return new ApiError(404, 'NotFound', `${info.resource}${info.group === '' ? '' : '.' + info.group} "${name}" not found`, details);
  }

  private conflict(info: ResourceInfo, name: string, why: string): ApiError {
    const details: JsonObject = { name, kind: info.resource };
    if (info.group !== '') details['group'] = info.group;
    return new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${info.resource}${info.group === '' ? '' : '.' + info.group} "${name}": ${why}`,
      details,
    );
  }

  private invalid(info: ResourceInfo, name: string, causes: Cause[]): ApiError {
    const message = `${info.kind} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`;
    const details: JsonObject = {
      name,
      kind: info.kind,
      causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })),
    };
    if (info.group !== '') details['group'] = info.group;
    return new ApiError(422, 'Invalid', message, details);
  }

  private existing(info: ResourceInfo, namespace: string, name: string): JsonObject {
    const obj = this.objects.get(this.key(info, namespace, name));
    if (obj === undefined) throw this.notFound(info, name);
    return obj;
  }

  private get(info: ResourceInfo, namespace: string, name: string): JsonObject {
    return clone(this.existing(info, namespace, name));
  }

  private selectors(info: ResourceInfo, query: Record<string, string>): { labels: LabelRequirement[]; fields: FieldRequirement[] } {
    return {
      labels: parseLabelSelector(query['labelSelector'] ?? ''),
      fields: parseFieldSelector(query['fieldSelector'] ?? '', info.fieldLabels),
    };
  }

  private static matches(sel: { labels: LabelRequirement[]; fields: FieldRequirement[] }, obj: JsonObject): boolean {
    const labels = metadataOf(obj)['labels'];
    return matchesLabels(sel.labels, isObject(labels) ? labels : {}) && matchesFields(sel.fields, obj);
  }

  private parseVersion(value: string | undefined): number | undefined {
    if (value === undefined || value === '') return undefined;
    if (!/^\d+$/.test(value)) {
      throw new ApiError(400, 'BadRequest', `resourceVersion: Invalid value: "${value}": must be a non-negative integer`);
    }
    return Number(value);
  }

  private list(info: ResourceInfo, namespace: string | undefined, query: Record<string, string>): JsonObject {
    const sel = this.selectors(info, query);
    this.parseVersion(query['resourceVersion']);
    const items = this.sorted(info, info.namespaced ? namespace : undefined)
      .filter((o) => FakeKubeApi.matches(sel, o))
      .map((o) => ({ ...clone(o), kind: info.kind, apiVersion: info.apiVersion }));
    return { kind: info.listKind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(this.rv) }, items };
  }

  // ---- watch -----------------------------------------------------------------------------------------------

  private watch(info: ResourceInfo, namespace: string | undefined, query: Record<string, string>, record: RequestRecord, res: ServerResponse): void {
    const sel = this.selectors(info, query);
    const since = this.parseVersion(query['resourceVersion']);
    const timeoutText = query['timeoutSeconds'];
    const timeoutSeconds = timeoutText === undefined ? undefined : Number(timeoutText);
    if (timeoutSeconds !== undefined && !(Number.isInteger(timeoutSeconds) && timeoutSeconds >= 0)) {
      throw new ApiError(400, 'BadRequest', `timeoutSeconds: Invalid value: "${timeoutText}"`);
    }

    if (since !== undefined && since !== 0 && since < this.compactedRv) {
      const status = statusBody(410, 'Expired', `too old resource version: ${since} (${this.compactedRv + 1})`);
      if (this.opts.expiredWatch === 'http') throw new ApiError(410, 'Expired', String(status['message']));
      this.startStream(res, record);
      this.writeEvent(res, 'ERROR', status);
      res.end();
      return;
    }
    if (since !== undefined && since > this.rv) {
      this.startStream(res, record);
      this.writeEvent(res, 'ERROR', statusBody(504, 'Timeout', `Too large resource version: ${since}, current: ${this.rv}`));
      res.end();
      return;
    }

    this.startStream(res, record);
    const watcher: Watcher = {
      info,
      namespace: info.namespaced ? namespace : undefined,
      labels: sel.labels,
      fields: sel.fields,
      res,
      bookmarks: query['allowWatchBookmarks'] === 'true',
      timers: [],
    };
    // Replay and registration happen in one turn of the event loop, so no write can fall between them.
    if (since === undefined || since === 0) {
      // "Get state and start at most recent": synthetic ADDED events for what exists now.
      for (const obj of this.sorted(info, watcher.namespace)) {
        if (FakeKubeApi.matches(sel, obj)) this.writeEvent(res, 'ADDED', obj, info);
      }
    } else {
      for (const entry of this.history) if (entry.rv > since) this.deliver(watcher, entry);
    }
    this.watchers.add(watcher);
    res.on('close', () => this.endWatch(watcher));
    if (timeoutSeconds !== undefined && timeoutSeconds > 0) {
      watcher.timers.push(setTimeout(() => this.endWatch(watcher), timeoutSeconds * 1000));
    }
    if (watcher.bookmarks) {
      const t = setInterval(() => this.sendBookmark(watcher), this.opts.bookmarkIntervalMs);
      t.unref();
      watcher.timers.push(t);
    }
  }

  private startStream(res: ServerResponse, record: RequestRecord): void {
    record.status = 200;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
  }

  private writeEvent(res: ServerResponse, type: string, object: JsonObject, info?: ResourceInfo): void {
    const obj = info === undefined ? object : { ...object, kind: info.kind, apiVersion: info.apiVersion };
    res.write(`${JSON.stringify({ type, object: obj })}\n`);
  }

  private sendBookmark(w: Watcher): void {
    this.writeEvent(w.res, 'BOOKMARK', { kind: w.info.kind, apiVersion: w.info.apiVersion, metadata: { resourceVersion: String(this.rv) } });
  }

  private endWatch(w: Watcher): void {
    if (!this.watchers.delete(w)) return;
    for (const t of w.timers) clearTimeout(t);
    if (!w.res.writableEnded) w.res.end();
  }

  /** Sends an event to a watcher as the watcher sees it: leaving or entering its selector is DELETED or ADDED. */
  private deliver(w: Watcher, entry: HistoryEntry): void {
    if (entry.resource !== w.info.resource) return;
    if (w.namespace !== undefined && entry.namespace !== w.namespace) return;
    const sel = { labels: w.labels, fields: w.fields };
    const now = FakeKubeApi.matches(sel, entry.object);
    const before = entry.previous !== undefined && FakeKubeApi.matches(sel, entry.previous);
    let type: HistoryEntry['type'] | undefined;
    if (entry.type === 'ADDED') type = now ? 'ADDED' : undefined;
    else if (entry.type === 'DELETED') type = now || before ? 'DELETED' : undefined;
    else if (now && before) type = 'MODIFIED';
    else if (now) type = 'ADDED';
    else if (before) type = 'DELETED';
    if (type !== undefined) this.writeEvent(w.res, type, entry.object, w.info);
  }

  // ---- writes ----------------------------------------------------------------------------------------------

  private decodeBody(info: ResourceInfo, bodyText: string, contentType: string): JsonObject {
    if (contentType !== 'application/json') {
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
    }
    const parsed = parseJson(bodyText);
    if (parsed === undefined) throw new ApiError(400, 'BadRequest', 'the object provided is unrecognized (the body is not valid JSON)');
    if (!isObject(parsed)) throw new ApiError(400, 'BadRequest', 'the object provided is unrecognized (must be a JSON object)');
    const kind = parsed['kind'];
    const apiVersion = parsed['apiVersion'];
    if ((kind !== undefined && kind !== info.kind) || (apiVersion !== undefined && apiVersion !== info.apiVersion)) {
      throw new ApiError(400, 'BadRequest', `the API version in the data (${String(apiVersion)}) does not match the expected API version (${info.apiVersion}) or kind ${String(kind)} is not ${info.kind}`);
    }
    return parsed;
  }

  /** Validation and server-set fields of a create, without storing. */
  private prepareCreate(info: ResourceInfo, namespace: string, obj: JsonObject): JsonObject {
    const meta = metadataOf(obj);
    if (info.namespaced) {
      const bodyNs = meta['namespace'];
      if (bodyNs !== undefined && bodyNs !== null && bodyNs !== namespace) {
        throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      meta['namespace'] = namespace;
    } else {
      delete meta['namespace'];
    }
    let name = str(meta['name']) ?? '';
    const generateName = str(meta['generateName']);
    if (name === '' && generateName !== undefined && generateName !== '') {
      name = `${generateName}${randomBytes(4).toString('hex').slice(0, 5)}`;
      meta['name'] = name;
    }
    const causes: Cause[] =
      name === '' ? [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }] : validateName(name, info.nameRule);
    causes.push(...validateMetadata(meta));
    if (info.resource === 'pods') causes.push(...validatePodSpec(obj['spec']));
    if (info.resource === 'networkpolicies') causes.push(...validateNetworkPolicySpec(obj['spec']));
    if (causes.length > 0) throw this.invalid(info, name, causes);

    obj['kind'] = info.kind;
    obj['apiVersion'] = info.apiVersion;
    meta['uid'] = randomUUID();
    meta['creationTimestamp'] = nowTimestamp();
    for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink']) delete meta[k];
    dropEmptyMaps(meta);
    switch (info.resource) {
      case 'pods':
        obj['status'] = { phase: 'Pending' };
        break;
      case 'networkpolicies':
        meta['generation'] = 1;
        defaultNetworkPolicy(obj);
        delete obj['status'];
        break;
      case 'namespaces': {
        const labels = isObject(meta['labels']) ? meta['labels'] : {};
        labels['kubernetes.io/metadata.name'] = name;
        meta['labels'] = labels;
        obj['spec'] = { finalizers: ['kubernetes'] };
        obj['status'] = { phase: 'Active' };
        break;
      }
    }
    return obj;
  }

  private create(info: ResourceInfo, namespace: string, bodyText: string, contentType: string, dryRun: boolean, warnings: string[]): JsonObject {
    const obj = this.decodeBody(info, bodyText, contentType);
    // Admission (NamespaceLifecycle) runs before validation.
    if (info.namespaced && !this.objects.has(this.key(RESOURCES.namespaces, '', namespace))) {
      throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
    }
    if (info.resource === 'networkpolicies') warnings.push(...unknownSpecFields(obj));
    if (str(metadataOf(obj)['resourceVersion']) !== undefined && metadataOf(obj)['resourceVersion'] !== '') {
      // What etcd3 storage answers; clients must not send one.
      throw new ApiError(500, 'InternalError', 'resourceVersion should not be set on objects to be created');
    }
    const prepared = this.prepareCreate(info, namespace, obj);
    const name = str(metadataOf(prepared)['name']) ?? '';
    if (this.objects.has(this.key(info, namespace, name))) {
      const details: JsonObject = { name, kind: info.resource };
      if (info.group !== '') details['group'] = info.group;
      throw new ApiError(409, 'AlreadyExists', `${info.resource}${info.group === '' ? '' : '.' + info.group} "${name}" already exists`, details);
    }
    if (dryRun) return prepared;
    return this.commit(info, 'ADDED', prepared);
  }

  private update(info: ResourceInfo, namespace: string, name: string, bodyText: string, contentType: string, dryRun: boolean, warnings: string[]): JsonObject {
    const existing = this.existing(info, namespace, name);
    const obj = this.decodeBody(info, bodyText, contentType);
    const meta = metadataOf(obj);
    if (meta['name'] !== name) {
      throw new ApiError(400, 'BadRequest', `the name of the object (${String(meta['name'])}) does not match the name on the URL (${name})`);
    }
    const existingMeta = metadataOf(existing);
    const uid = str(meta['uid']);
    if (uid !== undefined && uid !== '' && uid !== existingMeta['uid']) {
      throw this.conflict(info, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${String(existingMeta['uid'])}`);
    }
    const rv = str(meta['resourceVersion']);
    if (rv !== undefined && rv !== '' && rv !== existingMeta['resourceVersion']) {
      throw this.conflict(info, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    if (info.resource === 'networkpolicies') warnings.push(...unknownSpecFields(obj));
    return this.finishUpdate(info, namespace, existing, obj, dryRun);
  }

  private patch(info: ResourceInfo, namespace: string, name: string, bodyText: string, contentType: string, dryRun: boolean, warnings: string[]): JsonObject {
    const existing = this.existing(info, namespace, name);
    const patchDoc = parseJson(bodyText);
    let result: JsonValue | undefined;
    switch (contentType) {
      case 'application/merge-patch+json':
        if (patchDoc === undefined) throw new ApiError(400, 'BadRequest', 'error decoding patch: invalid JSON');
        result = mergePatch(existing, patchDoc);
        break;
      case 'application/strategic-merge-patch+json':
        if (patchDoc === undefined) throw new ApiError(400, 'BadRequest', 'error decoding patch: invalid JSON');
        result = strategicMergePatch(existing, patchDoc);
        break;
      case 'application/json-patch+json':
        if (patchDoc === undefined) throw new ApiError(400, 'BadRequest', 'error decoding patch: invalid JSON');
        result = jsonPatch(existing, patchDoc);
        break;
      default:
        // Server-side apply (application/apply-patch+yaml) is not implemented by the fake.
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`,
        );
    }
    if (!isObject(result)) throw new ApiError(422, 'Invalid', 'the patch must produce an object');
    const meta = metadataOf(result);
    const existingMeta = metadataOf(existing);
    if (meta['name'] !== name || (info.namespaced && meta['namespace'] !== namespace)) {
      throw new ApiError(400, 'BadRequest', `the name of the object (${String(meta['name'])}) does not match the name on the URL (${name})`);
    }
    const rv = meta['resourceVersion'];
    if (rv !== undefined && rv !== null && rv !== existingMeta['resourceVersion']) {
      throw this.conflict(info, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    if (meta['uid'] !== existingMeta['uid']) {
      throw this.invalid(info, name, [{ reason: 'FieldValueInvalid', field: 'metadata.uid', message: `Invalid value: ${JSON.stringify(meta['uid'] ?? null)}: field is immutable` }]);
    }
    if (info.resource === 'networkpolicies') warnings.push(...unknownSpecFields(result));
    return this.finishUpdate(info, namespace, existing, result, dryRun);
  }

  /** The part of update and patch after preconditions: server-owned fields, validation, no-op detection, commit. */
  private finishUpdate(info: ResourceInfo, namespace: string, existing: JsonObject, candidate: JsonObject, dryRun: boolean): JsonObject {
    const meta = metadataOf(candidate);
    const existingMeta = metadataOf(existing);
    const name = str(existingMeta['name']) ?? '';
    candidate['kind'] = info.kind;
    candidate['apiVersion'] = info.apiVersion;
    for (const k of ['uid', 'creationTimestamp', 'generation', 'resourceVersion', 'deletionTimestamp']) {
      if (existingMeta[k] === undefined) delete meta[k];
      else meta[k] = existingMeta[k] ?? null;
    }
    if (info.namespaced) meta['namespace'] = namespace;
    dropEmptyMaps(meta);

    const causes = validateMetadata(meta);
    switch (info.resource) {
      case 'pods':
        causes.push(...podSpecUpdateCauses(existing['spec'], candidate['spec']));
        // Status belongs to the kubelet and is written through pods/status, not through the pod.
        if (existing['status'] === undefined) delete candidate['status'];
        else candidate['status'] = existing['status'] ?? null;
        break;
      case 'networkpolicies':
        causes.push(...validateNetworkPolicySpec(candidate['spec']));
        break;
      case 'namespaces':
        candidate['spec'] = existing['spec'] ?? null;
        candidate['status'] = existing['status'] ?? null;
        break;
    }
    if (causes.length > 0) throw this.invalid(info, name, causes);
    if (info.resource === 'networkpolicies') {
      defaultNetworkPolicy(candidate);
      delete candidate['status'];
      if (!deepEqual(candidate['spec'], existing['spec'])) meta['generation'] = Number(existingMeta['generation'] ?? 1) + 1;
    }
    // An update that changes nothing is not written: no new resourceVersion, no watch event.
    if (deepEqual(candidate, existing)) return clone(existing);
    if (dryRun) return candidate;
    return this.commit(info, 'MODIFIED', candidate, existing);
  }

  private delete(info: ResourceInfo, namespace: string, name: string, bodyText: string, dryRun: boolean): JsonObject {
    const existing = this.existing(info, namespace, name);
    const options = bodyText.length > 0 ? parseJson(bodyText) : undefined;
    if (bodyText.length > 0 && !isObject(options)) throw new ApiError(400, 'BadRequest', 'the body of a delete must be DeleteOptions');
    const pre = isObject(options) && isObject(options['preconditions']) ? options['preconditions'] : undefined;
    const existingMeta = metadataOf(existing);
    const uid = pre === undefined ? undefined : str(pre['uid']);
    if (uid !== undefined && uid !== existingMeta['uid']) {
      throw this.conflict(info, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${String(existingMeta['uid'])}`);
    }
    const rv = pre === undefined ? undefined : str(pre['resourceVersion']);
    if (rv !== undefined && rv !== existingMeta['resourceVersion']) {
      throw this.conflict(info, name, `Precondition failed: ResourceVersion in precondition: ${rv}, ResourceVersion in object meta: ${String(existingMeta['resourceVersion'])}`);
    }
    if (dryRun) return clone(existing);
    return this.remove(info, existing);
  }
}

function dropEmptyMaps(meta: JsonObject): void {
  for (const k of ['labels', 'annotations']) {
    const v = meta[k];
    if (v === null || (isObject(v) && Object.keys(v).length === 0)) delete meta[k];
  }
}

function unknownSpecFields(obj: JsonObject): string[] {
  const spec = obj['spec'];
  if (!isObject(spec)) return [];
  return Object.keys(spec)
    .filter((k) => !['podSelector', 'ingress', 'egress', 'policyTypes'].includes(k))
    .map((k) => `unknown field "spec.${k}"`);
}
