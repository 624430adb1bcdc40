// Who this collector is, and what it did not see before it started. Each start has an instance id (the kernel's boot
// id and the start time), carried in every RawEventBatch, so seq numbers are counted per instance downstream. A small
// state file holds the last moment the previous instance was alive (rewritten on a heartbeat and at stop); at start
// the collector reports the time between then and its own start as a "visibility_gap" LossRecord: the node was
// blind. With no state from this boot (the first start after a reboot, or no writable state dir), the gap runs from
// the boot itself.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { palisade } from '@palisade/common';

export const VISIBILITY_GAP = 'visibility_gap';

export interface VisibilityOptions {
  /** Directory of the state file; '' keeps no state (every start reports a gap from boot). */
  stateDir: string;
  node: string;
  /** For tests: the boot id, the clock, the boot time. */
  bootId?: string;
  nowMs?: () => number;
  bootTimeMs?: number;
}

interface State {
  bootId: string;
  instanceId: string;
  aliveUnixMs: number;
}

function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

function readBootTimeMs(now: number): number {
  try {
    const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    return Number.isFinite(uptimeS) ? now - uptimeS * 1000 : 0;
  } catch {
    return 0;
  }
}

export class Visibility {
  readonly instanceId: string;
  private readonly file: string | undefined;
  private readonly bootId: string;
  private readonly now: () => number;
  private readonly startedMs: number;
  private readonly bootTimeMs: number;
  /** The state file could not be written: the next start will report a gap from boot. */
  stateError: string | undefined;

  constructor(opts: VisibilityOptions) {
    this.now = opts.nowMs ?? Date.now;
    this.startedMs = this.now();
    this.bootId = opts.bootId ?? readBootId();
    this.bootTimeMs = opts.bootTimeMs ?? readBootTimeMs(this.startedMs);
    this.instanceId = `${this.bootId}:${this.startedMs * 1_000_000}`;
    const safeNode = opts.node.replace(/[^A-Za-z0-9._-]/g, '_') || 'node';
    this.file = opts.stateDir === '' ? undefined : join(opts.stateDir, `collector-${safeNode}.json`);
  }

  /**
   * The blind interval before this start: from the previous instance's last heartbeat (same boot), else the boot, to
   * now. Call it once the kernel source runs: the process start is too early, since loading and attaching the
   * programs takes seconds in which nothing is seen either (a kill -9 drill lost 211 opens between the two).
   */
  gap(): palisade.v1.ILossRecord {
    const previous = this.read();
    const from = previous !== undefined && previous.bootId === this.bootId && previous.aliveUnixMs <= this.startedMs
      ? previous.aliveUnixMs : this.bootTimeMs;
    const to = Math.max(this.now(), this.startedMs);
    return { source: VISIBILITY_GAP, count: 0, fromUnixNano: from * 1_000_000, toUnixNano: to * 1_000_000 };
  }

  /** Records that this instance is alive now (called periodically and at stop). Never throws. */
  heartbeat(): void {
    if (this.file === undefined) return;
    const state: State = { bootId: this.bootId, instanceId: this.instanceId, aliveUnixMs: this.now() };
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(state)}\n`);
      renameSync(tmp, this.file);
      this.stateError = undefined;
    } catch (err) {
      this.stateError = err instanceof Error ? err.message : String(err);
    }
  }

  private read(): State | undefined {
    if (this.file === undefined) return undefined;
    try {
      const s = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<State>;
      return typeof s.bootId === 'string' && typeof s.aliveUnixMs === 'number' && Number.isFinite(s.aliveUnixMs)
        ? { bootId: s.bootId, instanceId: String(s.instanceId ?? ''), aliveUnixMs: s.aliveUnixMs } : undefined;
    } catch {
      return undefined;
    }
  }
}
