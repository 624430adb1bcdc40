// Explicit service lifecycle: starting -> ready -> draining -> stopped, or failed. On SIGTERM a service first reports
// not-ready, then drains and commits, then disconnects, all within a deadline.
import type { Logger } from './logger.js';

export type ServiceState = 'starting' | 'ready' | 'draining' | 'stopped' | 'failed';

export interface Service {
  readonly name: string;
  readonly state: ServiceState;
  start(): Promise<void>;
  /** Drains in-flight work, commits, disconnects. Idempotent. */
  stop(): Promise<void>;
  /** Optional extra for /readyz (what a degraded but ready service lacks). */
  detail?(): Record<string, unknown>;
  /**
   * Why a service in state ready cannot do its work now (a stalled consumer, an output failing for too long), so
   * /readyz answers 503 with the reason; undefined when it can.
   */
  notReady?(): string | undefined;
}

/** Holds a state and the first fatal error; the base of every stage. */
export class Lifecycle {
  private current: ServiceState = 'starting';
  private fatal: unknown;
  private readonly listeners: ((err: unknown) => void)[] = [];

  get state(): ServiceState { return this.current; }
  get error(): unknown { return this.fatal; }

  set(state: ServiceState): void { this.current = state; }

  /** Marks the service failed (once) and tells whoever waits, e.g. main.ts, which then exits non-zero. */
  fail(err: unknown): void {
    if (this.current === 'failed' || this.current === 'stopped') return;
    this.current = 'failed';
    this.fatal = err;
    for (const l of this.listeners) l(err);
  }

  onFail(listener: (err: unknown) => void): void { this.listeners.push(listener); }
}

export interface ShutdownOptions {
  logger: Logger;
  deadlineMs: number;
  /** Stops everything, in order. */
  stop: () => Promise<void>;
  exit?: (code: number) => void;
}

/**
 * The one shutdown handler of a process: SIGTERM/SIGINT, or a fatal error reported through the returned function.
 * Exits 0 after a clean drain, 1 after a failure or a missed deadline.
 */
export function installShutdown(opts: ShutdownOptions): (reason: string, err?: unknown) => void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let shuttingDown = false;
  const shutdown = (reason: string, err?: unknown): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    const failed = err !== undefined;
    if (failed) opts.logger.error('shutting down after a fatal error', { reason, err });
    else opts.logger.info('shutting down', { reason, deadlineMs: opts.deadlineMs });
    const timer = setTimeout(() => {
      opts.logger.error('shutdown deadline passed; exiting with work undrained', { deadlineMs: opts.deadlineMs });
      exit(1);
    }, opts.deadlineMs);
    timer.unref();
    opts.stop().then(
      () => { clearTimeout(timer); opts.logger.info('stopped'); exit(failed ? 1 : 0); },
      (stopErr: unknown) => { clearTimeout(timer); opts.logger.error('stop failed', { err: stopErr }); exit(1); },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  return shutdown;
}
