// What the collector's real-kernel tests share, on top of @palisade/common/testing: the BPF requirement (without BPF
// a test skips saying why, and fails when CI=true) and the removal of a test cgroup.
import { rmdirSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { need, waitFor } from '@palisade/common/testing';
import { bpfUnavailableReason } from './bpf-session.js';

/** Why BPF cannot run here, or undefined; computed once per test file. */
export const bpfUnavailable = bpfUnavailableReason();

export function needBpf(t: TestContext): boolean {
  return need(t, bpfUnavailable === undefined, `needs BPF: ${bpfUnavailable ?? ''}`);
}

/** Removes a test cgroup directory; gone already is fine. */
export async function removeCgroup(dir: string): Promise<void> {
  // The last member may still be a zombie being reaped for a moment; rmdir says EBUSY until it is gone.
  await waitFor(`the removal of ${dir}`, () => {
    try {
      rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return true;
  }, { intervalMs: 20 });
}
