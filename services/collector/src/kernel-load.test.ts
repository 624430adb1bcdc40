// Load and attach on the running kernel: the test the kernel matrix (scripts/test-kernels.mjs) runs on each kernel.
// Every required program must attach; an optional one may be left out, with its reason. One `kernel-matrix:` line
// reports what attached, for the matrix summary.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ABI } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { BpfSession } from './bpf-session.js';
import { needBpf } from './kernel-test-support.js';
import { LAYOUT } from './event-decoder.js';
import { probeReport } from './probe.js';

test('every required program attaches on this kernel, events flow, and the probe agrees', async (t) => {
  if (!needBpf(t)) return;
  const started = Date.now();
  const session = BpfSession.open();
  const loadMs = Date.now() - started;
  try {
    const programs = session.programs();
    const missing = programs.filter((p) => !p.attached);
    const probe = probeReport();
    process.stdout.write(`kernel-matrix: ${JSON.stringify({
      kernel: probe.kernel, programs: programs.length, attached: programs.length - missing.length, loadMs,
      notAttached: missing.map((p) => `${p.name}: ${p.reason}`),
      kindsNotSeen: probe.kinds.filter((k) => k.seen === 'no').map((k) => k.kind),
      hooks: Object.fromEntries(Object.entries(probe.hooks).map(([k, v]) => [k, v.ok])),
    })}\n`);
    for (const p of programs.filter((q) => q.required)) assert.ok(p.attached, `required ${p.name}: ${p.reason}`);
    assert.ok(probe.btf.ok && probe.buffers.ringbuf.ok && probe.hooks.tracepoint.ok, 'the probe contradicts a session that loaded');

    // Events flow: a child's open of a marker file reaches a batch.
    const seen: Buffer[] = [];
    session.start((b) => seen.push(b), (err) => assert.fail(err));
    const marker = join(tmpdir(), `pal-kernel-load-${randomBytes(4).toString('hex')}`);
    writeFileSync(marker, 'x');
    try {
      // Under emulation (the kernel matrix) the first drains can take a while: a generous deadline.
      await waitFor('a file_open of the marker file by a child', () => {
        execFileSync('cat', [marker], { stdio: 'ignore' });
        return seen.some((b) => b.includes(Buffer.from(marker)));
      }, { timeoutMs: 120_000, intervalMs: 50 });
    } finally {
      rmSync(marker, { force: true });
    }
    const kinds = new Set<number>();
    for (const b of seen) {
      for (let off = 0; off + LAYOUT.header.sizeof <= b.length;) {
        kinds.add(b.readUInt16LE(off + LAYOUT.header.fields.kind));
        off += b.readUInt16LE(off + LAYOUT.header.fields.size);
      }
    }
    for (const k of [ABI.constants.kindProcessExec, ABI.constants.kindFileOpen]) assert.ok(kinds.has(k), `no record of kind ${k}`);
  } finally {
    session.close();
  }
});
