// Keeps the in-kernel filter equal to a TracingPolicy file while the collector runs: watches the file, re-parses it
// on change and hands the new filter to `apply` (KernelSource.setFilter: map writes, the programs stay attached).
//
// fs.watch is on the file's directory, not the file: editors and ConfigMap updates replace a file by rename, after
// which a watch on the old inode never fires again. Events are debounced (a save is several events), and a periodic
// check of the content hash catches what fs.watch misses (network filesystems, the ..data symlink swap of a
// projected ConfigMap volume). A file whose content hash did not change is not re-applied.
import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { PalisadeError, type Logger, type Metrics } from '@palisade/common';
import { parseTracingPolicy, type ParseOptions, type TracingPolicy } from './filter-policy.js';

export interface PolicyWatcherOptions {
  path: string;
  /** Makes a parsed policy the active one; throwing counts as a failed reload (the old policy stays). */
  apply: (policy: TracingPolicy) => void;
  logger: Logger;
  metrics: Metrics;
  /** Quiet time after the last fs.watch event before the file is read. */
  debounceMs?: number;
  /** Period of the content check that backs fs.watch up; 0 turns it (and watching) off. */
  checkIntervalMs?: number;
  parse?: ParseOptions;
}

export interface ActivePolicy {
  readonly name: string;
  readonly sha256: string;
}

export class PolicyWatcher {
  private readonly opts: PolicyWatcherOptions;
  private readonly log: Logger;
  private readonly m;
  private active: ActivePolicy | undefined;
  /** Hash of the last content refused: the periodic check must not count (and log) the same bad file every time. */
  private refused: string | undefined;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(opts: PolicyWatcherOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ module: 'policy-watcher', path: opts.path });
    const mt = opts.metrics;
    this.m = {
      reloads: mt.counter('palisade_collector_policy_reloads_total', 'TracingPolicy changes applied to the in-kernel filter while running.'),
      errors: mt.counter('palisade_collector_policy_reload_errors_total',
        'TracingPolicy reloads refused (unreadable, invalid, or rejected by the kernel); the previous policy stays.'),
      info: mt.gauge('palisade_collector_policy_info', 'The active TracingPolicy: its name and the sha256 of its file; always 1.',
        ['name', 'sha256']),
    };
  }

  /** The policy in force, or undefined before start(). */
  get current(): ActivePolicy | undefined {
    return this.active;
  }

  /**
   * Loads and applies the file, then starts watching it. Throws (CONFIG_INVALID, or what apply threw) when the first
   * load fails: there is no previous policy to keep, and running with none is not what was configured.
   */
  start(): ActivePolicy {
    const first = this.load();
    if (first instanceof Error) throw first;
    const every = this.opts.checkIntervalMs ?? 5000;
    if (every > 0) {
      try {
        this.watcher = watch(dirname(this.opts.path), { persistent: false }, (_event, name) => {
          if (name === null || name === basename(this.opts.path) || name === '..data') this.schedule();
        });
        this.watcher.on('error', (err) => this.log.warn('fs.watch failed; relying on the periodic check', { err: String(err) }));
      } catch (err) {
        this.log.warn('fs.watch unavailable; relying on the periodic check', { err: String(err) });
      }
      this.poll = setInterval(() => this.reload(), every);
      this.poll.unref();
    }
    return first;
  }

  /** Re-reads the file now. True when a changed policy was applied, false when unchanged or refused (logged). */
  reload(): boolean {
    if (this.stopped) return false;
    const before = this.active?.sha256;
    const r = this.load();
    return !(r instanceof Error) && r.sha256 !== before;
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    if (this.debounce) clearTimeout(this.debounce);
    if (this.poll) clearInterval(this.poll);
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.reload(), this.opts.debounceMs ?? 200);
    this.debounce.unref();
  }

  /** One attempt: the active policy after it (changed or not), or the error that left the previous one in force. */
  private load(): ActivePolicy | Error {
    const initial = this.active === undefined;
    let text: string;
    try {
      text = readFileSync(this.opts.path, 'utf8');
    } catch (err) {
      return this.refuse(new PalisadeError('CONFIG_INVALID', `cannot read TracingPolicy ${this.opts.path}: ${String(err)}`, { cause: err }), initial);
    }
    const sha256 = createHash('sha256').update(text).digest('hex');
    if (this.active?.sha256 === sha256) {
      this.refused = undefined;
      return this.active;
    }
    if (this.refused === sha256) return new PalisadeError('CONFIG_INVALID', `TracingPolicy ${this.opts.path} unchanged since it was refused`);
    let policy: TracingPolicy;
    try {
      policy = parseTracingPolicy(text, this.opts.path, this.opts.parse);
      this.opts.apply(policy);
    } catch (err) {
      this.refused = sha256;
      return this.refuse(err instanceof Error ? err : new Error(String(err)), initial);
    }
    this.refused = undefined;
    for (const w of policy.warnings) this.log.warn(w);
    const previous = this.active;
    this.active = { name: policy.name, sha256 };
    if (previous !== undefined) this.m.info.remove({ name: previous.name, sha256: previous.sha256 });
    this.m.info.set({ name: policy.name, sha256 }, 1);
    if (initial) {
      this.log.info('TracingPolicy applied', { name: policy.name, sha256 });
    } else {
      this.m.reloads.inc();
      this.log.info('TracingPolicy reloaded', { name: policy.name, sha256, previous: previous?.sha256 });
    }
    return this.active;
  }

  private refuse(err: Error, initial: boolean): Error {
    if (!initial) {
      this.m.errors.inc();
      this.log.error('TracingPolicy reload refused; the previous policy stays in force', {
        err: err.message, active: this.active?.sha256,
      });
    }
    return err;
  }
}
