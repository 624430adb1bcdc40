// The BPF requirement of the collector's real-kernel tests, on top of the one CI guard (@palisade/common/testing):
// without BPF they skip saying why, and fail when CI=true.
import type { TestContext } from 'node:test';
import { need } from '@palisade/common/testing';
import { bpfUnavailableReason } from './native.js';

/** Why BPF cannot run here, or undefined; computed once per test file. */
export const bpfUnavailable = bpfUnavailableReason();

export function needBpf(t: TestContext): boolean {
  return need(t, bpfUnavailable === undefined, `needs BPF: ${bpfUnavailable ?? ''}`);
}
