// The CI rule for the collector's real-kernel tests, in one place: a missing requirement (BPF, root, a tool) fails
// the test when CI=true and skips it, saying why, elsewhere. Nothing may skip silently on CI.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { bpfUnavailableReason } from './bpf-session.js';

/** Why BPF cannot run here, or undefined; computed once per test file. */
export const bpfUnavailable = bpfUnavailableReason();

/** True when the requirement holds; otherwise fails (CI=true) or skips the test. */
export function need(t: TestContext, ok: boolean, why: string): boolean {
  if (ok) return true;
  if (process.env.CI === 'true') assert.fail(`required when CI=true: ${why}`);
  t.skip(why);
  return false;
}

export function needBpf(t: TestContext): boolean {
  return need(t, bpfUnavailable === undefined, `needs BPF: ${bpfUnavailable ?? ''}`);
}
