// What `palisade policy backtest` reports: per rule, how often the candidate rule set fires, on which workloads, and
// how that differs from the current rules over the same events. Pure: it sees the two rule sets' alerts for each
// batch of events and keeps only counts, so a backtest over hours of events holds no alert in memory.
//
// Both rule sets evaluate the same batch, and an alert's id is "<rule_id>:<node>:<pid>:<time_unix_nano>" (the rule
// and the event), so one batch's alerts are matched by id: only in the candidate's = new, only in the current's =
// gone, in both but with another message, severity, title or actions = changed.
import { pb, type palisade } from '@palisade/common';

export interface RuleInfo {
  readonly id: string;
  readonly title: string;
  readonly severity: string;
}

export interface WorkloadCount {
  /** "<namespace>/<owner kind>/<owner name>", or "node <node> (no pod)" for an event the enricher found no pod for. */
  workload: string;
  count: number;
}

export interface RuleReport {
  ruleId: string;
  title: string;
  /** The candidate's severity for the rule (the current's when the candidate dropped it). */
  severity: string;
  inCandidate: boolean;
  inCurrent: boolean;
  /** Alerts the candidate would raise. */
  candidate: number;
  /** Alerts the current rules raise over the same events. */
  current: number;
  new: number;
  gone: number;
  changed: number;
  /** The candidate's alerts by workload, most first, at most `top` of them. */
  workloads: WorkloadCount[];
  /** How many distinct workloads the candidate's alerts were on (workloads beyond the cap count as one). */
  workloadsDistinct: number;
}

/** Distinct workloads tracked per rule; beyond it they are counted under OTHER_WORKLOADS, so memory stays bounded. */
export const MAX_WORKLOADS_PER_RULE = 10_000;
export const OTHER_WORKLOADS = '(other workloads)';

export function workloadOf(event: palisade.v1.IEnrichedEvent | null | undefined): string {
  const pod = event?.pod;
  if (pod?.namespace) {
    const owner = pod.owner?.name ? `${pod.owner.kind || 'Pod'}/${pod.owner.name}` : `Pod/${pod.name ?? ''}`;
    return `${pod.namespace}/${owner}`;
  }
  return `node ${event?.node || '?'} (no pod)`;
}

function severityName(s: palisade.v1.Severity | null | undefined): string {
  return (pb.Severity[s ?? 0] ?? 'SEVERITY_UNSPECIFIED').replace('SEVERITY_', '').toLowerCase();
}

function sameAlert(a: palisade.v1.IAlert, b: palisade.v1.IAlert): boolean {
  return a.message === b.message && (a.severity ?? 0) === (b.severity ?? 0) && a.title === b.title &&
    (a.actions ?? []).join(',') === (b.actions ?? []).join(',');
}

interface RuleTally {
  candidate: number;
  current: number;
  new: number;
  gone: number;
  changed: number;
  workloads: Map<string, number>;
}

export class BacktestReportBuilder {
  readonly #candidateRules: ReadonlyMap<string, RuleInfo>;
  readonly #currentRules: ReadonlyMap<string, RuleInfo>;
  readonly #tallies = new Map<string, RuleTally>();

  constructor(candidateRules: Iterable<RuleInfo>, currentRules: Iterable<RuleInfo>) {
    this.#candidateRules = new Map([...candidateRules].map((r) => [r.id, r]));
    this.#currentRules = new Map([...currentRules].map((r) => [r.id, r]));
  }

  #tally(ruleId: string): RuleTally {
    let t = this.#tallies.get(ruleId);
    if (t === undefined) {
      t = { candidate: 0, current: 0, new: 0, gone: 0, changed: 0, workloads: new Map() };
      this.#tallies.set(ruleId, t);
    }
    return t;
  }

  /** The two rule sets' alerts over one batch of events (the same events for both). */
  add(candidate: readonly palisade.v1.IAlert[], current: readonly palisade.v1.IAlert[]): void {
    const currentById = new Map<string, palisade.v1.IAlert>();
    for (const a of current) currentById.set(a.id ?? '', a);
    const candidateIds = new Set<string>();
    for (const a of candidate) {
      const id = a.id ?? '';
      candidateIds.add(id);
      const t = this.#tally(a.ruleId ?? '');
      t.candidate++;
      const w = workloadOf(a.event);
      const key = t.workloads.has(w) || t.workloads.size < MAX_WORKLOADS_PER_RULE ? w : OTHER_WORKLOADS;
      t.workloads.set(key, (t.workloads.get(key) ?? 0) + 1);
      const before = currentById.get(id);
      if (before === undefined) t.new++;
      else if (!sameAlert(a, before)) t.changed++;
    }
    for (const a of current) {
      const t = this.#tally(a.ruleId ?? '');
      t.current++;
      if (!candidateIds.has(a.id ?? '')) t.gone++;
    }
  }

  /**
   * One row per rule of either set (rules that never fired too, so a rule that would be silent is visible), candidate
   * rules first by id, then the rules the candidate no longer has.
   */
  rules(top = 5): RuleReport[] {
    const ids = new Set([...this.#candidateRules.keys(), ...this.#currentRules.keys(), ...this.#tallies.keys()]);
    const rows: RuleReport[] = [];
    for (const id of ids) {
      const t = this.#tallies.get(id) ?? { candidate: 0, current: 0, new: 0, gone: 0, changed: 0, workloads: new Map<string, number>() };
      const info = this.#candidateRules.get(id) ?? this.#currentRules.get(id);
      const workloads = [...t.workloads].map(([workload, count]) => ({ workload, count }))
        .sort((a, b) => b.count - a.count || (a.workload < b.workload ? -1 : a.workload > b.workload ? 1 : 0));
      rows.push({
        ruleId: id, title: info?.title ?? id, severity: info?.severity ?? 'unspecified',
        inCandidate: this.#candidateRules.has(id), inCurrent: this.#currentRules.has(id),
        candidate: t.candidate, current: t.current, new: t.new, gone: t.gone, changed: t.changed,
        workloads: workloads.slice(0, top), workloadsDistinct: workloads.length,
      });
    }
    const rank = (r: RuleReport): number => (r.inCandidate ? 0 : 1);
    return rows.sort((a, b) => rank(a) - rank(b) || (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0));
  }
}

export { severityName };

/** The report's rule rows as a plain-text table, as the command prints it. */
export function rulesTable(rows: readonly RuleReport[]): string {
  const header = ['rule', 'severity', 'candidate', 'current', 'new', 'gone', 'changed', 'top workloads'];
  const body = rows.map((r) => [
    r.ruleId + (r.inCandidate ? (r.inCurrent ? '' : ' (added)') : ' (removed)'),
    r.severity,
    String(r.candidate), String(r.current), String(r.new), String(r.gone), String(r.changed),
    r.workloads.map((w) => `${w.workload} ${w.count}`).join(', ') +
      (r.workloadsDistinct > r.workloads.length ? ` (+${r.workloadsDistinct - r.workloads.length} more)` : ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
