// Test support for every workspace's tests, as `@palisade/common/testing` (not in the main index: production code
// must not load it). Two rules live here and nowhere else (testing.test.ts fails on a second copy):
//   - a test waits for a condition, with a generous deadline, never for a fixed time: `waitFor`;
//   - a test that needs root, BPF, Kafka, OPA or a tool skips without it, saying why, but fails when CI=true:
//     nothing may skip silently on CI. `need` inside a test, `skipUnless` for a test's or suite's `skip` option.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';

/** True when the tests run on CI (CI=true): a missing requirement fails instead of skipping. */
export const onCI = process.env.CI === 'true';

/** The message a missing requirement fails with on CI. */
function unmet(why: string): string {
  if (onCI) assert.fail(`required when CI=true: ${why}`);
  return why;
}

/** True when the requirement holds; otherwise skips the test saying why, or fails it when CI=true. */
export function need(t: TestContext, ok: boolean, why: string): boolean {
  if (ok) return true;
  t.skip(unmet(why));
  return false;
}

/**
 * For the `skip` option of test() and describe(), decided when the file loads: false when the requirement holds,
 * else the reason to skip; when CI=true it throws instead, which fails the whole file.
 */
export function skipUnless(ok: boolean, why: string): string | false {
  return ok ? false : unmet(why);
}

/**
 * The default deadline of waitFor. Generous on purpose: conditions here hold within milliseconds on a quiet machine,
 * and the deadline only bounds how long a broken test takes to fail, on a 2-core machine busy with other work.
 */
export const WAIT_TIMEOUT_MS = 30_000;

export interface WaitOptions {
  /** How long to keep probing; default WAIT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** The pause between probes; default 10 ms. */
  intervalMs?: number;
  /** Stops the wait at once (rejecting with the signal's reason): e.g. the process being waited on has exited. */
  signal?: AbortSignal;
}

type Falsy = undefined | null | false | 0 | '';

/**
 * Calls `probe` until it returns (or resolves to) a truthy value, and returns that value. A probe that throws is
 * called again, so a probe may assert; the last error is reported. Fails after the deadline with a message naming
 * `what`, the deadline and the last value or error seen.
 */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, opts: WaitOptions = {}): Promise<Exclude<T, Falsy>> {
  const timeoutMs = opts.timeoutMs ?? WAIT_TIMEOUT_MS;
  const intervalMs = opts.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let last: { value: unknown } | { error: unknown } = { value: undefined };
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const value = await probe();
      if (value) return value as Exclude<T, Falsy>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) break;
    await sleep(intervalMs, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => undefined);
  }
  const seen = 'error' in last
    ? `last error: ${last.error instanceof Error ? last.error.message : inspect(last.error)}`
    : `last value: ${inspect(last.value, { depth: 2, breakLength: Infinity, maxStringLength: 500 })}`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${seen}`, 'error' in last ? { cause: last.error } : undefined);
}
