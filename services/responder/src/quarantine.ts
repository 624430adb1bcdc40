// Quarantine a pod: make sure a NetworkPolicy in its namespace denies all egress to pods with a label, then give the
// pod that label. The policy comes first, so a pod is never labelled quarantined without one. Both steps are
// idempotent, so running the action twice (a redelivered alert, a retry after a crash) leaves the same state.
//
// Safety rails, in order: protected namespaces are refused before any call; the pod is read and its uid compared
// with the alert's, so a replacement pod that reuses the name is never labelled; the label patch carries the
// resourceVersion that was read, so a pod replaced between the read and the patch fails with 409 and is re-read
// (and then refused on its new uid) instead of being labelled blindly. With target.node, the pod read must also be
// scheduled on that node (spec.nodeName): the node that reported the event speaks only for its own pods.
//
// Idempotent in writes too, not only in the state it leaves: what is already there is read before anything is
// written, so a second alert for a quarantined pod (a redelivery after a crash, a restart that forgot the dedupe
// window) makes no write at all. Every request has a deadline: an API server that accepts the connection and never
// answers costs one timeout per attempt, and the alert still gets its (failed) record instead of wedging the stage.
import {
  PatchStrategy, setHeaderOptions, CoreV1Api, NetworkingV1Api,
  type ConfigurationOptions, type KubeConfig, type ObservableMiddleware, type V1NetworkPolicy, type V1NetworkPolicySpec, type V1Pod,
} from '@kubernetes/client-node';
import { PalisadeError, deadlineOptions } from '@palisade/common';

export interface QuarantineTarget {
  namespace: string;
  name: string;
  /** The uid the alert saw. Required: without it a replacement pod could not be told apart. */
  uid: string;
  /** The node whose collector reported the event; when given, the pod must be scheduled there. */
  node?: string;
}

export interface RetryOptions {
  /** Tries per API call, and rounds of re-read after a 409 Conflict. Default 5. */
  maxAttempts?: number;
  /** First backoff; doubles per retry, with jitter. Default 100 ms. */
  baseDelayMs?: number;
  /** Upper bound for one backoff, Retry-After included. Default 5 s. */
  maxDelayMs?: number;
}

export interface QuarantineOptions {
  labelKey?: string;
  labelValue?: string;
  policyName?: string;
  /** Say what would be done; reads are made, writes are not. */
  dryRun?: boolean;
  /** Namespaces never acted on, besides kube-system (always protected): pass the pipeline's own namespace. */
  protectedNamespaces?: readonly string[];
  retry?: RetryOptions;
  /** Deadline of one HTTP request; past it the request is aborted and counts as a retriable network error. Default 10 s. */
  requestTimeoutMs?: number;
  /** For tests: how to wait between retries. */
  sleep?: (ms: number) => Promise<void>;
}

export type QuarantineOutcome = 'done' | 'dry_run' | 'refused' | 'failed';

export interface QuarantineResult {
  outcome: QuarantineOutcome;
  reason: string;
  /** One line per logical API call, in order: what was done (or, in a dry run, would be). */
  steps: string[];
  /** HTTP requests made, retries included. */
  attempts: number;
  /** The error behind a 'failed' outcome. */
  error?: PalisadeError;
  /** Set (with outcome 'refused') when the pod is not scheduled on target.node: the alert is not to be trusted. */
  nodeMismatch?: string;
}

export interface QuarantineClients {
  core: CoreV1Api;
  networking: NetworkingV1Api;
}

export function quarantineClients(kc: KubeConfig): QuarantineClients {
  return { core: kc.makeApiClient(CoreV1Api), networking: kc.makeApiClient(NetworkingV1Api) };
}

export const ALWAYS_PROTECTED_NAMESPACES: readonly string[] = ['kube-system'];
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'palisade' };

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

interface ApiExceptionLike {
  code: number;
  body: unknown;
  headers: Record<string, string>;
}

// Duck-typed rather than instanceof: a second copy of client-node in the tree would defeat instanceof.
function isApiException(err: unknown): err is ApiExceptionLike {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'number' &&
    'body' in err &&
    typeof (err as { headers?: unknown }).headers === 'object'
  );
}

/** The Status an API error carries; the client hands non-2xx bodies over as text. */
function statusOf(body: unknown): { reason?: string; message?: string } {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return { message: body.slice(0, 200) };
    }
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const { reason, message } = parsed as { reason?: unknown; message?: unknown };
  const out: { reason?: string; message?: string } = {};
  if (typeof reason === 'string') out.reason = reason;
  if (typeof message === 'string') out.message = message;
  return out;
}

/** Maps a client error to Palisade's codes. 5xx, 429 and network errors are retriable; so is 409 Conflict (re-read). */
export function kubeError(err: unknown, op: string): PalisadeError {
  if (err instanceof PalisadeError) return err;
  if (isApiException(err)) {
    const s = statusOf(err.body);
    const text = `${op}: HTTP ${err.code}${s.reason === undefined ? '' : ` ${s.reason}`}${s.message === undefined ? '' : `: ${s.message}`}`;
    const c = err.code;
    if (c === 404) return new PalisadeError('KUBE_NOT_FOUND', text, { cause: err });
    if (c === 409) return new PalisadeError('KUBE_CONFLICT', text, { cause: err, retriable: s.reason !== 'AlreadyExists' });
    if (c === 401 || c === 403) return new PalisadeError('KUBE_FORBIDDEN', text, { cause: err });
    if (c === 429 || c >= 500) return new PalisadeError('KUBE_UNAVAILABLE', text, { cause: err, retriable: true });
    return new PalisadeError('KUBE_INVALID', text, { cause: err });
  }
  const code = (err as { code?: unknown } | null)?.code;
  const name = (err as { name?: unknown } | null)?.name;
  const message = err instanceof Error ? err.message : String(err);
  if ((typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) || name === 'FetchError' || name === 'AbortError') {
    return new PalisadeError('KUBE_UNAVAILABLE', `${op}: ${message}`, { cause: err, retriable: true });
  }
  return new PalisadeError('INTERNAL', `${op}: ${message}`, { cause: err });
}

/** The policy quarantine needs: pods with the label may send nothing (no egress rule allows anything). */
export function desiredPolicy(namespace: string, policyName: string, labelKey: string, labelValue: string): V1NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: policyName, namespace, labels: { ...MANAGED_BY } },
    spec: { podSelector: { matchLabels: { [labelKey]: labelValue } }, policyTypes: ['Egress'], egress: [] },
  };
}

/**
 * Whether a stored spec already is ours. Compared by meaning, not text: the API server drops empty lists
 * (egress: [] comes back absent) and may reorder nothing else we care about.
 */
export function policyMatches(spec: V1NetworkPolicySpec | undefined, labelKey: string, labelValue: string): boolean {
  if (spec === undefined) return false;
  const labels = spec.podSelector?.matchLabels ?? {};
  const exprs = spec.podSelector?.matchExpressions ?? [];
  const types = spec.policyTypes ?? [];
  return (
    Object.keys(labels).length === 1 &&
    labels[labelKey] === labelValue &&
    exprs.length === 0 &&
    types.length === 1 &&
    types[0] === 'Egress' &&
    (spec.egress ?? []).length === 0 &&
    (spec.ingress ?? []).length === 0
  );
}

class Refused extends Error {
  constructor(message: string, readonly nodeMismatch = false) { super(message); }
}

/** Runs API calls with bounded, backed-off retries and counts every request. */
class Calls {
  attempts = 0;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(retry: RetryOptions, sleep: ((ms: number) => Promise<void>) | undefined) {
    this.maxAttempts = Math.max(1, retry.maxAttempts ?? 5);
    this.baseDelayMs = retry.baseDelayMs ?? 100;
    this.maxDelayMs = retry.maxDelayMs ?? 5000;
    this.sleep = sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  get rounds(): number {
    return this.maxAttempts;
  }

  /** Calls fn until it succeeds, fails with a non-retriable error, or runs out of tries. Conflicts are returned to the caller. */
  async run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.attempts += 1;
      try {
        return await fn();
      } catch (raw) {
        const err = kubeError(raw, op);
        if (err.code === 'KUBE_CONFLICT' || !err.retriable || attempt >= this.maxAttempts) throw err;
        await this.sleep(this.delay(attempt, raw));
      }
    }
  }

  delay(attempt: number, raw?: unknown): number {
    const exp = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    let ms = exp / 2 + (Math.random() * exp) / 2;
    const retryAfter = isApiException(raw) ? Number(raw.headers['retry-after']) : NaN;
    if (Number.isFinite(retryAfter) && retryAfter > 0) ms = Math.max(ms, retryAfter * 1000);
    return Math.min(ms, this.maxDelayMs);
  }
}

/**
 * Quarantines one pod. Never throws: every outcome, failures included, comes back as a result.
 */
export async function quarantinePod(clients: QuarantineClients, target: QuarantineTarget, options: QuarantineOptions = {}): Promise<QuarantineResult> {
  const labelKey = options.labelKey ?? 'quarantined';
  const labelValue = options.labelValue ?? 'true';
  const policyName = options.policyName ?? 'palisade-quarantine';
  const dryRun = options.dryRun ?? false;
  const { namespace, name, uid } = target;
  const steps: string[] = [];
  const calls = new Calls(options.retry ?? {}, options.sleep);
  const timeout = deadlineOptions(options.requestTimeoutMs ?? 10_000);
  const result = (outcome: QuarantineOutcome, reason: string, error?: PalisadeError): QuarantineResult => {
    const r: QuarantineResult = { outcome, reason, steps, attempts: calls.attempts };
    if (error !== undefined) r.error = error;
    return r;
  };

  const protectedNs = new Set([...ALWAYS_PROTECTED_NAMESPACES, ...(options.protectedNamespaces ?? [])]);
  if (protectedNs.has(namespace)) return result('refused', `namespace ${namespace} is protected`);
  if (namespace === '' || name === '' || uid === '') return result('refused', 'target needs a namespace, a name and a uid');

  const podRef = `pods/${namespace}/${name}`;
  const policyRef = `networkpolicies/${namespace}/${policyName}`;
  const labelText = `${labelKey}=${labelValue}`;
  const would = dryRun ? 'would ' : '';

  const readPod = async (): Promise<V1Pod> => {
    steps.push(`GET ${podRef}`);
    const pod = await calls.run(`GET ${podRef}`, () => clients.core.readNamespacedPod({ namespace, name }, timeout)).catch((err: unknown) => {
      if (err instanceof PalisadeError && err.code === 'KUBE_NOT_FOUND') throw new Refused('pod gone');
      throw err;
    });
    const seenUid = pod.metadata?.uid ?? '';
    if (seenUid !== uid) throw new Refused(`pod replaced: ${podRef} has uid ${seenUid}, the alert was for ${uid}`);
    const scheduledOn = pod.spec?.nodeName ?? '';
    if (target.node !== undefined && scheduledOn !== target.node) {
      throw new Refused(`${podRef} is scheduled on node ${JSON.stringify(scheduledOn)}, but node ` +
        `${JSON.stringify(target.node)} reported the event`, true);
    }
    return pod;
  };

  try {
    // (a) Read the pod first: a gone, replaced or elsewhere-scheduled pod is refused before anything is written.
    let pod = await readPod();

    // (b) Make sure the deny-egress policy exists and is ours, before the label: the policy selects only labelled
    // pods, so it is harmless on its own, while a labelled pod without it would be marked quarantined and still talk.
    await ensurePolicy(clients, calls, steps, timeout, {
      namespace, policyName, policyRef, labelText, labelKey, labelValue, dryRun,
      desired: desiredPolicy(namespace, policyName, labelKey, labelValue),
    });

    // (c) Label the pod.
    for (let round = 1; ; round++) {
      if (round > 1) pod = await readPod();
      if (pod.metadata?.labels?.[labelKey] === labelValue) {
        steps.push(`${podRef} already labelled ${labelText}`);
        break;
      }
      steps.push(`${would}PATCH ${podRef} labels ${labelText}`);
      if (dryRun) return result('dry_run', `would quarantine ${podRef}`);
      const body = { metadata: { labels: { [labelKey]: labelValue }, uid, resourceVersion: pod.metadata?.resourceVersion ?? null } };
      try {
        await calls.run(`PATCH ${podRef}`, () =>
          clients.core.patchNamespacedPod({ namespace, name, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch, timeout)),
        );
        break;
      } catch (err) {
        if (err instanceof PalisadeError && err.code === 'KUBE_NOT_FOUND') throw new Refused('pod gone');
        // Someone else wrote the pod since we read it (or it was replaced): read again and re-check.
        if (err instanceof PalisadeError && err.code === 'KUBE_CONFLICT' && round < calls.rounds) {
          steps.push(`${podRef} changed since read (409 Conflict): re-reading`);
          continue;
        }
        throw err;
      }
    }
    if (dryRun) return result('dry_run', `would quarantine ${podRef}`);
    return result('done', `quarantined ${podRef}`);
  } catch (err) {
    if (err instanceof Refused) {
      const r = result('refused', err.message);
      if (err.nodeMismatch) r.nodeMismatch = err.message;
      return r;
    }
    const e = kubeError(err, 'quarantine');
    steps.push(`failed: ${e.code}: ${e.message}`);
    return result('failed', e.message, e);
  }
}

interface PolicyTarget {
  namespace: string;
  policyName: string;
  policyRef: string;
  labelText: string;
  labelKey: string;
  labelValue: string;
  desired: V1NetworkPolicy;
  dryRun: boolean;
}

/**
 * Makes sure the deny-egress policy exists and is ours: read first, so an existing one costs no write; create it when
 * missing, or replace the spec of one of that name that is not ours. In a dry run, says what it would do. Throws on
 * failure.
 */
async function ensurePolicy(clients: QuarantineClients, calls: Calls, steps: string[],
  timeout: ConfigurationOptions<ObservableMiddleware>, t: PolicyTarget): Promise<void> {
  const { namespace, policyName, policyRef, labelText, labelKey, labelValue, desired, dryRun } = t;
  const would = dryRun ? 'would ' : '';
  const readPolicy = (): Promise<V1NetworkPolicy | undefined> => calls
    .run(`GET ${policyRef}`, () => clients.networking.readNamespacedNetworkPolicy({ namespace, name: policyName }, timeout))
    .catch((err: unknown) => {
      if (err instanceof PalisadeError && err.code === 'KUBE_NOT_FOUND') return undefined;
      throw err;
    });
  for (let round = 1; ; round++) {
    steps.push(`GET ${policyRef}`);
    const existing = await readPolicy();
    if (existing !== undefined && policyMatches(existing.spec, labelKey, labelValue)) {
      steps.push(`${policyRef} already denies egress for ${labelText}`);
      return;
    }
    if (existing === undefined) {
      steps.push(`${would}CREATE ${policyRef}`);
      if (dryRun) return;
      try {
        await calls.run(`CREATE ${policyRef}`, () => clients.networking.createNamespacedNetworkPolicy({ namespace, body: desired }, timeout));
        return;
      } catch (err) {
        // AlreadyExists (someone created it since our read, or our own create whose answer was lost): read again.
        if (err instanceof PalisadeError && err.code === 'KUBE_CONFLICT' && round < calls.rounds) continue;
        throw err;
      }
    }
    steps.push(`${would}REPLACE ${policyRef} spec`);
    if (dryRun) return;
    // A replace, not a merge patch: a merge would keep extra keys of someone else's podSelector.
    const body: V1NetworkPolicy = {
      ...existing,
      metadata: { ...existing.metadata, labels: { ...(existing.metadata?.labels ?? {}), ...MANAGED_BY } },
      spec: desired.spec ?? { podSelector: {} },
    };
    try {
      await calls.run(`REPLACE ${policyRef}`, () => clients.networking.replaceNamespacedNetworkPolicy({ namespace, name: policyName, body }, timeout));
      return;
    } catch (err) {
      const retry = err instanceof PalisadeError && (err.code === 'KUBE_CONFLICT' || err.code === 'KUBE_NOT_FOUND') && round < calls.rounds;
      if (!retry) throw err;
    }
  }
}
