// Keeps the engine's tuning equal to a tuning file or folder (tuning.ts) while the evaluator runs: re-reads it on
// change and hands the validated tuning to `apply` (PolicyEngine.setTuning: a setData, no wasm rebuild).
//
// A file is watched through its directory (editors and ConfigMap updates replace it by rename); a folder is watched
// itself. A projected ConfigMap volume updates by writing a new ..<timestamp> folder and swapping the ..data symlink,
// so the visible names never change: the folder's watch sees "..data", and the periodic content check catches what
// fs.watch misses (network filesystems, a swap between two watch events). Content that did not change is not
// re-applied; content that was refused is refused once (counted and logged once), and the previous tuning stays.
import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, extname } from 'node:path';
import { PalisadeError, type Logger, type Metrics } from '@palisade/common';
import { parseTuning, readTuning, tuningHash, TUNING_EXTENSIONS, type Tuning } from './tuning.js';

export interface TuningWatcherOptions {
  /** A tuning file, or a folder of them. */
  path: string;
  /** The rule ids tuning may name: the loaded policy's, asked at every load (a policy swap may change them). */
  knownRules: () => ReadonlySet<string>;
  /** Makes a tuning the active one; throwing counts as a refused reload (the old tuning stays). */
  apply: (tuning: Tuning) => void;
  logger: Logger;
  metrics: Metrics;
  /** Quiet time after the last fs.watch event before the files are read. */
  debounceMs?: number;
  /** Period of the content check that backs fs.watch up; 0 turns it (and watching) off. */
  checkIntervalMs?: number;
}

export class TuningWatcher {
  readonly #opts: TuningWatcherOptions;
  readonly #log: Logger;
  readonly #m;
  #active: Tuning | undefined;
  #refused: string | undefined;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: TuningWatcherOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ module: 'tuning-watcher', path: opts.path });
    const mt = opts.metrics;
    this.#m = {
      reloads: mt.counter('palisade_evaluator_tuning_reloads_total', 'Rule tuning changes applied while running.'),
      errors: mt.counter('palisade_evaluator_tuning_reload_errors_total',
        'Rule tuning reloads refused (unreadable or invalid files, unknown rule ids); the previous tuning stays.'),
      info: mt.gauge('palisade_evaluator_tuning_info', 'The active rule tuning: the sha256 over its files; always 1.', ['sha256']),
    };
  }

  /** The tuning in force, or undefined before start(). */
  get current(): Tuning | undefined {
    return this.#active;
  }

  /**
   * Loads and applies the tuning, then watches it. Throws CONFIG_INVALID (or what apply threw) when the first load
   * fails: there is no previous tuning to keep, and running untuned is not what was configured.
   */
  start(): Tuning {
    const first = this.#load();
    if (first instanceof Error) throw first;
    const every = this.#opts.checkIntervalMs ?? 5000;
    if (every > 0) {
      const path = this.#opts.path;
      const isDir = statSync(path).isDirectory();
      const relevant = (name: string | null): boolean => name === null || name === '..data' ||
        (isDir ? TUNING_EXTENSIONS.includes(extname(name)) : name === basename(path));
      try {
        this.#watcher = watch(isDir ? path : dirname(path), { persistent: false }, (_event, name) => {
          if (relevant(typeof name === 'string' ? name : null)) this.#schedule();
        });
        this.#watcher.on('error', (err) => this.#log.warn('fs.watch failed; relying on the periodic check', { err: String(err) }));
      } catch (err) {
        this.#log.warn('fs.watch unavailable; relying on the periodic check', { err: String(err) });
      }
      this.#poll = setInterval(() => this.reload(), every);
      this.#poll.unref();
    }
    return first;
  }

  /** Re-reads now. True when a changed tuning was applied, false when unchanged or refused (logged). */
  reload(): boolean {
    if (this.#stopped) return false;
    const before = this.#active?.sha256;
    const r = this.#load();
    return !(r instanceof Error) && r.sha256 !== before;
  }

  stop(): void {
    this.#stopped = true;
    this.#watcher?.close();
    if (this.#debounce) clearTimeout(this.#debounce);
    if (this.#poll) clearInterval(this.#poll);
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => this.reload(), this.#opts.debounceMs ?? 200);
    this.#debounce.unref();
  }

  #load(): Tuning | Error {
    const initial = this.#active === undefined;
    let contents;
    try {
      contents = readTuning(this.#opts.path);
    } catch (err) {
      return this.#refuse(err instanceof Error ? err : new Error(String(err)), initial, undefined);
    }
    const sha256 = tuningHash(contents);
    if (this.#active?.sha256 === sha256) {
      this.#refused = undefined;
      return this.#active;
    }
    if (this.#refused === sha256) return new PalisadeError('CONFIG_INVALID', `tuning ${this.#opts.path} unchanged since it was refused`);
    let tuning: Tuning;
    try {
      tuning = parseTuning(contents, this.#opts.knownRules());
      this.#opts.apply(tuning);
    } catch (err) {
      return this.#refuse(err instanceof Error ? err : new Error(String(err)), initial, sha256);
    }
    this.#refused = undefined;
    const previous = this.#active;
    this.#active = tuning;
    if (previous !== undefined) this.#m.info.remove({ sha256: previous.sha256 });
    this.#m.info.set({ sha256 }, 1);
    const summary = {
      sha256, files: tuning.files,
      disabled: [...tuning.rules].filter(([, r]) => r.enabled?.value === false).map(([id]) => id),
      exceptions: [...tuning.rules.values()].reduce((n, r) => n + r.exceptions.length, 0),
    };
    if (initial) {
      this.#log.info('rule tuning applied', summary);
    } else {
      this.#m.reloads.inc();
      this.#log.info('rule tuning reloaded', { ...summary, previous: previous?.sha256 });
    }
    return tuning;
  }

  #refuse(err: Error, initial: boolean, sha256: string | undefined): Error {
    // An unreadable path is not remembered: it is retried (and not re-counted while it stays unreadable) on the
    // next check; bad content is refused once per content.
    const key = sha256 ?? `unreadable:${err.message}`;
    if (!initial && this.#refused !== key) {
      this.#m.errors.inc();
      this.#log.error('rule tuning refused; the previous tuning stays in force', { err: err.message, active: this.#active?.sha256 });
    }
    this.#refused = key;
    return err;
  }
}
