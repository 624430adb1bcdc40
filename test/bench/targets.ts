// The targets (issues show 3, "Targets"), checked against a result for the table: informational marks,
// never an exit code, because a slower machine than the 2-core reference VM misses them without a regression.
import type { CollectorBenchResult } from './collector-bench.js';
import type { OverheadBenchResult } from './overhead-bench.js';

export interface TargetCheck {
  /** What the target says, in the table's words ("= 0", "≤ 1.05 × empty 1.18 = 1.24"). */
  text: string;
  /** undefined when a figure it needs is missing (NaN). */
  met: boolean | undefined;
}

const fmt = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

function check(text: string, value: number, bound: number, cmp: 'eq' | 'le' = 'le'): TargetCheck {
  if (!Number.isFinite(value) || !Number.isFinite(bound)) return { text, met: undefined };
  return { text, met: cmp === 'eq' ? value === bound : value <= bound };
}

/** Both parts must hold; unknown if either is. */
function both(a: TargetCheck, b: TargetCheck): TargetCheck {
  const met = a.met === undefined || b.met === undefined ? undefined : a.met && b.met;
  return { text: `${a.text} and ${b.text}`, met };
}

export function collectorTargets(c: CollectorBenchResult): Record<'lost' | 'cpu_us_per_event' | 'rss_mib', TargetCheck> {
  return {
    lost: check('= 0', c.lost, 0, 'eq'),
    cpu_us_per_event: check('≤ 1.00 µs', c.cpu_us_per_event, 1.0),
    rss_mib: check('≤ 256 MiB', c.rss_mib, 256),
  };
}

export function overheadTargets(o: OverheadBenchResult): Record<'filtered_ratio' | 'all_events_ratio', TargetCheck> {
  const empty = o.empty_hook_ratio;
  return {
    filtered_ratio: check(`≤ 1.05 × empty = ${fmt(1.05 * empty)}`, o.filtered_ratio, 1.05 * empty),
    all_events_ratio: both(
      check(`≤ 1.25 × empty = ${fmt(1.25 * empty)}`, o.all_events_ratio, 1.25 * empty),
      check(`≤ opensnoop ÷ 3 = ${fmt(o.opensnoop_ratio / 3)}`, o.all_events_ratio, o.opensnoop_ratio / 3),
    ),
  };
}

/** "target ≤ 1.00 µs ✓" */
export function targetCell(t: TargetCheck): string {
  return `target ${t.text} ${t.met === undefined ? '?' : t.met ? '✓' : '✗'}`;
}
