// Alerts that do not flood: the same rule firing for the same pod and key within a window is one alert and a count.
//
// - The first firing of a (rule, pod, key) goes out at once, as a detection, and opens a window of windowMs.
// - Repeats inside the window are counted, not published.
// - When the window ends, if anything was counted, one update alert goes out: update_of = the first alert's id,
//   suppressed = the count, the last counted event, first/last seen. Nothing is dropped silently.
// - After the window a firing is a new detection with a new window (fixed windows, not sliding: a steady stream gives
//   one detection and one update per window, never a window that never ends).
// - At most maxKeys windows are open. A new key beyond that closes the oldest window early (its update published
//   with the count so far), never drops it. drain() closes every window: the evaluator's stop() publishes them.
//
// The key (dedup_key on the alert): "<rule_id>|<pod>|<key>", where <pod> is the pod uid, or "<node>/cgroup/<id>" for
// an event without a pod (a host process, an unenriched container), and <key> is the rule's own `key` field when
// its alert object has one, else defaultKey(): the process' binary and what the event is about (the file, the
// destination, the exec'd program; see below). Never the message: messages carry pids.
//
// Windows run on the evaluator's clock (when it decides), not the events' kernel time: a replayed backlog is
// deduplicated as it is processed. A crash (kill -9) loses the counts of open windows; their first alerts are out.
import { pb, type palisade } from '@palisade/common';

export interface DedupOptions {
  /** 0: every firing is published (dedup off). */
  windowMs: number;
  /** Open windows at most; 0: dedup off. */
  maxKeys: number;
}

/** Why an update was published: the label of palisade_evaluator_alert_updates_total. */
export type FlushReason = 'window_end' | 'overflow' | 'shutdown';

interface Window {
  key: string;
  first: palisade.v1.IAlert;
  last: palisade.v1.IAlert;
  firstSeenMs: number;
  lastSeenMs: number;
  endMs: number;
  suppressed: number;
}

/** Where an event happened: its pod's uid, else node and cgroup (the Kafka key of its records). */
export function podIdentity(e: palisade.v1.IEnrichedEvent | null | undefined): string {
  return e?.pod?.uid || `${e?.node ?? ''}/cgroup/${e?.event?.process?.cgroupId ?? 0}`;
}

/**
 * The key of a firing when the rule gives none: "<binary or comm>|<what>", what being, by kind: exec the program
 * run; file_open the path; file_op syscall and path; net_connect destination address and port; net_socket syscall,
 * address and port; dns_query the name; anything else the kind. So cat reading /etc/shadow 1000 times is one alert,
 * and python reading it too is another.
 */
export function defaultKey(e: palisade.v1.IEnrichedEvent | null | undefined): string {
  const ev = e?.event;
  const p = ev?.process;
  const who = p?.binary || p?.comm || '';
  let what: string;
  if (ev?.exec) what = ev.exec.filename ?? '';
  else if (ev?.fileOpen) what = ev.fileOpen.path ?? '';
  else if (ev?.fileOp) what = `${ev.fileOp.syscall ?? ''} ${ev.fileOp.path ?? ''}`;
  else if (ev?.netConnect) what = `${ev.netConnect.daddr ?? ''}:${ev.netConnect.dport ?? 0}`;
  else if (ev?.netSocket) what = `${ev.netSocket.syscall ?? ''} ${ev.netSocket.addr ?? ''}:${ev.netSocket.port ?? 0}`;
  else if (ev?.dnsQuery) what = ev.dnsQuery.name ?? '';
  else what = pb.EventKind[ev?.kind ?? 0] ?? String(ev?.kind ?? 0);
  return `${who}|${what}`;
}

/** The full dedup key of an alert; a rule's own key (the engine puts it in dedupKey) replaces the default. */
export function dedupKeyOf(alert: palisade.v1.IAlert): string {
  return `${alert.ruleId ?? ''}|${podIdentity(alert.event)}|${alert.dedupKey || defaultKey(alert.event)}`;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

export class AlertDeduper {
  readonly #windows = new Map<string, Window>();
  // Windows in opening order; every window is windowMs long, so the oldest open one always ends first. Closed ones
  // are skipped lazily. (Not the Map's own order: V8 keeps deleted Map entries as holes until it rehashes, so
  // asking a Map for its first entry after many deletes at the front walks all of them.)
  #order: Window[] = [];
  #head = 0;

  constructor(private readonly opts: DedupOptions) {}

  get enabled(): boolean { return this.opts.windowMs > 0 && this.opts.maxKeys > 0; }
  /** Open windows. */
  get size(): number { return this.#windows.size; }

  /**
   * Runs one batch's alerts through the windows. Returns what to publish now, in order: updates of windows closed
   * early to make room (also in `overflowed`) or found ended, then each first firing. `suppressed` lists the alerts
   * only counted.
   */
  admit(alerts: readonly palisade.v1.IAlert[], nowMs: number): {
    publish: palisade.v1.IAlert[]; suppressed: palisade.v1.IAlert[]; overflowed: Set<palisade.v1.IAlert>;
  } {
    const overflowed = new Set<palisade.v1.IAlert>();
    if (!this.enabled) return { publish: [...alerts], suppressed: [], overflowed };
    const publish: palisade.v1.IAlert[] = [];
    const suppressed: palisade.v1.IAlert[] = [];
    for (const a of alerts) {
      const key = dedupKeyOf(a);
      const w = this.#windows.get(key);
      if (w !== undefined && nowMs < w.endMs) {
        w.suppressed++;
        w.last = a;
        w.lastSeenMs = nowMs;
        suppressed.push(a);
        continue;
      }
      if (w !== undefined) {
        // Its end passed and expire() has not run yet: close it first, so its update precedes the new detection.
        this.#windows.delete(key);
        const u = this.#update(w, nowMs);
        if (u) publish.push(u);
      }
      while (this.#windows.size >= this.opts.maxKeys) {
        const oldest = this.#oldest();
        if (oldest === undefined) break;
        this.#windows.delete(oldest.key);
        const u = this.#update(oldest, nowMs);
        if (u) { publish.push(u); overflowed.add(u); }
      }
      a.dedupKey = key;
      a.firstSeenUnixNano = nowMs * 1e6;
      a.lastSeenUnixNano = nowMs * 1e6;
      a.dedupWindowMs = this.opts.windowMs;
      const opened: Window = { key, first: a, last: a, firstSeenMs: nowMs, lastSeenMs: nowMs, endMs: nowMs + this.opts.windowMs, suppressed: 0 };
      this.#windows.set(key, opened);
      this.#order.push(opened);
      publish.push(a);
    }
    return { publish, suppressed, overflowed };
  }

  /**
   * Closes, without an update, the windows these first firings opened: their publish failed, and the batch will be
   * delivered again and open them anew (what they counted is counted again then).
   */
  forget(firsts: readonly palisade.v1.IAlert[]): void {
    for (const a of firsts) {
      const w = this.#windows.get(a.dedupKey ?? '');
      if (w?.first === a) this.#windows.delete(w.key);
    }
  }

  /** When the next window ends (ms), or undefined when none is open. */
  nextDeadline(): number | undefined {
    return this.#oldest()?.endMs;
  }

  /** Closes the windows that ended by nowMs; returns the updates of those that counted something. */
  expire(nowMs: number): palisade.v1.IAlert[] {
    const out: palisade.v1.IAlert[] = [];
    for (let w = this.#oldest(); w !== undefined && w.endMs <= nowMs; w = this.#oldest()) {
      this.#windows.delete(w.key);
      const u = this.#update(w, nowMs);
      if (u) out.push(u);
    }
    return out;
  }

  /** The oldest open window; drops closed ones from the front of the order (and compacts it now and then). */
  #oldest(): Window | undefined {
    while (this.#head < this.#order.length) {
      const w = this.#order[this.#head]!;
      if (this.#windows.get(w.key) === w) break;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
    return this.#order[this.#head];
  }

  /** Closes every window (shutdown); returns the updates of those that counted something. */
  drain(nowMs: number): palisade.v1.IAlert[] {
    const out: palisade.v1.IAlert[] = [];
    for (const w of this.#windows.values()) {
      const u = this.#update(w, nowMs);
      if (u) out.push(u);
    }
    this.#windows.clear();
    this.#order = [];
    this.#head = 0;
    return out;
  }

  #update(w: Window, nowMs: number): palisade.v1.IAlert | undefined {
    if (w.suppressed === 0) return undefined;
    const f = w.first;
    return pb.Alert.create({
      id: `${f.id ?? ''}/suppressed`,
      ruleId: f.ruleId ?? '', title: f.title ?? '', severity: f.severity ?? 0, mitreTechnique: f.mitreTechnique ?? '',
      actions: [...(f.actions ?? [])],
      message: `suppressed ${w.suppressed}: ${f.ruleId ?? ''} fired ${w.suppressed} more time${w.suppressed === 1 ? '' : 's'} ` +
        `within ${seconds(this.opts.windowMs)} after alert ${f.id ?? ''}; the last: ${w.last.message ?? ''}`,
      event: w.last.event ?? null,
      timeUnixNano: nowMs * 1e6,
      dedupKey: w.key, updateOf: f.id ?? '', suppressed: w.suppressed,
      firstSeenUnixNano: w.firstSeenMs * 1e6, lastSeenUnixNano: w.lastSeenMs * 1e6, dedupWindowMs: this.opts.windowMs,
    });
  }
}
