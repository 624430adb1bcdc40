// The evaluator stage: enriched events in, alerts out. The policy engine (Rego compiled to wasm) sees whole batches;
// events of kinds no rule reads never reach it.
import {
  type StageResilience, allowedLabel, ConsumerStage, LATENCY_BUCKETS_S, LOSS_SOURCES, TOPICS, pb, type AlertSigner, type Bus,
  type Logger, type Metrics, type palisade,
} from '@palisade/common';

/** What the evaluator needs of a policy engine (policy-engine.ts in production). */
export interface AlertEngine {
  evaluate(events: palisade.v1.IEnrichedEvent[], nowUnixNano: number): palisade.v1.IAlert[];
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
}

export class Evaluator extends ConsumerStage<palisade.v1.EnrichedEventBatch> {
  private readonly m;

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
    };
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
    const alerts = this.opts.engine.evaluate(events, Date.now() * 1e6);
    this.m.evalSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    if (alerts.length === 0) return;
    await this.producer.send(TOPICS.alerts, alerts.map((a) => {
      const value = pb.Alert.encode(a).finish();
      return {
        key: a.event?.pod?.uid || `${a.event?.node ?? ''}/cgroup/${a.event?.event?.process?.cgroupId ?? 0}`,
        value,
        headers: { 'palisade-schema': 'palisade.v1.Alert', 'palisade-rule': a.ruleId ?? '', ...this.opts.signer?.sign(value) },
      };
    }));
    const now = Date.now();
    for (const a of alerts) {
      const sev = pb.Severity[a.severity ?? 0] ?? 'SEVERITY_UNSPECIFIED';
      this.m.alerts.inc({ rule_id: a.ruleId ?? '', severity: sev.replace('SEVERITY_', '').toLowerCase() });
      const t = Number(a.event?.event?.timeUnixNano ?? 0);
      if (t > 0) this.m.latency.observe(Math.max(0, now - t / 1e6) / 1000);
      this.opts.onAlert?.(a);
    }
  }
}
