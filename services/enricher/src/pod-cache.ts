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
import { CoreV1Api, ListWatch, Watch, type KubeConfig, type V1Pod, type V1PodList } from '@kubernetes/client-node';
import type { palisade } from '@palisade/common';

export interface PodCacheOptions {
  kubeConfig: KubeConfig;
  /** Only pods bound to this node (fieldSelector spec.nodeName); all pods when omitted. */
  nodeName?: string;
  /**
   * Each watch asks the server to end it after this many seconds (timeoutSeconds), plus up to as much again at
   * random so that enrichers do not re-watch in step. Default 300.
   */
  watchTimeoutSeconds?: number;
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

/**
 * The Watch ListWatch uses, with the query parameters ListWatch does not set (bookmarks and a timeout), and one
 * thing it does not do: ListWatch can abort a watch only once its request has been answered, so a watch answered
 * after stop() would stream on; this one is aborted as soon as it is.
 */
class PodWatch extends Watch {
  constructor(config: KubeConfig, private readonly timeoutSeconds: () => number, private readonly stopped: () => boolean) {
    super(config);
  }

  override async watch(...[path, query, callback, done]: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
    const controller = await super.watch(path, { ...query, allowWatchBookmarks: true, timeoutSeconds: this.timeoutSeconds() }, callback, done);
    if (this.stopped()) controller.abort();
    return controller;
  }
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

export class PodCache {
  private readonly listWatch: ListWatch<V1Pod>;
  private readonly core: CoreV1Api;
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
  private errorCount = 0;
  private lastErrorText: string | undefined;

  constructor(opts: PodCacheOptions) {
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
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
    this.listWatch = new ListWatch<V1Pod>(
      '/api/v1/pods',
      new PodWatch(opts.kubeConfig, () => Math.round(timeoutS * (1 + Math.random())), () => this.stopped),
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

  /** Failed lists and broken watches. */
  get errors(): number {
    return this.errorCount;
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
    const list = await this.core.listPodForAllNamespaces(this.fieldSelector === undefined ? {} : { fieldSelector: this.fieldSelector });
    // ListWatch looks for a stop only before it lists: a list answered after stop() would be indexed and watched
    // from. Failing it ends the cycle there (onError ignores errors after stop).
    if (this.stopped) throw new Error('pod cache stopped');
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
