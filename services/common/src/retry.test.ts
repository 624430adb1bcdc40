import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PalisadeError } from './errors.js';
import { backoffMs, sleep, withRetry } from './retry.js';

const retriable = (): PalisadeError => new PalisadeError('BUS_SEND_FAILED', 'try again', { retriable: true });

test('backoff doubles per attempt up to the cap, with jitter in the upper half', () => {
  for (let i = 0; i < 200; i++) {
    const d1 = backoffMs(1, 100, 10_000);
    const d3 = backoffMs(3, 100, 10_000);
    const d20 = backoffMs(20, 100, 1_000);
    assert.ok(d1 >= 50 && d1 <= 100, `attempt 1: ${d1}`);
    assert.ok(d3 >= 200 && d3 <= 400, `attempt 3: ${d3}`);
    assert.ok(d20 >= 500 && d20 <= 1_000, `capped: ${d20}`);
  }
});

test('withRetry retries retriable errors and returns the first success', async () => {
  const retries: number[] = [];
  const result = await withRetry(async (attempt) => {
    if (attempt < 3) throw retriable();
    return `ok on ${attempt}`;
  }, { attempts: 5, baseMs: 1, onRetry: (_err, attempt) => retries.push(attempt) });
  assert.equal(result, 'ok on 3');
  assert.deepEqual(retries, [1, 2]);
});

test('withRetry throws a non-retriable error at once', async () => {
  let calls = 0;
  const fatal = new PalisadeError('KUBE_FORBIDDEN', 'no');
  await assert.rejects(withRetry(async () => { calls++; throw fatal; }, { attempts: 5, baseMs: 1 }), fatal);
  assert.equal(calls, 1);
});

test('withRetry throws the last error when attempts run out', async () => {
  let calls = 0;
  const errs: Error[] = [];
  await assert.rejects(withRetry(async () => { calls++; const e = retriable(); errs.push(e); throw e; }, { attempts: 3, baseMs: 1 }),
    (err: unknown) => err === errs[2]);
  assert.equal(calls, 3);
});

test('retryIf decides what is retried', async () => {
  let calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw new Error('plain'); },
    { attempts: 3, baseMs: 1, retryIf: (e) => e instanceof Error && e.message === 'plain' }));
  assert.equal(calls, 3);
});

test('an abort during the backoff ends withRetry without another attempt', async () => {
  const ac = new AbortController();
  let calls = 0;
  const started = Date.now();
  const p = withRetry(async () => { calls++; throw retriable(); }, { attempts: 10, baseMs: 5_000, signal: ac.signal });
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(p, (err: unknown) => (err as Error).message === 'try again');
  assert.equal(calls, 1, 'fn ran again after the abort');
  assert.ok(Date.now() - started < 1_000, 'the backoff was not cut short');
});

test('sleep waits, and returns early when its signal aborts', async () => {
  let t0 = Date.now();
  await sleep(30);
  assert.ok(Date.now() - t0 >= 25);
  const ac = new AbortController();
  t0 = Date.now();
  setTimeout(() => ac.abort(), 10);
  await sleep(5_000, ac.signal);
  assert.ok(Date.now() - t0 < 1_000);
  ac.abort();
  t0 = Date.now();
  await sleep(5_000, ac.signal);
  assert.ok(Date.now() - t0 < 50, 'an already aborted signal returns at once');
});
