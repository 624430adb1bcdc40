// The policy the evaluator runs, and its replacement by a newer bundle while it runs.
//
// A swap is atomic between batches: the new bundle is fetched, checked (bundle.ts) and compiled into a complete
// PolicyEngine (wasm, data and rule metadata together) off to the side, and only then is the one reference replaced.
// evaluate() is synchronous and reads the reference once, so a batch runs wholly on the old policy or wholly on the
// new one. A bundle that fails any step is refused: the old policy keeps evaluating, the refusal is logged, counted
// (palisade_evaluator_bundle_loads_total{result}) and shown in /readyz until a good bundle replaces it.
//
// Data merged over the bundle's own (the overlay: --tuning, tests) is kept across swaps: every engine is compiled
// with the current overlay, and setOverlay() recompiles the active bundle with a new one.
import { errorMessage, type Logger, type Metrics, type palisade } from '@palisade/common';
import { BUNDLE_REJECT_REASONS, BundleError, parseBundle, type Bundle, type BundleRejectReason } from './bundle.js';
import type { BundleSource } from './bundle-source.js';
import { PolicyEngine, PolicyLoadError, type RuleMetadata } from './policy-engine.js';
import type { Tuning } from './tuning.js';
import type { RegoEventKind } from './rego-input.js';

export interface ActivePolicyOptions {
  source: BundleSource;
  /** Between the end of one fetch and the next; 0: load once, never poll. */
  pollMs: number;
  logger: Logger;
  metrics: Metrics;
  /** Merged over every bundle's data. */
  overlay?: Record<string, unknown>;
  /** Called for every alert a tuning exception silenced, whichever bundle is active. */
  onExcepted?: (ruleId: string, exception: string) => void;
  batchSize?: number;
  maxMemoryPages?: number;
}

export type PollResult = 'activated' | 'unchanged' | BundleRejectReason;

interface Active {
  bundle: Bundle;
  engine: PolicyEngine;
  etag: string | undefined;
  activatedAt: number;
}

export class ActivePolicy {
  #active: Active;
  #overlay: Record<string, unknown> | undefined;
  /** The tuning in force: every bundle compiled later gets it, so a swap never drops it. */
  #tuning: Tuning | undefined;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<PollResult> | undefined;
  #closed = false;
  #lastRefusal: { reason: BundleRejectReason; message: string; at: number } | undefined;
  // Counters of the engines swapped out, so the totals stay monotonic across swaps.
  #retired = { skipped: 0, evaluated: 0 };
  readonly #m;

  private constructor(private readonly opts: ActivePolicyOptions, first: Active) {
    this.#active = first;
    this.#overlay = opts.overlay;
    const mt = opts.metrics;
    const loads = mt.counter('palisade_evaluator_bundle_loads_total',
      'Policy bundle fetches, by result: activated, unchanged (304 or same digest), or why it was refused (the old policy stays).',
      ['result']);
    const info = mt.gauge('palisade_evaluator_bundle_info', 'The active policy bundle: 1, labelled with its revision and digest.',
      ['revision', 'digest']);
    const activated = mt.gauge('palisade_evaluator_bundle_activated_timestamp_seconds', 'When the active bundle was activated.');
    // Every result exists from the start, so a refusal shows as a rate from 0 rather than a new series.
    for (const r of ['activated', 'unchanged', ...BUNDLE_REJECT_REASONS]) loads.inc({ result: r }, 0);
    this.#m = { loads, info, activated };
    this.#m.loads.inc({ result: 'activated' });
    this.#publishInfo();
  }

  /** Loads the first bundle (a failure stops the start: there is nothing to evaluate with) and starts polling. */
  static async start(opts: ActivePolicyOptions): Promise<ActivePolicy> {
    const fetched = await opts.source.fetch();
    if (!fetched.changed) throw new BundleError('fetch_failed', `${opts.source.location}: no bundle on the first fetch`);
    const bundle = parseBundle(fetched.files);
    const engine = await ActivePolicy.#compile(bundle, opts, opts.overlay, undefined);
    const p = new ActivePolicy(opts, { bundle, engine, etag: fetched.etag, activatedAt: Date.now() });
    opts.logger.info('policy bundle activated', p.#describe());
    p.#schedule();
    return p;
  }

  static async #compile(bundle: Bundle, opts: ActivePolicyOptions, overlay: Record<string, unknown> | undefined,
    tuning: Tuning | undefined): Promise<PolicyEngine> {
    return PolicyEngine.create({
      ...(tuning && { tuning }), ...(opts.onExcepted && { onExcepted: opts.onExcepted }),
      wasm: bundle.wasm, rules: bundle.rules, data: bundle.data, where: `bundle ${bundle.revision || bundle.digest.slice(0, 12)}`,
      ...(overlay && { overlay }), ...(opts.batchSize !== undefined && { batchSize: opts.batchSize }),
      ...(opts.maxMemoryPages !== undefined && { maxMemoryPages: opts.maxMemoryPages }),
    });
  }

  /** The engine running now. Read it once per batch. */
  get engine(): PolicyEngine { return this.#active.engine; }
  get rules(): ReadonlyMap<string, RuleMetadata> { return this.#active.engine.rules; }
  get eventKinds(): ReadonlySet<RegoEventKind> { return this.#active.engine.eventKinds; }
  get revision(): string { return this.#active.bundle.revision; }
  get digest(): string { return this.#active.bundle.digest; }
  get eventsSkipped(): number { return this.#retired.skipped + this.#active.engine.eventsSkipped; }
  get eventsEvaluated(): number { return this.#retired.evaluated + this.#active.engine.eventsEvaluated; }

  evaluate(events: palisade.v1.IEnrichedEvent[], nowUnixNano: number): palisade.v1.IAlert[] {
    return this.#active.engine.evaluate(events, nowUnixNano);
  }

  /** One fetch: swaps in a new good bundle, keeps the old one otherwise. Concurrent calls share one fetch. */
  poll(): Promise<PollResult> {
    this.#polling ??= this.#pollOnce().finally(() => { this.#polling = undefined; });
    return this.#polling;
  }

  /** Recompiles the active bundle with new overlay data (kept for later bundles too). A failure keeps the old. */
  async setOverlay(overlay: Record<string, unknown> | undefined): Promise<void> {
    const engine = await ActivePolicy.#compile(this.#active.bundle, this.opts, overlay, this.#tuning);
    this.#overlay = overlay;
    this.#swap({ ...this.#active, engine });
  }

  /**
   * Puts rule tuning in force on the running engine (data only, no recompile) and on every bundle activated later.
   * Throws (the old tuning stays) when the engine refuses the data.
   */
  setTuning(tuning: Tuning): void {
    this.#active.engine.setTuning(tuning);
    this.#tuning = tuning;
  }

  get tuning(): Tuning | undefined { return this.#tuning; }

  /** For /readyz: the active bundle, and the last refusal since it was activated. */
  detail(): Record<string, unknown> {
    return {
      ...this.#describe(),
      ...(this.#lastRefusal && { lastRefused: { reason: this.#lastRefusal.reason, message: this.#lastRefusal.message.slice(0, 300),
        ageMs: Date.now() - this.#lastRefusal.at } }),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#polling?.catch(() => undefined);
  }

  #describe(): Record<string, unknown> {
    const a = this.#active;
    return {
      source: this.opts.source.location, revision: a.bundle.revision, digest: a.bundle.digest.slice(0, 16),
      ...(a.etag !== undefined && { etag: a.etag }), activatedAt: new Date(a.activatedAt).toISOString(),
      rules: a.bundle.rules.length, dispatch: a.engine.dispatch,
    };
  }

  #schedule(): void {
    if (this.#closed || this.opts.pollMs <= 0) return;
    this.#timer = setTimeout(() => {
      void this.poll().finally(() => this.#schedule());
    }, this.opts.pollMs);
    this.#timer.unref();
  }

  async #pollOnce(): Promise<PollResult> {
    const log = this.opts.logger;
    try {
      const fetched = await this.opts.source.fetch();
      if (!fetched.changed || fetched.digest === this.#active.bundle.digest) {
        this.#m.loads.inc({ result: 'unchanged' });
        return 'unchanged';
      }
      const bundle = parseBundle(fetched.files);
      const engine = await ActivePolicy.#compile(bundle, this.opts, this.#overlay, this.#tuning);
      if (this.#closed) return 'unchanged';
      const before = this.#active.bundle;
      this.#swap({ bundle, engine, etag: fetched.etag, activatedAt: Date.now() });
      this.#lastRefusal = undefined;
      this.#m.loads.inc({ result: 'activated' });
      log.info('policy bundle activated', { ...this.#describe(), previousRevision: before.revision,
        previousDigest: before.digest.slice(0, 16) });
      return 'activated';
    } catch (err) {
      const reason: BundleRejectReason = err instanceof BundleError || err instanceof PolicyLoadError ? err.reason : 'corrupt';
      this.#lastRefusal = { reason, message: errorMessage(err), at: Date.now() };
      this.#m.loads.inc({ result: reason });
      log.error('policy bundle refused; the active one stays', { reason, error: errorMessage(err), source: this.opts.source.location,
        activeRevision: this.#active.bundle.revision, activeDigest: this.#active.bundle.digest.slice(0, 16) });
      return reason;
    }
  }

  #swap(next: Active): void {
    const old = this.#active.engine;
    if (next.engine !== old) {
      this.#retired.skipped += old.eventsSkipped;
      this.#retired.evaluated += old.eventsEvaluated;
    }
    this.#active = next;
    this.#publishInfo();
  }

  #publishInfo(): void {
    this.#m.info.reset();
    this.#m.info.set({ revision: this.#active.bundle.revision, digest: this.#active.bundle.digest.slice(0, 16) }, 1);
    this.#m.activated.set(this.#active.activatedAt / 1000);
  }
}
