import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BpfSession } from '@palisade/collector/dist/bpf-session.js';
import { needBpf } from '@palisade/collector/dist/kernel-test-support.js';
import { enableBpfStats, parseProgFdinfo, progCosts, progNames, snapshotProgStats } from './bpf-prog-stats.js';

test('a bpf-prog fdinfo gives its id, run time and run count; other fdinfo gives nothing', () => {
  const prog = 'pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1057\nprog_type:\t5\nprog_jited:\t1\n' +
    'prog_tag:\t26365d3d521ee70b\nmemlock:\t12288\nprog_id:\t116651\nrun_time_ns:\t81000\nrun_cnt:\t100\n' +
    'recursion_misses:\t0\nverified_insns:\t1790\n';
  assert.deepEqual(parseProgFdinfo(prog), { id: 116651, runTimeNs: 81000, runCnt: 100 });
  assert.deepEqual(parseProgFdinfo('pos:\t0\nflags:\t02\nmnt_id:\t16\nino:\t1\nmap_type:\t2\nmap_id:\t7\n'), undefined);
  // Statistics off since the program loaded: the fields are there with 0 (older kernels leave them out).
  assert.deepEqual(parseProgFdinfo('prog_id:\t5\n'), { id: 5, runTimeNs: 0, runCnt: 0 });
});

test('costs are per run over the window, costliest first, programs that did not run left out', () => {
  const before = new Map([
    [1, { id: 1, runTimeNs: 1_000, runCnt: 10 }],
    [2, { id: 2, runTimeNs: 500, runCnt: 5 }],
    [3, { id: 3, runTimeNs: 7, runCnt: 1 }],
  ]);
  const after = new Map([
    [1, { id: 1, runTimeNs: 1_000 + 100 * 50, runCnt: 10 + 100 }],   // 5,000 ns over 100 runs
    [2, { id: 2, runTimeNs: 500 + 10 * 900, runCnt: 5 + 10 }],       // 9,000 ns over 10 runs
    [3, { id: 3, runTimeNs: 7, runCnt: 1 }],                          // did not run
    [4, { id: 4, runTimeNs: 300, runCnt: 3 }],                        // loaded inside the window
  ]);
  const costs = progCosts(before, after, new Map([[1, 'pal_openat_out'], [2, 'pal_exec']]));
  assert.deepEqual(costs, [
    { name: 'pal_exec', runs: 10, ns_per_run: 900 },
    { name: 'pal_openat_out', runs: 100, ns_per_run: 50 },
    { name: 'id4', runs: 3, ns_per_run: 100 },
  ]);
});

test("with bpf_stats on, the collector's open program counts the opens of a real storm and its run time", (t) => {
  if (!needBpf(t)) return;
  const restore = enableBpfStats();
  const session = BpfSession.open({ mode: 'ringbuf', ringBufferBytes: 1 << 20, perfBufferPages: 8, ignoreSelf: true });
  const dir = mkdtempSync(join(tmpdir(), 'bpf-prog-stats-'));
  try {
    session.start(() => {}, (err) => { throw err; });
    const file = join(dir, 'f');
    writeFileSync(file, 'x');
    const before = snapshotProgStats();
    // Another process, so its opens are not the collector's own (ignoreSelf drops those before any work).
    const r = spawnSync('sh', ['-c', `i=0; while [ $i -lt 200 ]; do cat "$1" > /dev/null; i=$((i+1)); done`, 'sh', file]);
    assert.equal(r.status, 0);
    const costs = progCosts(before, snapshotProgStats(), progNames());
    const out = costs.find((c) => c.name === 'pal_openat_out');
    assert.ok(out !== undefined, `pal_openat_out not among ${costs.map((c) => c.name).join(', ')}`);
    assert.ok(out.runs >= 200, `${out.runs} runs for at least 200 opens`);
    assert.ok(out.ns_per_run > 0, 'run time counted');
  } finally {
    session.close();
    restore();
    rmSync(dir, { recursive: true, force: true });
  }
});
