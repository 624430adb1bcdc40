// Runs the compiled Rego rules (policies/, built by scripts/build-policies.mjs) over enriched events with the OPA wasm
// SDK, and turns what they report into Alert messages.
//
// Dispatch by kind: the build compiles one entrypoint per event kind (palisade/kinds/<kind>/alerts, the alerts of only
// the rules whose event_kinds name that kind; scripts/build-policies.mjs), and evaluate() groups a batch by kind and
// calls each kind's entrypoint once per chunk of at most batchSize events. A file open is then evaluated only by the
// rules that read file opens (15 of 45 today). Crossing into the wasm, copying the input in and parsing it is the fixed
// cost of a call, so the events of one kind still go as one batch. A wasm without the kind entrypoints (a bundle
// built by hand with only -e palisade/main/alerts) is evaluated through palisade/main/alerts, every rule over the
// whole batch, as before. Events of kinds no enabled rule reads never reach OPA.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { PalisadeError, pb, type palisade } from '@palisade/common';
import { isRegoEventKind, toRegoEvent, type RegoEvent, type RegoEventKind } from './rego-input.js';
import { EMPTY_TUNING, isEnabled, tuningData, type Tuning } from './tuning.js';

/** Keep in sync with ENTRYPOINT in scripts/build-policies.mjs and policies/main.rego. */
export const POLICY_ENTRYPOINT = 'palisade/main/alerts';
/** Keep in sync with KIND_ENTRYPOINT_PREFIX in scripts/build-policies.mjs. */
export const KIND_ENTRYPOINT_PREFIX = 'palisade/kinds/';

/** The entrypoint the build generates for the rules that read `kind`. */
export function kindEntrypoint(kind: RegoEventKind): string {
  return `${KIND_ENTRYPOINT_PREFIX}${kind}/alerts`;
}

/**
 * How evaluate() calls the wasm: "kind", each kind's events through its own entrypoint (the default when the wasm has
 * them all); "single", the whole batch through palisade/main/alerts. Both give the same alerts
 * (test/bench/kind-dispatch.test.ts checks it over the bench's event mix); "single" is there for that check and the bench.
 */
export type PolicyDispatch = 'kind' | 'single';
export const DEFAULT_BATCH_SIZE = 512;
/** 64 KiB pages. Wasm memory only grows; the cap turns a runaway batch into POLICY_EVAL_FAILED, not an OOM kill. */
export const DEFAULT_MAX_MEMORY_PAGES = 8192;

export type RuleSeverity = 'info' | 'low' | 'medium' | 'high' | 'critical';

/** One rule's `# METADATA` block, as scripts/build-policies.mjs writes it to metadata.json. */
export interface RuleMetadata {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly severity: RuleSeverity;
  readonly mitre: string;
  readonly actions: readonly string[];
  readonly eventKinds: readonly RegoEventKind[];
  readonly package: string;
}

export interface PolicyEngineOptions {
  /** build/policies/policy.wasm */
  wasmPath: string;
  /** build/policies/metadata.json */
  metadataPath: string;
  /** The bundle's base data (policies/data.json, extracted by the build). Default: data.json beside wasmPath. */
  dataPath?: string;
  /** Merged over the base data: objects key by key, anything else replaced (a denied_ports list replaces the list). */
  data?: Record<string, unknown>;
  /** Rule tuning (tuning.ts), merged over the data as data.palisade.tuning; setTuning() replaces it later. */
  tuning?: Tuning;
  /** Called for every alert a tuning exception silenced (the rule fired; the alert is not published). */
  onExcepted?: (ruleId: string, exception: string) => void;
  /** Events per wasm evaluation. */
  batchSize?: number;
  maxMemoryPages?: number;
  /** Default "kind" when the wasm has every kind's entrypoint, else "single". */
  dispatch?: PolicyDispatch;
}

/**
 * What a rule reports for one event: `alerts contains {"index", "rule_id", "message"}`, optionally `"key"`, and what
 * the tuning (policies/lib/tuning.rego) adds: "severity" when overridden, "excepted_by" when an exception matched.
 */
interface RuleHit {
  index: number;
  ruleId: string;
  message: string;
  /** What makes two firings of the rule on one pod the same for dedup (alert-dedup.ts); "" for the default key. */
  key: string;
  severity?: RuleSeverity;
  exceptedBy?: string;
}

/** Why compiled parts did not make an engine: the label of palisade_evaluator_bundle_loads_total (bundle.ts). */
export type PolicyLoadReason = 'bad_wasm' | 'wrong_entrypoint' | 'bad_data';

/** POLICY_LOAD_FAILED with the part at fault, so a bundle swap can count why it was refused. */
export class PolicyLoadError extends PalisadeError {
  constructor(readonly reason: PolicyLoadReason, message: string, cause?: unknown) {
    super('POLICY_LOAD_FAILED', cause === undefined ? message : `${message}: ${describe(cause)}`, { cause });
  }
}

/** What PolicyEngine.create compiles: a bundle's parts (bundle.ts) or the build's files (PolicyEngine.load). */
export interface PolicyParts {
  wasm: Uint8Array;
  rules: readonly RuleMetadata[];
  /** The policy's own base data; `overlay` is merged over it. */
  data: Record<string, unknown>;
  overlay?: Record<string, unknown>;
  /** Where the parts came from, for error messages. */
  where: string;
  /** Rule tuning (tuning.ts), merged over the data as data.palisade.tuning; setTuning() replaces it later. */
  tuning?: Tuning;
  /** Called for every alert a tuning exception silenced (the rule fired; the alert is not published). */
  onExcepted?: (ruleId: string, exception: string) => void;
  batchSize?: number;
  maxMemoryPages?: number;
  /** Default "kind" when the wasm has every kind's entrypoint, else "single". */
  dispatch?: PolicyDispatch;
}

const SEVERITY: Readonly<Record<RuleSeverity, palisade.v1.Severity>> = {
  info: pb.Severity.SEVERITY_INFO,
  low: pb.Severity.SEVERITY_LOW,
  medium: pb.Severity.SEVERITY_MEDIUM,
  high: pb.Severity.SEVERITY_HIGH,
  critical: pb.Severity.SEVERITY_CRITICAL,
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isSeverity(v: unknown): v is RuleSeverity {
  return typeof v === 'string' && Object.hasOwn(SEVERITY, v);
}

// The SDK throws strings and plain objects as well as Errors.
function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (isRecord(err) && typeof err.message === 'string') return err.message;
  return String(err);
}

function loadFailed(message: string, cause?: unknown): PalisadeError {
  return new PalisadeError('POLICY_LOAD_FAILED', cause === undefined ? message : `${message}: ${describe(cause)}`, {
    cause,
  });
}

function parseRule(v: unknown, where: string): RuleMetadata {
  if (!isRecord(v)) throw loadFailed(`${where}: not an object`);
  const { id, title, description, severity, mitre, actions, event_kinds: kinds } = v;
  if (typeof id !== 'string' || id === '') throw loadFailed(`${where}: id missing`);
  if (typeof title !== 'string') throw loadFailed(`${where} (${id}): title missing`);
  if (!isSeverity(severity)) throw loadFailed(`${where} (${id}): unknown severity ${String(severity)}`);
  if (typeof mitre !== 'string') throw loadFailed(`${where} (${id}): mitre missing`);
  if (!isStringArray(actions)) throw loadFailed(`${where} (${id}): actions must be a list of strings`);
  if (!isStringArray(kinds) || kinds.length === 0) throw loadFailed(`${where} (${id}): event_kinds missing`);
  const eventKinds: RegoEventKind[] = [];
  for (const k of kinds) {
    if (!isRegoEventKind(k)) throw loadFailed(`${where} (${id}): unknown event kind ${k}`);
    eventKinds.push(k);
  }
  return {
    id,
    title,
    description: typeof description === 'string' ? description : '',
    severity,
    mitre,
    actions,
    eventKinds,
    package: typeof v.package === 'string' ? v.package : '',
  };
}

export function parseMetadata(json: unknown): RuleMetadata[] {
  if (!isRecord(json) || !Array.isArray(json.rules)) throw loadFailed('metadata: no rules list');
  if (json.entrypoint !== undefined && json.entrypoint !== POLICY_ENTRYPOINT) {
    throw loadFailed(`metadata: built for entrypoint ${String(json.entrypoint)}, expected ${POLICY_ENTRYPOINT}`);
  }
  const rules = json.rules.map((r, i) => parseRule(r, `metadata rules[${i}]`));
  const ids = new Set<string>();
  for (const r of rules) {
    if (ids.has(r.id)) throw loadFailed(`metadata: duplicate rule id ${r.id}`);
    ids.add(r.id);
  }
  return rules;
}

/** Objects merge key by key; arrays and scalars in `over` replace what `base` has. */
export function mergeData(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isRecord(b) && isRecord(v) ? mergeData(b, v) : v;
  }
  return out;
}

// The entrypoint's result set: [{ "result": [{index, rule_id, message}, ...] }]. Anything else means the wasm and this
// code disagree about the contract, which no retry fixes.
function parseHits(raw: unknown, batchLength: number): RuleHit[] {
  if (!Array.isArray(raw)) throw new PalisadeError('POLICY_EVAL_FAILED', 'policy result is not a result set');
  if (raw.length === 0) return []; // undefined entrypoint: cannot happen for a partial set, harmless if it does
  const first: unknown = raw[0];
  if (raw.length !== 1 || !isRecord(first) || !Array.isArray(first.result)) {
    throw new PalisadeError('POLICY_EVAL_FAILED', 'policy result is not [{"result": [...]}]');
  }
  const hits: RuleHit[] = [];
  for (const item of first.result as unknown[]) {
    if (!isRecord(item)) throw new PalisadeError('POLICY_EVAL_FAILED', 'policy alert is not an object');
    const { index, rule_id: ruleId, message, key, severity, excepted_by: exceptedBy } = item;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= batchLength) {
      throw new PalisadeError('POLICY_EVAL_FAILED', `policy alert index ${String(index)} outside the batch of ${batchLength}`);
    }
    if (typeof ruleId !== 'string' || typeof message !== 'string') {
      throw new PalisadeError('POLICY_EVAL_FAILED', 'policy alert lacks a string rule_id or message');
    }
    if (key !== undefined && typeof key !== 'string') throw new PalisadeError('POLICY_EVAL_FAILED', 'policy alert key is not a string');
    if (severity !== undefined && !isSeverity(severity)) {
      throw new PalisadeError('POLICY_EVAL_FAILED', `policy alert severity ${String(severity)} is not a severity`);
    }
    if (exceptedBy !== undefined && typeof exceptedBy !== 'string') {
      throw new PalisadeError('POLICY_EVAL_FAILED', 'policy alert excepted_by is not a string');
    }
    hits.push({ index, ruleId, message, key: key ?? '', ...(severity !== undefined && { severity }),
      ...(exceptedBy !== undefined && { exceptedBy }) });
  }
  return hits;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A hit with the event it is about, for sorting the hits of several wasm calls into one order. */
interface PlacedHit {
  hit: RuleHit;
  /** Position in evaluate()'s selected events. */
  at: number;
}

export class PolicyEngine {
  readonly #policy: LoadedPolicy;
  /** Entrypoint ids in the wasm: main's, and each kind's when dispatching by kind (else empty). */
  readonly #mainEntrypoint: number;
  readonly #kindEntrypoints: ReadonlyMap<RegoEventKind, number>;
  readonly #rules: ReadonlyMap<string, RuleMetadata>;
  #kinds: ReadonlySet<RegoEventKind>;
  readonly #batchSize: number;
  /** The policy's data with the configured overrides: what the tuning is merged over at every setTuning. */
  readonly #data: Record<string, unknown>;
  #tuning: Tuning = EMPTY_TUNING;
  readonly #onExcepted: ((ruleId: string, exception: string) => void) | undefined;
  #evaluations = 0;
  #eventsEvaluated = 0;
  #eventsSkipped = 0;
  readonly #alertsByRule = new Map<string, number>();

  private constructor(policy: LoadedPolicy, entrypoints: { main: number; kinds: ReadonlyMap<RegoEventKind, number> },
    rules: readonly RuleMetadata[], batchSize: number, data: Record<string, unknown>,
    onExcepted: ((ruleId: string, exception: string) => void) | undefined) {
    this.#policy = policy;
    this.#mainEntrypoint = entrypoints.main;
    this.#kindEntrypoints = entrypoints.kinds;
    this.#rules = new Map(rules.map((r) => [r.id, r]));
    this.#kinds = new Set(rules.flatMap((r) => r.eventKinds));
    this.#batchSize = batchSize;
    this.#data = data;
    this.#onExcepted = onExcepted;
  }

  static async load(opts: PolicyEngineOptions): Promise<PolicyEngine> {
    const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw loadFailed(`batchSize must be a positive integer, got ${batchSize}`);
    const dataPath = opts.dataPath ?? join(dirname(opts.wasmPath), 'data.json');
    const read = async (path: string): Promise<Buffer> => {
      try {
        return await readFile(path);
      } catch (err) {
        throw loadFailed(`cannot read ${path}`, err);
      }
    };
    const parse = (buf: Buffer, path: string): unknown => {
      try {
        return JSON.parse(buf.toString('utf8'));
      } catch (err) {
        throw loadFailed(`${path} is not JSON`, err);
      }
    };
    const [wasm, metadataJson, dataJson] = await Promise.all([
      read(opts.wasmPath),
      read(opts.metadataPath),
      read(dataPath),
    ]);
    const rules = parseMetadata(parse(metadataJson, opts.metadataPath));
    const baseData = parse(dataJson, dataPath);
    if (!isRecord(baseData)) throw loadFailed(`${dataPath}: data must be an object`);
    return PolicyEngine.create({
      wasm, rules, data: baseData, where: opts.wasmPath, batchSize,
      ...(opts.data && { overlay: opts.data }), ...(opts.maxMemoryPages !== undefined && { maxMemoryPages: opts.maxMemoryPages }),
      ...(opts.tuning && { tuning: opts.tuning }), ...(opts.onExcepted && { onExcepted: opts.onExcepted }),
      ...(opts.dispatch && { dispatch: opts.dispatch }),
    });
  }

  /** Compiles the wasm with its data (overlay merged over the base) and checks the entrypoint. */
  static async create(parts: PolicyParts): Promise<PolicyEngine> {
    const batchSize = parts.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw loadFailed(`batchSize must be a positive integer, got ${batchSize}`);
    const data = parts.overlay ? mergeData(parts.data, parts.overlay) : parts.data;
    let policy: LoadedPolicy;
    try {
      policy = await loadPolicy(parts.wasm, { initial: 16, maximum: parts.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES });
    } catch (err) {
      throw new PolicyLoadError('bad_wasm', `cannot load ${parts.where}`, err);
    }
    try {
      policy.setData(data);
    } catch (err) {
      throw new PolicyLoadError('bad_data', `cannot set the data of ${parts.where}`, err);
    }
    const entrypoints: unknown = policy.entrypoints;
    const main = isRecord(entrypoints) ? entrypoints[POLICY_ENTRYPOINT] : undefined;
    if (!isRecord(entrypoints) || !Object.hasOwn(entrypoints, POLICY_ENTRYPOINT) || typeof main !== 'number') {
      throw new PolicyLoadError('wrong_entrypoint', `${parts.where} has no entrypoint ${POLICY_ENTRYPOINT}`);
    }
    // By kind only when every kind a rule reads has its entrypoint: a kind without one would lose its rules' alerts.
    const kinds = new Map<RegoEventKind, number>();
    const ruleKinds = new Set(parts.rules.flatMap((r) => r.eventKinds));
    for (const k of ruleKinds) {
      const id = entrypoints[kindEntrypoint(k)];
      if (typeof id === 'number') kinds.set(k, id);
    }
    const complete = [...ruleKinds].every((k) => kinds.has(k));
    if (parts.dispatch === 'kind' && !complete) {
      throw new PolicyLoadError('wrong_entrypoint', `${parts.where} lacks the per-kind entrypoints (${KIND_ENTRYPOINT_PREFIX}<kind>/alerts): ` +
        'build it with scripts/build-policies.mjs');
    }
    const byKind = parts.dispatch !== 'single' && complete;
    const engine = new PolicyEngine(policy, { main, kinds: byKind ? kinds : new Map() }, parts.rules, batchSize, data,
      parts.onExcepted);
    if (parts.tuning) engine.setTuning(parts.tuning);
    return engine;
  }

  /**
   * Makes `tuning` the one in force: data.palisade.tuning is replaced (merged over the policy's data, so tuning a
   * bundle ships stays unless overridden), and event kinds only disabled rules read stop reaching OPA. Validate it
   * against `rules` first (tuning.ts); a rule id unknown here is harmless to the Rego, but a sign of a mix-up.
   * A bundle swap builds a new engine with the tuning in force (active-policy.ts), so tuning survives swaps.
   */
  setTuning(tuning: Tuning): void {
    try {
      this.#policy.setData(mergeData(this.#data, { palisade: { tuning: tuningData(tuning) } }));
    } catch (err) {
      throw loadFailed('cannot set the tuning data', err);
    }
    this.#kinds = new Set([...this.#rules.values()].filter((r) => isEnabled(tuning, r.id)).flatMap((r) => r.eventKinds));
    this.#tuning = tuning;
  }

  /** The tuning in force (EMPTY_TUNING until setTuning). */
  get tuning(): Tuning {
    return this.#tuning;
  }

  /** The rules the loaded policy carries, by id. */
  get rules(): ReadonlyMap<string, RuleMetadata> {
    return this.#rules;
  }

  /** Event kinds at least one enabled rule reads; events of other kinds are skipped before OPA. */
  get eventKinds(): ReadonlySet<RegoEventKind> {
    return this.#kinds;
  }

  /** How evaluate() calls the wasm (PolicyDispatch). */
  get dispatch(): PolicyDispatch {
    return this.#kindEntrypoints.size > 0 ? 'kind' : 'single';
  }

  /** Wasm evaluations run: by kind, one per kind per chunk of at most batchSize events of that kind; else one per chunk. */
  get evaluations(): number {
    return this.#evaluations;
  }

  /** Events sent to OPA. */
  get eventsEvaluated(): number {
    return this.#eventsEvaluated;
  }

  /** Events not sent to OPA: a kind no rule reads, an unknown kind, or no raw event at all. */
  get eventsSkipped(): number {
    return this.#eventsSkipped;
  }

  /** Alerts raised, by rule id. */
  get alertsByRule(): ReadonlyMap<string, number> {
    return this.#alertsByRule;
  }

  /**
   * Evaluates every rule over `events` and returns their alerts, ordered by event then rule id. `nowUnixNano` stamps
   * the alerts (the decision time). Throws PalisadeError POLICY_EVAL_FAILED; alerts of chunks before a failing one are
   * lost with the call, so callers treat the whole call as failed.
   */
  evaluate(events: readonly palisade.v1.IEnrichedEvent[], nowUnixNano: number): palisade.v1.IAlert[] {
    const selected: { source: palisade.v1.IEnrichedEvent; rego: RegoEvent }[] = [];
    for (const source of events) {
      const rego = toRegoEvent(source);
      if (rego && this.#kinds.has(rego.kind)) selected.push({ source, rego });
    }
    this.#eventsSkipped += events.length - selected.length;

    // Chunks of positions in `selected`: by kind, each kind's events in order; else the batch as it came.
    const chunks: { entrypoint: number; at: number[] }[] = [];
    const chunk = (entrypoint: number, at: number[]): void => {
      for (let start = 0; start < at.length; start += this.#batchSize) {
        chunks.push({ entrypoint, at: at.slice(start, start + this.#batchSize) });
      }
    };
    if (this.#kindEntrypoints.size > 0) {
      const byKind = new Map<RegoEventKind, number[]>();
      selected.forEach(({ rego }, at) => {
        const group = byKind.get(rego.kind);
        if (group) group.push(at);
        else byKind.set(rego.kind, [at]);
      });
      // #kinds only holds kinds some rule reads, and every such kind has its entrypoint (create checked).
      for (const [kind, at] of byKind) chunk(this.#kindEntrypoints.get(kind)!, at);
    } else {
      chunk(this.#mainEntrypoint, selected.map((_, at) => at));
    }

    const placed: PlacedHit[] = [];
    for (const { entrypoint, at } of chunks) {
      let raw: unknown;
      try {
        raw = this.#policy.evaluate({ events: at.map((i) => selected[i]!.rego) }, entrypoint);
      } catch (err) {
        throw new PalisadeError('POLICY_EVAL_FAILED', `policy evaluation failed: ${describe(err)}`, { cause: err });
      }
      this.#evaluations++;
      this.#eventsEvaluated += at.length;
      // parseHits checked the index against the chunk's length.
      for (const hit of parseHits(raw, at.length)) placed.push({ hit, at: at[hit.index]! });
    }
    // Ordered by event, then rule id (then message: one rule may say two things about one event), whatever the calls.
    placed.sort((a, b) => a.at - b.at || compareStrings(a.hit.ruleId, b.hit.ruleId) || compareStrings(a.hit.message, b.hit.message));

    const alerts: palisade.v1.IAlert[] = [];
    for (const { hit, at } of placed) {
      if (hit.exceptedBy !== undefined) {
        this.#onExcepted?.(hit.ruleId, hit.exceptedBy);
        continue;
      }
      const { source, rego } = selected[at]!;
      alerts.push(this.#alert(hit, source, rego, nowUnixNano));
    }
    return alerts;
  }

  #alert(hit: RuleHit, source: palisade.v1.IEnrichedEvent, rego: RegoEvent, nowUnixNano: number): palisade.v1.IAlert {
    this.#alertsByRule.set(hit.ruleId, (this.#alertsByRule.get(hit.ruleId) ?? 0) + 1);
    // A rule id without metadata means policy.wasm and metadata.json come from different builds. The alert still goes
    // out, so nothing is lost, but with no severity and no actions, so the responder does nothing automatic with it.
    // (Its event kinds are unknown too: it only sees the kinds other rules read.)
    const rule = this.#rules.get(hit.ruleId);
    return pb.Alert.create({
      id: `${hit.ruleId}:${rego.node}:${rego.process.pid}:${rego.time_unix_nano}`,
      ruleId: hit.ruleId,
      title: rule?.title ?? hit.ruleId,
      severity: hit.severity ? SEVERITY[hit.severity] : rule ? SEVERITY[rule.severity] : pb.Severity.SEVERITY_UNSPECIFIED,
      mitreTechnique: rule?.mitre ?? '',
      actions: rule ? [...rule.actions] : [],
      message: hit.message,
      // The rule's own dedup key; the deduper (alert-dedup.ts) replaces it with the full key it counted under.
      ...(hit.key !== '' && { dedupKey: hit.key }),
      event: source,
      timeUnixNano: nowUnixNano,
    });
  }
}
