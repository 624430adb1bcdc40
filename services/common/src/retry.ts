// Exponential backoff with full jitter, for retriable errors only.
import { isRetriable } from './errors.js';

export interface RetryOptions {
  attempts: number;
  baseMs: number;
  maxMs?: number;
  /** Which errors to retry; default: those with retriable: true. */
  retryIf?: (err: unknown) => boolean;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) { resolve(); return; }
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = (): void => { clearTimeout(t); resolve(); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs fn until it succeeds, a non-retriable error is thrown, or attempts run out (the last error is thrown). */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const retryIf = opts.retryIf ?? isRetriable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= opts.attempts || !retryIf(err) || opts.signal?.aborted) throw err;
      const delay = backoffMs(attempt, opts.baseMs, opts.maxMs ?? 30_000);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
      // An abort cuts the backoff short; it must not also buy one more attempt.
      if (opts.signal?.aborted) throw err;
    }
  }
}
