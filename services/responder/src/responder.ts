// The responder stage: alerts in, actions out, behind safety rails. Every decision (done, dry-run, refused, failed)
// is published to the actions topic, so the audit trail is complete whatever happened.
//
// Rails, in order: the alert must name a pod; protected namespaces are never touched; one pod is acted on once per
// dedupe window; at most maxActionsPerMinute writes; dry-run (the default) reads but never writes.
import {
  type StageResilience, ConsumerStage, TOPICS, pb, type Bus, type Logger, type Metrics, type palisade,
} from '@palisade/common';
import type { QuarantineOutcome, QuarantineResult, QuarantineTarget } from './quarantine.js';

export type { QuarantineOutcome, QuarantineResult };
export type PodTarget = QuarantineTarget;

/** Carries out a quarantine against the Kubernetes API (quarantine.ts), or says what it would do. */
export type Quarantiner = (pod: PodTarget, dryRun: boolean) => Promise<QuarantineResult>;

export interface ResponderOptions {
  /** Retry budget and readiness bounds (stageKeys); defaults: DEFAULT_RESILIENCE. */
  resilience?: Partial<StageResilience>;
  bus: Bus;
  metrics: Metrics;
  logger: Logger;
  groupId: string;
  dryRun: boolean;
  protectedNamespaces: readonly string[];
  /** Undefined when no Kubernetes API is configured. */
  quarantine: Quarantiner | undefined;
  /** Steps shown in a dry-run record when there is no API to ask. */
  describe: (pod: PodTarget) => string[];
  dedupeWindowMs: number;
  maxActionsPerMinute: number;
  onAction?: (record: palisade.v1.IActionRecord) => void;
}

const Outcome = pb.ActionOutcome;
const OUTCOMES: Record<QuarantineOutcome, palisade.v1.ActionOutcome> = {
  done: Outcome.ACTION_OUTCOME_DONE,
  dry_run: Outcome.ACTION_OUTCOME_DRY_RUN,
  refused: Outcome.ACTION_OUTCOME_REFUSED,
  failed: Outcome.ACTION_OUTCOME_FAILED,
};

export class Responder extends ConsumerStage<palisade.v1.Alert> {
  private readonly actedOn = new Map<string, number>(); // pod uid -> time of the last done/dry-run action
  private writes: number[] = [];
  private readonly m;

  constructor(private readonly opts: ResponderOptions) {
    super({
      ...(opts.resilience && { resilience: opts.resilience }),
      name: 'responder', bus: opts.bus, metrics: opts.metrics, logger: opts.logger, groupId: opts.groupId,
      input: TOPICS.alerts, outputs: [TOPICS.actions], schema: 'palisade.v1.Alert',
      decode: (buf) => {
        const a = pb.Alert.decode(buf);
        if (!a.id || !a.ruleId) throw new Error('alert has no id or rule_id');
        return a;
      },
    });
    this.m = {
      actions: opts.metrics.counter('palisade_responder_actions_total', 'Action decisions, by kind and outcome.',
        ['kind', 'outcome']),
    };
  }

  protected async handle(alerts: palisade.v1.Alert[]): Promise<void> {
    for (const a of alerts) await this.respond(a);
  }

  private async respond(alert: palisade.v1.Alert): Promise<void> {
    const wants = alert.actions.filter((a) => a === 'quarantine' || a === 'deny_egress');
    if (wants.length === 0) return; // alert-only rule: nothing to decide
    const pod = alert.event?.pod;
    const record: palisade.v1.IActionRecord = {
      id: `${alert.id}/quarantine`, alertId: alert.id, ruleId: alert.ruleId,
      kind: pb.ActionKind.ACTION_KIND_QUARANTINE, target: pod ?? null, steps: [], attempts: 0,
    };
    const decided = await this.decide(alert, pod);
    record.outcome = OUTCOMES[decided.outcome];
    record.reason = decided.reason;
    record.steps = decided.steps;
    record.attempts = decided.attempts;
    record.timeUnixNano = Date.now() * 1e6;
    this.m.actions.inc({ kind: 'quarantine', outcome: decided.outcome });
    const level = decided.outcome === 'failed' ? 'error' : 'info';
    this.opts.logger[level]('action decided', { alertId: alert.id, rule: alert.ruleId, outcome: decided.outcome, reason: decided.reason,
      namespace: pod?.namespace, pod: pod?.name });
    await this.producer.send(TOPICS.actions, [{
      key: pod?.uid || alert.id, value: pb.ActionRecord.encode(record).finish(),
      headers: { 'palisade-schema': 'palisade.v1.ActionRecord' },
    }]);
    this.opts.onAction?.(record);
  }

  private async decide(alert: palisade.v1.Alert, pod: palisade.v1.IPod | null | undefined): Promise<QuarantineResult> {
    const refuse = (reason: string): QuarantineResult => ({ outcome: 'refused', reason, steps: [], attempts: 0 });
    if (alert.event?.status !== pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED || !pod?.name || !pod.namespace || !pod.uid) {
      return refuse('the alert names no known pod (event not enriched)');
    }
    if (this.opts.protectedNamespaces.includes(pod.namespace)) {
      return refuse(`namespace ${pod.namespace} is protected`);
    }
    const now = Date.now();
    const last = this.actedOn.get(pod.uid);
    if (last !== undefined && now - last < this.opts.dedupeWindowMs) {
      return refuse(`duplicate: pod ${pod.namespace}/${pod.name} was acted on ${now - last} ms ago`);
    }
    const target: PodTarget = { namespace: pod.namespace, name: pod.name, uid: pod.uid };
    if (!this.opts.dryRun) {
      this.writes = this.writes.filter((t) => now - t < 60_000);
      if (this.writes.length >= this.opts.maxActionsPerMinute) {
        return refuse(`rate limit: ${this.opts.maxActionsPerMinute} actions per minute reached`);
      }
    }
    let result: QuarantineResult;
    if (!this.opts.quarantine) {
      result = this.opts.dryRun
        ? { outcome: 'dry_run', reason: 'dry run (no Kubernetes API configured)', steps: this.opts.describe(target), attempts: 0 }
        : refuse('no Kubernetes API configured');
    } else {
      result = await this.opts.quarantine(target, this.opts.dryRun);
    }
    if (result.outcome === 'done' || result.outcome === 'dry_run') this.actedOn.set(pod.uid, now);
    if (result.outcome === 'done') this.writes.push(now);
    if (this.actedOn.size > 10_000) {
      for (const [k, v] of this.actedOn) if (now - v >= this.opts.dedupeWindowMs) this.actedOn.delete(k);
    }
    return result;
  }
}
