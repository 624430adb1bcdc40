// Counters that survive a restart. The kernel's loss counters are per-CPU maps that start at 0 with every new BPF
// session, and a process' Prometheus counters start at 0 with the process; so a crash-looping collector would look
// like one that never lost anything. Instead of pinning the maps (a pinned map outlives a program reload only if the
// new object reuses it with the same layout, which ties every upgrade to the old ABI), the collector keeps its own
// running totals in the state dir and starts its counters from them: counters-<node>.json holds the totals by reason
// and the instance that wrote them; a start reads it, adds the totals to its fresh counters and says so (a log line
// and palisade_collector_counters_carried_info{from_instance}).
//
// The file is rewritten (tmp + rename) at most once a second while a total changed, on the heartbeat and at stop,
// so a kill -9 can forget at most the last second of growth. Those events were still reported in-band as
// LossRecords; only the Prometheus total is short by them.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface CarriedTotals {
  /** The instance that wrote them (visibility.ts' instance id). */
  fromInstance: string;
  /** palisade_collector_lost_events_total by reason. */
  lost: Record<string, number>;
  /** palisade_collector_blind_seconds_total. */
  blindSeconds: number;
}

export class CarriedCounters {
  private readonly file: string | undefined;
  /** The last write failed (read-only state dir): the next start begins from older totals, or from 0. */
  writeError: string | undefined;

  constructor(opts: { stateDir: string; node: string }) {
    const safeNode = opts.node.replace(/[^A-Za-z0-9._-]/g, '_') || 'node';
    this.file = opts.stateDir === '' ? undefined : join(opts.stateDir, `counters-${safeNode}.json`);
  }

  /** What the previous instance left, or undefined (first start, no state dir, unreadable file). Never throws. */
  load(): CarriedTotals | undefined {
    if (this.file === undefined) return undefined;
    try {
      const s = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<CarriedTotals>;
      const lost: Record<string, number> = {};
      for (const [k, v] of Object.entries(s.lost ?? {})) if (typeof v === 'number' && Number.isFinite(v) && v > 0) lost[k] = v;
      const blind = typeof s.blindSeconds === 'number' && Number.isFinite(s.blindSeconds) && s.blindSeconds > 0 ? s.blindSeconds : 0;
      return { fromInstance: typeof s.fromInstance === 'string' ? s.fromInstance : '', lost, blindSeconds: blind };
    } catch {
      return undefined;
    }
  }

  /** Records the totals as this instance's. Never throws. */
  save(totals: CarriedTotals): void {
    if (this.file === undefined) return;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(totals)}\n`);
      renameSync(tmp, this.file);
      this.writeError = undefined;
    } catch (err) {
      this.writeError = err instanceof Error ? err.message : String(err);
    }
  }
}
