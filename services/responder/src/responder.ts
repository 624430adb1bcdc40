// The responder stage: alerts in, actions out, behind safety rails. Every decision (done, dry-run, refused, failed)
// is published to the actions topic, so the audit trail is complete whatever happened.
//
// Trust first: an alert is acted on only when it carries a valid signature by a trusted key (alert-signature.ts:
// the evaluator signs), and when the pod it names runs on the node that reported the event (the alert's own node
// fields, then the pod's spec.nodeName from the Kubernetes API). An untrusted alert is no decision at all: it is
// dead-lettered with the reason and counted (palisade_responder_untrusted_alerts_total), and nothing is done or
// recorded on the actions topic for it.
//
// A dedup update (update_of set: "suppressed N" repeats of an alert already published, alert-dedup.ts in the
// evaluator) is no new detection: it is counted (palisade_responder_alert_updates_total) and never decided, so no
// action and no ActionRecord. The first alert of its window was the one decided on.
//
// Rails, in order: the alert must name a pod; protected namespaces are never touched; one pod is acted on once per
// dedupe window; at most maxActionsPerMinute writes; dry-run (the default) reads but never writes.
import {
  type StageResilience, ConsumerStage, TOPICS, pb, type AlertVerifier, type Bus, type IncomingMessage, type Logger, type Metrics,
  type UntrustedReason, type palisade,
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
  /** The evaluator's public key(s): alerts without a valid signature by one of them are never acted on. */
  verifier: AlertVerifier;
  onAction?: (record: palisade.v1.IActionRecord) => void;
}

/** Why an alert was refused as untrusted: the metric's label values, a fixed set. */
export type RefusedReason = UntrustedReason | 'node_mismatch';

/** One consumed alert record: verified and decoded, or refused before its bytes were decoded. */
export type AlertRecord = { msg: IncomingMessage } & (
  | { trusted: true; alert: palisade.v1.Alert }
  | { trusted: false; reason: RefusedReason; detail: string });

const Outcome = pb.ActionOutcome;
const OUTCOMES: Record<QuarantineOutcome, palisade.v1.ActionOutcome> = {
  done: Outcome.ACTION_OUTCOME_DONE,
  dry_run: Outcome.ACTION_OUTCOME_DRY_RUN,
  refused: Outcome.ACTION_OUTCOME_REFUSED,
  failed: Outcome.ACTION_OUTCOME_FAILED,
};

export class Responder extends ConsumerStage<AlertRecord> {
  private readonly actedOn = new Map<string, number>(); // pod uid -> time of the last done/dry-run action
  private writes: number[] = [];
  private readonly m;

  constructor(private readonly opts: ResponderOptions) {
    super({
      ...(opts.resilience && { resilience: opts.resilience }),
      name: 'responder', bus: opts.bus, metrics: opts.metrics, logger: opts.logger, groupId: opts.groupId,
      input: TOPICS.alerts, outputs: [TOPICS.actions], schema: 'palisade.v1.Alert',
      decode: (buf, msg): AlertRecord => {
        // Checked before the bytes are parsed: what is not signed is not even decoded.
        const verdict = opts.verifier.verify(buf, msg.headers);
        if (!verdict.ok) return { msg, trusted: false, reason: verdict.reason, detail: verdict.detail };
        const a = pb.Alert.decode(buf);
        if (!a.id || !a.ruleId) throw new Error('alert has no id or rule_id');
        return { msg, trusted: true, alert: a };
      },
    });
    this.m = {
      actions: opts.metrics.counter('palisade_responder_actions_total', 'Action decisions, by kind and outcome.',
        ['kind', 'outcome']),
      untrusted: opts.metrics.counter('palisade_responder_untrusted_alerts_total',
        'Alerts refused without a decision (dead-lettered), by why: unsigned, unknown_key, bad_signature, node_mismatch.',
        ['reason']),
      updates: opts.metrics.counter('palisade_responder_alert_updates_total',
        'Dedup update alerts ("suppressed N" of an alert already decided on) received and not acted on.'),
    };
  }

  protected async handle(records: AlertRecord[]): Promise<void> {
    for (const r of records) {
      if (r.trusted) await this.respond(r.alert, r.msg);
      else await this.refuse(r.msg, r.reason, r.detail);
    }
  }

  /** Dead-letters an alert that is not to be trusted; DeadLetterSender never fails the batch. */
  private async refuse(msg: IncomingMessage, reason: RefusedReason, detail: string): Promise<void> {
    this.m.untrusted.inc({ reason });
    this.opts.logger.warn('untrusted alert refused', { reason, detail, partition: msg.partition, offset: msg.offset });
    await this.producer.deadLetters.send([{
      cause: 'invalid', sourceTopic: msg.topic, partition: msg.partition, offset: msg.offset, key: msg.key, value: msg.value,
      reason: `untrusted alert (${reason}): ${detail}; not acted on`,
    }]);
  }

  private async respond(alert: palisade.v1.Alert, msg: IncomingMessage): Promise<void> {
    if (alert.updateOf !== '') {
      this.m.updates.inc();
      this.opts.logger.debug('dedup update: not a new detection, not acted on', { alertId: alert.id, updateOf: alert.updateOf,
        suppressed: Number(alert.suppressed) });
      return;
    }
    const wants = alert.actions.filter((a) => a === 'quarantine' || a === 'deny_egress');
    if (wants.length === 0) return; // alert-only rule: nothing to decide
    const pod = alert.event?.pod;
    const record: palisade.v1.IActionRecord = {
      id: `${alert.id}/quarantine`, alertId: alert.id, ruleId: alert.ruleId,
      kind: pb.ActionKind.ACTION_KIND_QUARANTINE, target: pod ?? null, steps: [], attempts: 0,
    };
    const decided = await this.decide(alert, pod);
    if (decided.nodeMismatch !== undefined) {
      await this.refuse(msg, 'node_mismatch', decided.nodeMismatch);
      return;
    }
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
    // The node whose collector saw the event speaks only for the pods scheduled on it (the enricher refuses the
    // others); an alert that says otherwise was not made by this pipeline from a node's own report.
    const node = alert.event.node ?? '';
    if (node === '' || (pod.node ? pod.node !== node : false)) {
      const detail = node === '' ? 'the alert names no reporting node'
        : `pod ${pod.namespace}/${pod.name} is on node ${JSON.stringify(pod.node)} in the alert, but node ${JSON.stringify(node)} reported it`;
      return { ...refuse(detail), nodeMismatch: detail };
    }
    if (this.opts.protectedNamespaces.includes(pod.namespace)) {
      return refuse(`namespace ${pod.namespace} is protected`);
    }
    const now = Date.now();
    const last = this.actedOn.get(pod.uid);
    if (last !== undefined && now - last < this.opts.dedupeWindowMs) {
      return refuse(`duplicate: pod ${pod.namespace}/${pod.name} was acted on ${now - last} ms ago`);
    }
    const target: PodTarget = { namespace: pod.namespace, name: pod.name, uid: pod.uid, node };
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
