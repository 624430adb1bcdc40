// The enricher stage: raw kernel events in, events with pod metadata out. The kernel gives a cgroup; its path names
// the pod uid and container id (kubelet's naming); the pod directory (a watch on the Kubernetes API) gives the rest.
//
// An event from a container whose pod is not known yet (the watch lags the kubelet by a few hundred ms when a pod
// starts) is held up to holdMs, with every later event of its batch, so order is kept and the batch is committed
// only once everything in it is published. After that it goes on marked UNENRICHED (counted), never dropped. A
// container that timed out once passes straight through for negativeTtlMs, so one unknown container cannot stall a
// node's stream on every batch.
import {
  type StageResilience, allowedLabel, BoundedLabel, ConsumerStage, LOSS_SOURCES, TOPICS, pb, type Bus, type Logger, type Metrics, type SplitPart,
  type palisade,
} from '@palisade/common';

export interface ContainerIdentity {
  podUid?: string;
  containerId?: string;
  runtime?: string;
}

/** What the enricher needs of a pod cache: lookups, and a signal when pods change. */
export interface PodDirectory {
  lookup(containerId: string | undefined, podUid: string | undefined): palisade.v1.IPod | undefined;
  /** Calls listener whenever a pod is added or changes; returns a function that unsubscribes. */
  subscribe(listener: () => void): () => void;
}

export interface EnricherOptions {
  /** Retry budget and readiness bounds (stageKeys); defaults: DEFAULT_RESILIENCE. */
  resilience?: Partial<StageResilience>;
  node: string;
  bus: Bus;
  metrics: Metrics;
  logger: Logger;
  groupId: string;
  /** Undefined when no Kubernetes API is configured: container identity then comes from cgroup names alone. */
  pods: PodDirectory | undefined;
  identify(cgroupPath: string, cgroupName: string): ContainerIdentity | null;
  holdMs: number;
  negativeTtlMs: number;
  /** Runs first in start(): e.g. the pod cache's first list, so the stage is ready only once it can enrich. */
  beforeStart?: () => Promise<void>;
}

const Status = pb.EnrichmentStatus;

export class Enricher extends ConsumerStage<palisade.v1.RawEventBatch> {
  private readonly negative = new Map<string, number>(); // container id -> until (ms)
  private readonly m;

  constructor(private readonly opts: EnricherOptions) {
    super({
      ...(opts.resilience && { resilience: opts.resilience }),
      name: 'enricher', bus: opts.bus, metrics: opts.metrics, logger: opts.logger, groupId: opts.groupId,
      input: TOPICS.raw, outputs: [TOPICS.enriched], schema: 'palisade.v1.RawEventBatch',
      decode: (buf) => {
        const b = pb.RawEventBatch.decode(buf);
        if (!b.node) throw new Error('node is empty');
        return b;
      },
    });
    const mt = opts.metrics;
    this.m = {
      events: mt.counter('palisade_enricher_events_total', 'Events enriched, by outcome.', ['status']),
      unenriched: mt.counter('palisade_enricher_unenriched_total',
        'Container events passed on without pod metadata, by why.', ['reason']),
      held: mt.counter('palisade_enricher_held_batches_total', 'Batches held waiting for an unknown pod.'),
      holdSeconds: mt.histogram('palisade_enricher_hold_seconds', 'How long a held batch waited.',
        [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5]),
      upstreamLost: mt.counter('palisade_enricher_upstream_lost_events_total',
        'Events the collector reported lost (in-band loss records), by source.', ['source']),
      seqGaps: mt.counter('palisade_enricher_batch_seq_gaps_total', 'Raw batches missing from a collector\'s sequence.', ['node']),
      nodeMismatch: mt.counter('palisade_enricher_node_mismatch_total',
        'Events refused because their pod is scheduled on another node than the one that reported them (dead-lettered).'),
    };
  }

  private readonly lastSeq = new Map<string, number>();
  /** Node names come from the wire: at most 5,000 distinct ones become label values (a forged node is "other"). */
  private readonly nodeLabel = new BoundedLabel(5_000);

  protected override async beforeStart(): Promise<void> {
    await this.opts.beforeStart?.();
  }

  protected async handle(batches: palisade.v1.RawEventBatch[]): Promise<void> {
    for (const b of batches) await this.enrichBatch(b);
  }

  /** Enriches one raw batch and publishes it; resolves once everything in it is published. */
  async enrichBatch(batch: palisade.v1.RawEventBatch): Promise<void> {
    const node = batch.node;
    this.checkSeq(node, batch.instanceId ?? '', Number(batch.seq));
    const all: palisade.v1.IEnrichedEvent[] = batch.events.map((event) => this.enrichOne(node, event));
    const waiting = all.filter((e) => e.status === Status.ENRICHMENT_STATUS_UNSPECIFIED);
    if (waiting.length > 0) await this.hold(all);
    // A node speaks only for the pods scheduled on it: an event naming another node's pod is forged or misrouted,
    // and must not reach the rules (or the responder) as that pod's.
    const refused = all.filter((e) => e.status === Status.ENRICHMENT_STATUS_ENRICHED && e.pod?.node && e.pod.node !== node);
    if (refused.length > 0) await this.refuse(node, refused);
    const gone = new Set(refused);
    const out = gone.size > 0 ? all.filter((e) => !gone.has(e)) : all;
    const parts: SplitPart<palisade.v1.IEnrichedEvent>[] = [];
    const headers = { 'palisade-schema': 'palisade.v1.EnrichedEventBatch' };
    // One record per key, in event order: a pod's events stay in order on one partition. The pod is embedded in every
    // event, so a burst from one pod can be larger than a record may be; the producer then splits it into several
    // records of that key, still in order.
    const byKey = new Map<string, palisade.v1.IEnrichedEvent[]>();
    for (const e of out) {
      const key = keyOf(node, e);
      let list = byKey.get(key);
      if (!list) { list = []; byKey.set(key, list); }
      list.push(e);
      this.m.events.inc({ status: statusName(e.status ?? 0) });
    }
    for (const [key, events] of byKey) {
      parts.push({
        key, headers, items: events,
        encode: (items) => pb.EnrichedEventBatch.encode({ events: items, node }).finish(),
        encodeItem: (e) => pb.EnrichedEvent.encode(e).finish(),
      });
    }
    if (batch.losses.length > 0) {
      for (const l of batch.losses) this.m.upstreamLost.inc({ source: allowedLabel(l.source, LOSS_SOURCES) }, Number(l.count));
      // Losses travel on: every consumer of the enriched topic learns of the gap.
      parts.push({
        key: node, headers, items: [],
        encode: () => pb.EnrichedEventBatch.encode({ events: [], losses: batch.losses, node }).finish(),
        encodeItem: (e) => pb.EnrichedEvent.encode(e).finish(),
      });
    }
    if (parts.length > 0) await this.producer.sendSplit(TOPICS.enriched, parts);
  }

  /**
   * seq counts batches within one collector instance (RawEventBatch.instance_id), so a restart (seq from 1 again)
   * is no gap: what the restart hid comes as the new instance's visibility_gap LossRecord instead.
   */
  private checkSeq(node: string, instance: string, seq: number): void {
    const key = `${node}\u0000${instance}`;
    const last = this.lastSeq.get(key);
    if (last !== undefined && seq > last + 1) this.m.seqGaps.inc({ node: this.nodeLabel.of(node) }, seq - last - 1);
    if (last === undefined || seq > last) {
      // One entry per live instance: a node's older instances are forgotten (bounded by nodes, not by restarts).
      if (last === undefined) for (const k of this.lastSeq.keys()) if (k.startsWith(`${node}\u0000`)) this.lastSeq.delete(k);
      this.lastSeq.set(key, seq);
    }
  }

  /** Dead-letters events whose pod runs on another node than the one that reported them. */
  private async refuse(node: string, events: palisade.v1.IEnrichedEvent[]): Promise<void> {
    this.m.nodeMismatch.inc(events.length);
    // Bounded dead letters that can never fail the batch (DeadLetterSender counts what it could not send).
    await this.producer.deadLetters.send(events.map((e) => ({
      cause: 'invalid' as const, sourceTopic: TOPICS.raw, partition: -1, offset: '', key: node,
      value: e.event ? pb.RawEvent.encode(e.event).finish() : new Uint8Array(),
      reason: `node ${JSON.stringify(node)} reported an event of pod ${e.pod?.namespace ?? ''}/${e.pod?.name ?? ''}, ` +
        `which is scheduled on node ${JSON.stringify(e.pod?.node ?? '')}`,
    })));
  }

  /** Status UNSPECIFIED on return means: a container whose pod is not known yet (hold it). */
  private enrichOne(node: string, event: palisade.v1.IRawEvent): palisade.v1.IEnrichedEvent {
    const proc = event.process;
    const id = this.opts.identify(proc?.cgroupPath ?? '', event.exec?.cgroupName ?? '');
    if (!id) return { event, status: Status.ENRICHMENT_STATUS_HOST, node };
    const pods = this.opts.pods;
    const partial: palisade.v1.IPod = {
      uid: id.podUid ?? '', containerId: id.containerId ?? '', runtime: id.runtime ?? '', node,
    };
    if (!pods) {
      this.m.unenriched.inc({ reason: 'no_kubernetes_api' });
      return { event, status: Status.ENRICHMENT_STATUS_UNENRICHED, pod: partial, node };
    }
    const pod = pods.lookup(id.containerId, id.podUid);
    if (pod) return { event, status: Status.ENRICHMENT_STATUS_ENRICHED, pod, node };
    const until = id.containerId ? this.negative.get(id.containerId) : undefined;
    if (until !== undefined && until > Date.now()) {
      this.m.unenriched.inc({ reason: 'pod_unknown' });
      return { event, status: Status.ENRICHMENT_STATUS_UNENRICHED, pod: partial, node };
    }
    return { event, status: Status.ENRICHMENT_STATUS_UNSPECIFIED, pod: partial, node };
  }

  private async hold(out: palisade.v1.IEnrichedEvent[]): Promise<void> {
    const pods = this.opts.pods;
    if (!pods) return;
    this.m.held.inc();
    const started = Date.now();
    const deadline = started + this.opts.holdMs;
    const resolveWaiting = (): boolean => {
      let left = false;
      for (const e of out) {
        if (e.status !== Status.ENRICHMENT_STATUS_UNSPECIFIED) continue;
        const pod = pods.lookup(e.pod?.containerId || undefined, e.pod?.uid || undefined);
        if (pod) { e.pod = pod; e.status = Status.ENRICHMENT_STATUS_ENRICHED; } else left = true;
      }
      return left;
    };
    while (resolveWaiting() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.max(1, deadline - Date.now()));
        const unsubscribe = pods.subscribe(done);
        function done(): void { clearTimeout(t); unsubscribe(); resolve(); }
      });
    }
    this.m.holdSeconds.observe((Date.now() - started) / 1000);
    for (const e of out) {
      if (e.status !== Status.ENRICHMENT_STATUS_UNSPECIFIED) continue;
      e.status = Status.ENRICHMENT_STATUS_UNENRICHED;
      this.m.unenriched.inc({ reason: 'pod_unknown' });
      const cid = e.pod?.containerId;
      if (cid) this.negative.set(cid, Date.now() + this.opts.negativeTtlMs);
    }
    if (this.negative.size > 10_000) {
      const now = Date.now();
      for (const [k, v] of this.negative) if (v <= now) this.negative.delete(k);
    }
  }
}

export function keyOf(node: string, e: palisade.v1.IEnrichedEvent): string {
  if (e.pod?.uid) return e.pod.uid;
  return `${node}/cgroup/${e.event?.process?.cgroupId ?? 0}`;
}

function statusName(s: number): string {
  switch (s) {
    case Status.ENRICHMENT_STATUS_ENRICHED: return 'enriched';
    case Status.ENRICHMENT_STATUS_HOST: return 'host';
    case Status.ENRICHMENT_STATUS_UNENRICHED: return 'unenriched';
    default: return 'unspecified';
  }
}
