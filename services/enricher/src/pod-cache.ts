// The enricher's view of the pods on its node: a list+watch of pods (client-node's ListWatch) indexed by container
// id and by pod uid, so that an event's cgroup resolves to its pod without an API call.
//
// ListWatch handles the watch protocol: it lists, watches from the list's resourceVersion, re-watches when the
// server ends a stream, and relists when the version has expired (410, whether as an HTTP status or as an ERROR
// event in the stream). What it does not do is recover from errors: after a failed list or a broken watch it calls
// the error callbacks and stops. This module restarts it with exponential backoff; a restart resumes the watch
// from the last version seen, so nothing is relisted unless the server says the version is gone.
//
// The watch asks for bookmarks and sets its own timeout, as client-go's reflector does. A watch filtered to one
// node sees few events, while the cluster's resourceVersion moves with every write anywhere. Without bookmarks, a
// re-watch after the server ends the stream resumes from the last pod event's version, which etcd may have
// compacted by then: 410, and a full relist each time. With them, the API server sends the current version about
// every minute and 2 s before the watch's timeout, so the re-watch resumes from a recent version.
//
// The watch request is this module's own, not client-node's Watch: that one (1.4.0) waits for an answer forever
// (its 30 s timeout signal is overwritten on the next line), and ListWatch gets no handle to abort a watch until the
// answer's headers came, so an API server that takes the request and never answers (overloaded, partitioned, a stuck
// proxy) stopped the cache for good, without an error. It also never noticed a stream that goes silent, and dropped
// lines that are not JSON without a trace. Here a watch that has no answer within its header deadline, or that
// receives nothing for longer than its own timeoutSeconds plus a margin (the server ends every watch at
// timeoutSeconds, so silence past that is a dead connection), is aborted and reported as an error: the backoff below
// restarts it from the last version seen. Lines that are not watch events are counted.
import { STATUS_CODES, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CoreV1Api, ListWatch, Watch, type KubeConfig, type V1Pod, type V1PodList } from '@kubernetes/client-node';
import { PalisadeError, deadlineOptions, type palisade } from '@palisade/common';

export interface PodCacheOptions {
  kubeConfig: KubeConfig;
  /** Only pods bound to this node (fieldSelector spec.nodeName); all pods when omitted. */
  nodeName?: string;
  /**
   * Each watch asks the server to end it after this many seconds (timeoutSeconds), plus up to as much again at
   * random so that enrichers do not re-watch in step. Default 300.
   */
  watchTimeoutSeconds?: number;
  /**
   * How long a watch request may wait for the server's answer (its status and headers; the API server sends a
   * watch's at once) before it is aborted and counted as a `headers_timeout` watch error. Default 30 s.
   */
  watchHeadersTimeoutMs?: number;
  /**
   * A watch that receives nothing, not even a bookmark, for its timeoutSeconds plus this long is aborted and counted
   * as an `idle_timeout` watch error: the server would have ended it by then. Default 30 s.
   */
  watchIdleMarginMs?: number;
  /**
   * Deadline of each list (the first, and every relist after a 410): a list the server never answers is aborted and
   * retried with backoff instead of holding the cache. Default 70 s: the API server ends a request at its own
   * --request-timeout (1 min by default), so a longer list is not coming.
   */
  listTimeoutMs?: number;
  /** Reconnect backoff after a failed list or a broken watch: doubles from initialMs up to maxMs, with jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * How long a deleted pod still resolves. Events from a pod's last moments (exits during termination) reach the
   * enricher after the API server has reported the delete. Default 30 s.
   */
  deletedRetentionMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** What became resolvable: a new pod, or new container ids of a known pod (containers get ids when they start). */
export interface PodIndexedEvent {
  podUid: string;
  containerIds: string[];
}

interface ContainerInfo {
  name: string;
  image: string;
  runtime: string;
}

interface Entry {
  key: string; // namespace/name
  uid: string;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  owner: { kind: string; name: string };
  node: string;
  /** The container ids the pod's current status names. */
  containerIds: Set<string>;
  deleted: boolean;
}

/** Index entries that keep resolving until expiresAt: a deleted pod (all its ids) or a pod's superseded ids. */
interface Tombstone {
  expiresAt: number;
  uid: string;
  containerIds: string[];
  pod: boolean;
}

/** Why a watch ended with an error, the label of palisade_enricher_pod_watch_errors. */
export const WATCH_FAILURES = ['headers_timeout', 'idle_timeout', 'http_status', 'network'] as const;
export type WatchFailure = (typeof WATCH_FAILURES)[number];

/**
 * A failed watch. `statusCode` is the HTTP status of a watch the server refused: ListWatch relists on 410 (the
 * version is gone) and reports every other error to the cache, which restarts it with backoff.
 */
export class PodWatchError extends PalisadeError {
  constructor(readonly failure: WatchFailure, message: string, readonly statusCode?: number, cause?: unknown) {
    super(statusCode === 403 ? 'KUBE_FORBIDDEN' : 'KUBE_UNAVAILABLE', message, { retriable: true, cause });
    this.name = 'PodWatchError';
  }
}

interface PodWatchOptions {
  config: KubeConfig;
  /** The timeoutSeconds of the next watch. */
  timeoutSeconds: () => number;
  headersTimeoutMs: number;
  idleMarginMs: number;
  stopped: () => boolean;
  onFailure: (failure: WatchFailure) => void;
  onBadLine: () => void;
  /** The server answered a watch, or sent on one (an event, a bookmark, anything). */
  onHeard: () => void;
}

/** Longest watch line kept while waiting for its end; the API server's largest object is 1.5 MiB (etcd's limit). */
const MAX_LINE_CHARS = 16 * 1024 * 1024;
/** How much of a refused watch's body (the server's Status) is read for the error message. */
const MAX_ERROR_BODY_CHARS = 4096;

/**
 * The Watch ListWatch uses. Same request as client-node's (GET path?watch=true&..., the kubeconfig's auth and TLS
 * through applyToFetchOptions, whose agent also carries a configured proxy), plus bookmarks and a timeout, a header
 * deadline and an idle deadline, and counted bad lines. It returns its AbortController before the request is
 * answered, so ListWatch.stop() can abort a watch that is still waiting; and a watch answered after stop() is
 * aborted at once.
 *
 * Contract with ListWatch (cache.js): `done` is called exactly once, never before watch() has returned: null when
 * the server ended the stream (ListWatch re-watches from the last version, or relists after a 410 ERROR event),
 * or an error. An error with statusCode 410 makes ListWatch relist; any other reaches the cache's error callback.
 * watch() itself never rejects: ListWatch calls it from its done handler, where a rejection would be unhandled.
 */
class PodWatch extends Watch {
  constructor(private readonly opts: PodWatchOptions) {
    super(opts.config);
  }

  override async watch(...[path, query, callback, done]: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
    const controller = new AbortController();
    // On a later turn of the loop: ListWatch stores the controller when this promise resolves, before any end
    // (`done`) can reach it, even one found at once (no current cluster).
    setImmediate(() => void this.run(controller, path, query, callback, done));
    return controller;
  }

  private async run(controller: AbortController, path: string, query: Parameters<Watch['watch']>[1],
    callback: Parameters<Watch['watch']>[2], done: Parameters<Watch['watch']>[3]): Promise<void> {
    const { signal } = controller;
    if (signal.aborted) {
      done(abortError(signal.reason));
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const finish = (err: PodWatchError | Error | null): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      if (err instanceof PodWatchError && err.statusCode !== 410) this.opts.onFailure(err.failure);
      if (!signal.aborted) controller.abort(err ?? undefined);
      done(err);
    };
    const deadline = (ms: number, failure: WatchFailure, message: string): void => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(new PodWatchError(failure, message)), ms);
    };
    /** The connection failed; when it was aborted (by a deadline, or by stop()), the abort is the reason. */
    const broken = (message: string, cause?: unknown): void =>
      finish(signal.aborted ? abortError(signal.reason) : new PodWatchError('network', `watch ${path}: ${message}`, undefined, cause));
    // Aborted from outside: ListWatch.stop(). The cache ignores errors once stopped; ListWatch still sees the end.
    signal.addEventListener('abort', () => finish(abortError(signal.reason)), { once: true });
    const headersMs = this.opts.headersTimeoutMs;
    deadline(headersMs, 'headers_timeout', `watch ${path}: no answer within ${headersMs} ms`);

    const timeoutSeconds = this.opts.timeoutSeconds();
    let url: URL;
    let init: Awaited<ReturnType<KubeConfig['applyToFetchOptions']>>;
    try {
      const cluster = this.config.getCurrentCluster();
      if (!cluster) throw new Error('no current cluster in the kubeconfig');
      url = new URL(cluster.server + path);
      url.searchParams.set('watch', 'true');
      for (const [k, v] of Object.entries({ ...query, allowWatchBookmarks: true, timeoutSeconds })) {
        if (v !== undefined) url.searchParams.set(k, String(v));
      }
      init = await this.config.applyToFetchOptions({});
    } catch (err) {
      broken(errText(err), err);
      return;
    }
    if (ended) return;
    if (this.opts.stopped()) {
      finish(abortError('pod cache stopped'));
      return;
    }

    let req: ReturnType<typeof httpsRequest>;
    try {
      const agent = typeof init.agent === 'function' ? init.agent(url) : init.agent;
      req = (url.protocol === 'http:' ? httpRequest : httpsRequest)(url, {
        method: 'GET', signal, headers: { ...plainHeaders(init.headers), accept: 'application/json' },
        ...(agent !== undefined && { agent }),
      });
    } catch (err) {
      broken(errText(err), err); // an invalid header value, say: no request was made
      return;
    }
    // As client-node does: TCP keepalive notices a peer that vanished even between bookmarks.
    req.on('socket', (socket) => socket.setKeepAlive(true, 30_000));
    req.on('error', (err) => broken(err.message, err));
    req.on('response', (res) => {
      if (ended) {
        res.destroy();
        return;
      }
      if (this.opts.stopped()) {
        finish(abortError('pod cache stopped'));
        return;
      }
      res.setEncoding('utf8');
      res.on('error', (err) => broken(err.message, err));
      if (res.statusCode !== 200) {
        this.refused(res, path, finish);
        return;
      }
      this.opts.onHeard();
      const idleMs = timeoutSeconds * 1000 + this.opts.idleMarginMs;
      const idle = (): void =>
        deadline(idleMs, 'idle_timeout', `watch ${path}: nothing received for ${idleMs} ms (timeoutSeconds ${timeoutSeconds})`);
      idle();
      let pending = '';
      res.on('data', (chunk: string) => {
        idle();
        this.opts.onHeard();
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf('\n')) !== -1) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          this.line(line, callback);
        }
        if (pending.length > MAX_LINE_CHARS) {
          this.opts.onBadLine();
          finish(new PodWatchError('network', `watch ${path}: a line longer than ${MAX_LINE_CHARS} characters`));
        }
      });
      res.on('end', () => {
        if (pending !== '') this.line(pending, callback);
        finish(null);
      });
      // A connection that closes without the response's end (the chunked terminator) is not the server's close.
      res.on('close', () => {
        if (!res.complete) broken('connection closed mid-stream');
      });
    });
    req.end();
  }

  /** A watch the server did not accept: its Status message, bounded, under the header deadline still running. */
  private refused(res: IncomingMessage, path: string, finish: (err: PodWatchError) => void): void {
    const code = res.statusCode ?? 0;
    let body = '';
    res.on('data', (chunk: string) => {
      if (body.length < MAX_ERROR_BODY_CHARS) body += chunk;
    });
    res.on('end', () => {
      let message = res.statusMessage || STATUS_CODES[code] || 'unknown status';
      try {
        const status: unknown = JSON.parse(body);
        if (isObject(status) && typeof status.message === 'string' && status.message !== '') message = status.message;
      } catch {
        // Not a Status: the status line's text is the message.
      }
      finish(new PodWatchError('http_status', `watch ${path}: HTTP ${code}: ${message}`, code));
    });
  }

  /** One line of the stream: a watch event for ListWatch, or counted. */
  private line(line: string, callback: Parameters<Watch['watch']>[2]): void {
    if (line.trim() === '') return;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      this.opts.onBadLine();
      return;
    }
    // ListWatch reads object.metadata of every event but ERROR (a Status): an event without it would throw there.
    if (!isObject(event) || typeof event.type !== 'string' || !isObject(event.object) ||
      (event.type !== 'ERROR' && !isObject(event.object.metadata))) {
      this.opts.onBadLine();
      return;
    }
    try {
      // ListWatch's handler is async: what it throws arrives as a rejection.
      void Promise.resolve(callback(event.type, event.object, event) as unknown).catch(() => this.opts.onBadLine());
    } catch {
      this.opts.onBadLine();
    }
  }
}

function abortError(reason: unknown): Error {
  if (reason instanceof Error) return reason;
  const err = new Error(typeof reason === 'string' ? reason : 'watch aborted');
  err.name = 'AbortError';
  return err;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** applyToFetchOptions gives node-fetch Headers (typed only as HeadersInit): as a plain object for node:http. */
function plainHeaders(headers: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(headers)) {
    for (const pair of headers) if (Array.isArray(pair) && pair.length === 2) out[String(pair[0])] = String(pair[1]);
  } else if (isObject(headers) && typeof headers.forEach === 'function') {
    (headers as { forEach(cb: (value: string, key: string) => void): void }).forEach((value, key) => { out[key] = value; });
  } else if (isObject(headers)) {
    for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

const RUNTIME_BY_SCHEME: Readonly<Record<string, string>> = { containerd: 'containerd', 'cri-o': 'cri-o', docker: 'docker' };

function isObject(v: unknown): v is Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return typeof v === 'object' && v !== null;
}

/** Splits `containerd://<id>` into runtime and id; a bare id has no runtime. */
export function parseContainerId(raw: string): { id: string; runtime: string } {
  const sep = raw.indexOf('://');
  if (sep === -1) return { id: raw, runtime: '' };
  const scheme = raw.slice(0, sep);
  return { id: raw.slice(sep + 3), runtime: RUNTIME_BY_SCHEME[scheme] ?? scheme };
}

// CronJob names its Jobs <cronjob>-<scheduled time in minutes since the epoch>. Requiring a plausible time
// (2013..2084) keeps Jobs named after a date (backup-20240101) from being taken for a CronJob's.
const CRONJOB_JOB = /^(.+)-(\d{8})$/;
const MIN_CRON_MINUTES = 22_000_000;
const MAX_CRON_MINUTES = 60_000_000;

/** The top-level workload that owns a pod: a ReplicaSet's Deployment, a Job's CronJob, or the pod itself. */
export function resolveOwner(pod: V1Pod): { kind: string; name: string } {
  // What the API server sends is typed, but a watch is input: a field of the wrong type must not throw (test/fuzz).
  const meta: Partial<NonNullable<V1Pod['metadata']>> = isObject(pod) && isObject(pod.metadata) ? pod.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const refs = (Array.isArray(meta.ownerReferences) ? meta.ownerReferences : [])
    .filter((r) => isObject(r) && typeof r.kind === 'string' && typeof r.name === 'string');
  const ref = refs.find((r) => r.controller === true) ?? refs[0];
  if (ref === undefined) return { kind: 'Pod', name };
  if (ref.kind === 'ReplicaSet') {
    // A Deployment names its ReplicaSets <deployment>-<pod-template-hash>, and the hash is on the pod as a label.
    const hash: unknown = isObject(meta.labels) ? meta.labels['pod-template-hash'] : undefined;
    if (typeof hash === 'string' && hash !== '' && ref.name.endsWith(`-${hash}`) && ref.name.length > hash.length + 1) {
      return { kind: 'Deployment', name: ref.name.slice(0, -(hash.length + 1)) };
    }
    return { kind: 'ReplicaSet', name: ref.name };
  }
  if (ref.kind === 'Job') {
    const m = CRONJOB_JOB.exec(ref.name);
    const minutes = Number(m?.[2]);
    if (m?.[1] !== undefined && minutes >= MIN_CRON_MINUTES && minutes <= MAX_CRON_MINUTES) return { kind: 'CronJob', name: m[1] };
    return { kind: 'Job', name: ref.name };
  }
  // A static pod's mirror is "owned" by its Node, which is not a workload: the pod is its own workload.
  if (ref.kind === 'Node') return { kind: 'Pod', name };
  return { kind: ref.kind, name: ref.name };
}

function containersOf(pod: V1Pod): Map<string, ContainerInfo> {
  const images = new Map<string, string>();
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []), ...(pod.spec?.ephemeralContainers ?? [])]) {
    if (c.image !== undefined) images.set(c.name, c.image);
  }
  const out = new Map<string, ContainerInfo>();
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.ephemeralContainerStatuses ?? []),
  ];
  for (const s of statuses) {
    const image = images.get(s.name) ?? s.image ?? '';
    // The previous instance of a restarted container still produces events (its exit) after the new one starts.
    for (const raw of [s.lastState?.terminated?.containerID, s.containerID]) {
      if (raw === undefined || raw === '') continue;
      const { id, runtime } = parseContainerId(raw);
      if (id !== '') out.set(id, { name: s.name, image, runtime });
    }
  }
  return out;
}

/** What PodCache counts, as its metrics read it (services/enricher/src/compose.ts). */
export type PodCacheCounts = Pick<PodCache, 'size' | 'watchRestarts' | 'resyncs' | 'listErrors' | 'watchErrors' | 'badWatchLines' | 'secondsSinceHeard'>;

export class PodCache {
  private readonly listWatch: ListWatch<V1Pod>;
  private readonly core: CoreV1Api;
  private readonly listDeadline: ReturnType<typeof deadlineOptions>;
  private readonly fieldSelector: string | undefined;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly retentionMs: number;
  private readonly now: () => number;

  private readonly byKey = new Map<string, Entry>();
  private readonly byUid = new Map<string, Entry>();
  private readonly byContainer = new Map<string, { uid: string; info: ContainerInfo }>();
  private readonly tombstones: Tombstone[] = [];
  private readonly listeners = new Set<(e: PodIndexedEvent) => void>();

  private started = false;
  private stopped = false;
  private isReady = false;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;

  private connects = 0;
  private lists = 0;
  /** When the server last answered a list or a watch, or sent on one; undefined until the first. */
  private heardAt: number | undefined;
  private startedAt = 0;
  private listErrorCount = 0;
  private errorCount = 0;
  private readonly watchFailures = Object.fromEntries(WATCH_FAILURES.map((f) => [f, 0])) as Record<WatchFailure, number>;
  private badLines = 0;
  private lastErrorText: string | undefined;

  constructor(opts: PodCacheOptions) {
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.listDeadline = deadlineOptions(opts.listTimeoutMs ?? 70_000);
    this.fieldSelector = opts.nodeName === undefined || opts.nodeName === '' ? undefined : `spec.nodeName=${opts.nodeName}`;
    this.initialBackoffMs = opts.backoff?.initialMs ?? 500;
    this.maxBackoffMs = opts.backoff?.maxMs ?? 30_000;
    this.backoffMs = this.initialBackoffMs;
    this.retentionMs = opts.deletedRetentionMs ?? 30_000;
    this.now = opts.now ?? Date.now;
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Callers that only await ready() after stop() must not see an unhandled rejection.
    this.readyPromise.catch(() => undefined);
    const timeoutS = opts.watchTimeoutSeconds ?? 300;
    const watch = new PodWatch({
      config: opts.kubeConfig,
      timeoutSeconds: () => Math.round(timeoutS * (1 + Math.random())),
      headersTimeoutMs: opts.watchHeadersTimeoutMs ?? 30_000,
      idleMarginMs: opts.watchIdleMarginMs ?? 30_000,
      stopped: () => this.stopped,
      onFailure: (failure) => {
        if (!this.stopped) this.watchFailures[failure] += 1;
      },
      onBadLine: () => {
        this.badLines += 1;
      },
      onHeard: () => {
        this.heardAt = this.now();
      },
    });
    this.listWatch = new ListWatch<V1Pod>(
      '/api/v1/pods',
      watch,
      () => this.list(),
      false,
      undefined,
      this.fieldSelector,
    );
    this.listWatch.on('add', (pod) => this.upsert(pod));
    this.listWatch.on('update', (pod) => this.upsert(pod));
    this.listWatch.on('delete', (pod) => this.remove(pod));
    this.listWatch.on('connect', () => {
      this.connects += 1;
    });
    this.listWatch.on('error', (err: unknown) => this.onError(err));
  }

  /** Starts listing and watching. Idempotent. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.startedAt = this.now();
    this.connect();
  }

  /** Resolves once the first list has been indexed; rejects if the cache is stopped before that. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Watch (re)connections after the first: server-closed streams, resyncs and restarts after errors. */
  get watchRestarts(): number {
    return Math.max(0, this.connects - 1);
  }

  /** Lists after the first: each is a resync after the watch's version expired (410) or a failed first list. */
  get resyncs(): number {
    return Math.max(0, this.lists - 1);
  }

  /** Lists that failed (refused, unreachable, or past their deadline); each is retried with backoff. */
  get listErrors(): number {
    return this.listErrorCount;
  }

  /** Failed lists and broken watches. */
  get errors(): number {
    return this.errorCount;
  }

  /** Watches that ended in an error, by why (a refused watch's 410 is a resync, not an error). */
  get watchErrors(): Readonly<Record<WatchFailure, number>> {
    return { ...this.watchFailures };
  }

  /** Watch lines that were not a watch event (not JSON, or no type or object), or that indexing refused. */
  get badWatchLines(): number {
    return this.badLines;
  }

  /**
   * Seconds since the API server last answered a list or a watch or sent anything on one (0 before start()): how
   * stale the cache may be. A healthy watch hears at least a bookmark a minute (with the API server's watch cache,
   * its default) and a new watch's answer every timeoutSeconds.
   */
  get secondsSinceHeard(): number {
    if (!this.started) return 0;
    return Math.max(0, (this.now() - (this.heardAt ?? this.startedAt)) / 1000);
  }

  get lastError(): string | undefined {
    return this.lastErrorText;
  }

  /**
   * Calls `listener` whenever something new becomes resolvable: a pod appears, or a known pod gains container
   * ids (containers have no id until they start). Returns a function that removes the listener.
   */
  onPodAdded(listener: (e: PodIndexedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The pod a container id (with or without its `containerd://` prefix) or a pod uid belongs to. The container id
   * wins when both are given and known; the result then names the container.
   */
  lookup(containerId?: string, podUid?: string): palisade.v1.IPod | undefined {
    this.prune();
    if (containerId !== undefined && containerId !== '') {
      const id = parseContainerId(containerId).id;
      const container = this.byContainer.get(id);
      const entry = container === undefined ? undefined : this.byUid.get(container.uid);
      if (entry !== undefined && container !== undefined) return toPod(entry, id, container.info);
    }
    if (podUid !== undefined && podUid !== '') {
      const entry = this.byUid.get(podUid);
      if (entry !== undefined) return toPod(entry);
    }
    return undefined;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (!this.isReady) this.rejectReady(new Error('pod cache stopped before it was ready'));
    await this.listWatch.stop();
  }

  // ---- list/watch lifecycle ------------------------------------------------------------------------------

  private connect(): void {
    this.listWatch.start().catch((err: unknown) => this.onError(err));
  }

  private async list(): Promise<V1PodList> {
    const list = await this.core.listPodForAllNamespaces(this.fieldSelector === undefined ? {} : { fieldSelector: this.fieldSelector },
      this.listDeadline).catch((err: unknown) => {
      if (!this.stopped) this.listErrorCount += 1;
      throw err;
    });
    // ListWatch looks for a stop only before it lists: a list answered after stop() would be indexed and watched
    // from. Failing it ends the cycle there (onError ignores errors after stop).
    if (this.stopped) throw new Error('pod cache stopped');
    this.heardAt = this.now();
    this.lists += 1;
    this.backoffMs = this.initialBackoffMs;
    if (!this.isReady) {
      // ListWatch indexes the items after this promise resolves, in the same job; setImmediate runs after it.
      setImmediate(() => {
        if (this.stopped || this.isReady) return;
        this.isReady = true;
        this.resolveReady();
      });
    }
    return list;
  }

  private onError(err: unknown): void {
    // Aborting the watch on stop() reports an AbortError through the same callback.
    if (this.stopped) return;
    this.errorCount += 1;
    this.lastErrorText = err instanceof Error ? err.message : String(err);
    if (this.restartTimer !== undefined) return;
    const delay = this.backoffMs * (0.8 + Math.random() * 0.4);
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.connect();
    }, delay);
  }

  // ---- indexes --------------------------------------------------------------------------------------------

  private upsert(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    const namespace = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    if (uid === undefined || uid === '' || name === '') return;
    const key = `${namespace}/${name}`;
    const previous = this.byKey.get(key);
    if (previous !== undefined && previous.uid !== uid) this.retire(previous); // replaced under the same name

    const known = this.byUid.get(uid);
    const containers = containersOf(pod);
    const fresh = [...containers.keys()].filter((id) => known?.containerIds.has(id) !== true);
    // Ids the status no longer names (a container restarted twice) keep resolving for a while: their last
    // events can still be in flight.
    const superseded = [...(known?.containerIds ?? [])].filter((id) => !containers.has(id));
    const entry: Entry = {
      key,
      uid,
      namespace,
      name,
      labels: { ...(pod.metadata?.labels ?? {}) },
      owner: resolveOwner(pod),
      node: pod.spec?.nodeName ?? '',
      containerIds: new Set(containers.keys()),
      deleted: false,
    };
    this.byKey.set(key, entry);
    this.byUid.set(uid, entry);
    for (const [id, info] of containers) this.byContainer.set(id, { uid, info });
    if (superseded.length > 0) this.bury({ expiresAt: this.now() + this.retentionMs, uid, containerIds: superseded, pod: false });

    if (known === undefined || known.deleted || fresh.length > 0) this.emit({ podUid: uid, containerIds: fresh });
  }

  private remove(pod: V1Pod): void {
    const key = `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
    const entry = this.byKey.get(key);
    if (entry === undefined || (pod.metadata?.uid !== undefined && entry.uid !== pod.metadata.uid)) return;
    this.retire(entry);
  }

  /** Takes a pod out of the live set; it keeps resolving until its retention expires. */
  private retire(entry: Entry): void {
    if (this.byKey.get(entry.key) === entry) this.byKey.delete(entry.key);
    entry.deleted = true;
    this.bury({ expiresAt: this.now() + this.retentionMs, uid: entry.uid, containerIds: [...entry.containerIds], pod: true });
  }

  private bury(t: Tombstone): void {
    this.tombstones.push(t); // retention is constant, so the queue stays ordered by expiry
    this.prune();
  }

  private prune(): void {
    const now = this.now();
    while ((this.tombstones[0]?.expiresAt ?? Infinity) <= now) {
      const t = this.tombstones.shift();
      if (t === undefined) break;
      // The pod may be live again under the same uid (a relist brought it back): then its indexes stay.
      const live = this.byUid.get(t.uid);
      const alive = live !== undefined && !live.deleted;
      if (t.pod && !alive) this.byUid.delete(t.uid);
      for (const id of t.containerIds) {
        if (this.byContainer.get(id)?.uid === t.uid && !(alive && live.containerIds.has(id))) this.byContainer.delete(id);
      }
    }
  }

  private emit(e: PodIndexedEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(e);
      } catch {
        // A listener's failure is its own; the cache must keep indexing.
      }
    }
  }
}

function toPod(entry: Entry, containerId?: string, container?: ContainerInfo): palisade.v1.IPod {
  const pod: palisade.v1.IPod = {
    namespace: entry.namespace,
    name: entry.name,
    uid: entry.uid,
    labels: { ...entry.labels },
    owner: { ...entry.owner },
    node: entry.node,
  };
  if (containerId !== undefined && container !== undefined) {
    pod.containerId = containerId;
    pod.containerName = container.name;
    pod.image = container.image;
    pod.runtime = container.runtime;
  }
  return pod;
}
