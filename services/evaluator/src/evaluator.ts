// The evaluator stage: enriched events in, alerts out. The policy engine (Rego compiled to wasm) sees whole batches;
// events of kinds no rule reads never reach it. Repeats of an alert within the dedup window are counted, and published
// as one update at the window's end (alert-dedup.ts).
import { AlertDeduper, type DedupOptions, type FlushReason } from './alert-dedup.js';
import {
  type StageResilience, errorMessage, allowedLabel, ConsumerStage, LATENCY_BUCKETS_S, LOSS_SOURCES, TOPICS, pb, type AlertSigner, type Bus,
  type Logger, type Metrics, type palisade,
} from '@palisade/common';

/** What the evaluator needs of a policy engine (policy-engine.ts in production). */
export interface AlertEngine {
  evaluate(events: palisade.v1.IEnrichedEvent[], nowUnixNano: number): palisade.v1.IAlert[];
  /** For /readyz (active-policy.ts: the bundle's revision). */
  detail?(): Record<string, unknown>;
  /** Stops what the engine runs besides evaluating (bundle polling); called by stop(). */
  close?(): Promise<void>;
}

export interface EvaluatorOptions {
  /** Retry budget and readiness bounds (stageKeys); defaults: DEFAULT_RESILIENCE. */
  resilience?: Partial<StageResilience>;
  bus: Bus;
  metrics: Metrics;
  logger: Logger;
  groupId: string;
  engine: AlertEngine;
  /** Called with every alert published (embedded mode prints them). */
  onAlert?: (alert: palisade.v1.IAlert) => void;
  /** Signs every alert (alert-signature.ts), so the responder can tell them from forged ones. Unsigned without. */
  signer?: AlertSigner;
  /** Alert dedup window and bound; default (or windowMs 0): every firing is published. */
  dedup?: DedupOptions;
}

export class Evaluator extends ConsumerStage<palisade.v1.EnrichedEventBatch> {
  private readonly m;
  private readonly dedup: AlertDeduper;
  private dedupTimer: NodeJS.Timeout | undefined;
  private dedupDue = 0;
  /** Updates that are due but not yet published (a send failed): tried again on the next tick. */
  private pendingUpdates: { alert: palisade.v1.IAlert; reason: FlushReason }[] = [];
  private flushing: Promise<void> | undefined;

  constructor(private readonly opts: EvaluatorOptions) {
    super({
      ...(opts.resilience && { resilience: opts.resilience }),
      name: 'evaluator', bus: opts.bus, metrics: opts.metrics, logger: opts.logger, groupId: opts.groupId,
      input: TOPICS.enriched, outputs: [TOPICS.alerts], schema: 'palisade.v1.EnrichedEventBatch',
      decode: (buf) => {
        const b = pb.EnrichedEventBatch.decode(buf);
        for (const e of b.events) if (!e.event) throw new Error('an enriched event has no event');
        return b;
      },
    });
    const mt = opts.metrics;
    this.m = {
      events: mt.counter('palisade_evaluator_events_total', 'Enriched events received.'),
      alerts: mt.counter('palisade_evaluator_alerts_total', 'Alerts published, by rule and severity.', ['rule_id', 'severity']),
      evalSeconds: mt.histogram('palisade_evaluator_batch_seconds', 'Policy evaluation time per consumed batch.', LATENCY_BUCKETS_S),
      latency: mt.histogram('palisade_evaluator_event_to_alert_seconds',
        'Kernel timestamp of the event to the alert being published.', LATENCY_BUCKETS_S),
      upstreamLost: mt.counter('palisade_evaluator_upstream_lost_events_total',
        'Events reported lost upstream (in-band loss records), by source.', ['source']),
      suppressed: mt.counter('palisade_evaluator_alerts_suppressed_total',
        'Firings counted into an open dedup window instead of being published, by rule.', ['rule_id']),
      updates: mt.counter('palisade_evaluator_alert_updates_total',
        'Dedup update alerts ("suppressed N") published, by why: window_end, overflow (closed early for room), shutdown.', ['reason']),
    };
    this.dedup = new AlertDeduper(opts.dedup ?? { windowMs: 0, maxKeys: 0 });
    const dedup = this.dedup;
    mt.gauge('palisade_evaluator_dedup_windows', 'Open dedup windows (distinct rule, pod and key), bounded by --alert-dedup-max-keys.', [],
      function collect() { this.set(dedup.size); });
  }

  override detail(): Record<string, unknown> {
    return { ...super.detail(), ...(this.opts.engine.detail && { policy: this.opts.engine.detail() }),
      ...(this.dedup.enabled && { dedupWindows: this.dedup.size }) };
  }

  /** Stops consuming, then publishes every open window's update (nothing counted is lost on a clean stop). */
  override async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    await super.stop();
    if (this.dedupTimer) clearTimeout(this.dedupTimer);
    this.dedupTimer = undefined;
    await this.flushing?.catch(() => undefined);
    this.pendingUpdates.push(...this.dedup.drain(Date.now()).map((alert) => ({ alert, reason: 'shutdown' as const })));
    try {
      await this.publishUpdates();
    } catch (err) {
      this.opts.logger.error('dedup updates not published at shutdown', { count: this.pendingUpdates.length, error: errorMessage(err) });
    }
    await this.opts.engine.close?.();
  }

  protected async handle(batches: palisade.v1.EnrichedEventBatch[]): Promise<void> {
    const events: palisade.v1.IEnrichedEvent[] = [];
    for (const b of batches) {
      for (const e of b.events) events.push(e);
      for (const l of b.losses) this.m.upstreamLost.inc({ source: allowedLabel(l.source, LOSS_SOURCES) }, Number(l.count));
    }
    await this.evaluate(events);
  }

  private async evaluate(events: palisade.v1.IEnrichedEvent[]): Promise<void> {
    this.m.events.inc(events.length);
    if (events.length === 0) return;
    const t0 = process.hrtime.bigint();
    const fired = this.opts.engine.evaluate(events, Date.now() * 1e6);
    this.m.evalSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    if (fired.length === 0) return;
    // A redelivered batch (at-least-once) counts into the same windows: at worst a repeat is counted twice.
    const { publish, suppressed, overflowed } = this.dedup.admit(fired, Date.now());
    if (publish.length > 0) {
      try {
        await this.send(publish);
      } catch (err) {
        // The batch comes again (retry, or the retry topic): its first firings must then be published, not counted
        // into the windows they opened now. Updates closed by this batch are already out of the windows: kept.
        this.dedup.forget(publish.filter((a) => !a.updateOf));
        this.pendingUpdates.push(...publish.filter((a) => a.updateOf)
          .map((alert) => ({ alert, reason: overflowed.has(alert) ? 'overflow' as const : 'window_end' as const })));
        this.armDedupTimer();
        throw err;
      }
    }
    for (const a of suppressed) this.m.suppressed.inc({ rule_id: a.ruleId ?? '' });
    const now = Date.now();
    for (const a of publish) {
      if (a.updateOf) { this.m.updates.inc({ reason: overflowed.has(a) ? 'overflow' : 'window_end' }); this.opts.onAlert?.(a); continue; }
      const sev = pb.Severity[a.severity ?? 0] ?? 'SEVERITY_UNSPECIFIED';
      this.m.alerts.inc({ rule_id: a.ruleId ?? '', severity: sev.replace('SEVERITY_', '').toLowerCase() });
      const t = Number(a.event?.event?.timeUnixNano ?? 0);
      if (t > 0) this.m.latency.observe(Math.max(0, now - t / 1e6) / 1000);
      this.opts.onAlert?.(a);
    }
    this.armDedupTimer();
  }

  private async send(alerts: palisade.v1.IAlert[]): Promise<void> {
    await this.producer.send(TOPICS.alerts, alerts.map((a) => {
      const value = pb.Alert.encode(a).finish();
      return {
        key: a.event?.pod?.uid || `${a.event?.node ?? ''}/cgroup/${a.event?.event?.process?.cgroupId ?? 0}`,
        value,
        headers: { 'palisade-schema': 'palisade.v1.Alert', 'palisade-rule': a.ruleId ?? '', ...this.opts.signer?.sign(value) },
      };
    }));
  }

  // One timer, set for the end of the oldest open window (the first to end), or in a second when updates wait for a
  // failed send to be tried again; re-armed after each flush, never while one runs (it would publish them twice).
  private armDedupTimer(): void {
    if (this.flushing !== undefined || this.state === 'draining' || this.state === 'stopped') return;
    const due = Math.min(this.dedup.nextDeadline() ?? Infinity, this.pendingUpdates.length > 0 ? Date.now() + 1000 : Infinity);
    if (due === Infinity) return;
    if (this.dedupTimer !== undefined) {
      if (this.dedupDue <= due) return;
      clearTimeout(this.dedupTimer);
    }
    this.dedupDue = due;
    this.dedupTimer = setTimeout(() => {
      this.dedupTimer = undefined;
      this.flushing = this.flushDue().finally(() => { this.flushing = undefined; this.armDedupTimer(); });
    }, Math.max(0, due - Date.now()));
    this.dedupTimer.unref();
  }

  private async flushDue(): Promise<void> {
    this.pendingUpdates.push(...this.dedup.expire(Date.now()).map((alert) => ({ alert, reason: 'window_end' as const })));
    try {
      await this.publishUpdates();
    } catch (err) {
      // Kept, and tried again in a second: an update is never dropped for a failed send.
      this.opts.logger.warn('dedup updates not published yet; retrying', { count: this.pendingUpdates.length, error: errorMessage(err) });
    }
  }

  private async publishUpdates(): Promise<void> {
    if (this.pendingUpdates.length === 0) return;
    const batch = this.pendingUpdates.slice();
    await this.send(batch.map((u) => u.alert));
    this.pendingUpdates = this.pendingUpdates.slice(batch.length);
    for (const u of batch) {
      this.m.updates.inc({ reason: u.reason });
      this.opts.onAlert?.(u.alert);
    }
  }
}
