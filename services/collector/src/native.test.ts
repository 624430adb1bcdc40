import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { PalisadeError } from '@palisade/common';
import {
  BpfSession,
  bpfUnavailableReason,
  DEFAULT_ADDON_PATH,
  FILTER_ABI,
  FILTER_LIMITS,
  filterLayout,
  filterLimits,
  resolveKernelFilter,
  resolveSessionOptions,
  toPalisadeError,
} from './native.js';

const unavailable = bpfUnavailableReason();

/** Real-kernel tests fail under CI=true when BPF cannot run, and skip (saying why) elsewhere. */
function needBpf(t: TestContext): boolean {
  if (unavailable === undefined) return true;
  if (process.env.CI === 'true') assert.fail(`BPF is required when CI=true: ${unavailable}`);
  t.skip(`needs BPF: ${unavailable}`);
  return false;
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** prog and link ids held by this process's fds, from /proc/self/fdinfo. */
function bpfIdsHeld(): { progs: Set<number>; links: Set<number> } {
  const progs = new Set<number>();
  const links = new Set<number>();
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const link = /^link_id:\s+(\d+)/m.exec(info);
    const prog = /^prog_id:\s+(\d+)/m.exec(info);
    if (link?.[1] !== undefined) links.add(Number(link[1]));
    else if (prog?.[1] !== undefined) progs.add(Number(prog[1]));
  }
  return { progs, links };
}

function bpftoolKnows(kind: 'prog' | 'link', id: number): boolean {
  try {
    execFileSync('bpftool', [kind, 'show', 'id', String(id)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('options are validated before anything crosses into native code', () => {
  const bad = [{ ringBufferBytes: 1000 }, { perfBufferPages: 3 }, { drainIntervalMs: 0 }, { wakeupBytes: -1 }];
  for (const opts of bad) {
    assert.throws(() => resolveSessionOptions(opts), (err: unknown) => err instanceof PalisadeError && err.code === 'CONFIG_INVALID');
  }
  assert.throws(
    () => resolveSessionOptions({ mode: 'kprobe' as 'ringbuf' }),
    (err: unknown) => err instanceof PalisadeError && err.code === 'CONFIG_INVALID',
  );
  const resolved = resolveSessionOptions({});
  assert.equal(resolved.mode, 'ringbuf');
  assert.equal(resolved.ignoreTgid, process.pid);
});

test('the filter ABI in native.ts matches bpf/include/palisade.h as the addon was compiled', (t) => {
  if (!existsSync(DEFAULT_ADDON_PATH)) {
    if (process.env.CI === 'true') assert.fail('native addon not built');
    t.skip('native addon not built');
    return;
  }
  assert.deepEqual(filterLayout().constants, FILTER_ABI);
  assert.deepEqual(filterLimits(), FILTER_LIMITS);
});

test('a kernel filter is validated and turned into map values before crossing', () => {
  const resolved = resolveKernelFilter({
    binaries: [
      { comm: 'sh', action: 'drop' },
      { comm: 'sh', action: 'sigkill' },
      { comm: 'nginx', action: 'drop' },
    ],
    pathPrefixes: [{ prefix: '/tmp/', action: 'sigkill' }],
    emitKillEvents: true,
  });
  assert.deepEqual(resolved, {
    binaries: [
      { comm: 'sh', actions: FILTER_ABI.actionDrop | FILTER_ABI.actionSigkill, rate: 0, kinds: [] },
      { comm: 'nginx', actions: FILTER_ABI.actionDrop, rate: 0, kinds: [] },
    ],
    binaryPrefixes: [],
    pathPrefixes: [{ prefix: '/tmp/', actions: FILTER_ABI.actionSigkill }],
    cgroups: [],
    cgroupOnly: false,
    ports: [],
    rates: [],
    kindsDropped: [],
    flags: FILTER_ABI.filterEmitKillEvents,
  });
  const bad: unknown[] = [
    { binaries: [{ comm: '', action: 'drop' }], pathPrefixes: [] },
    { binaries: [{ comm: 'a-name-of-16-byt', action: 'drop' }], pathPrefixes: [] },
    { binaries: [{ comm: 'sh', action: 'kill' }], pathPrefixes: [] },
    { binaries: [], pathPrefixes: [{ prefix: 'relative', action: 'drop' }] },
    { binaries: [], pathPrefixes: [{ prefix: `/${'x'.repeat(64)}`, action: 'drop' }] },
    { binaries: [], pathPrefixes: Array.from({ length: 17 }, (_, i) => ({ prefix: `/p${i}`, action: 'drop' })) },
    { binaries: 'sh', pathPrefixes: [] },
    { binaries: [{ comm: 'sh', action: 'drop', rateLimit: { events: 1, seconds: 1 } }], pathPrefixes: [] },
    { binaries: [{ comm: 'sh', action: 'post', kinds: [64] }], pathPrefixes: [] },
    { binaries: [], pathPrefixes: [{ prefix: '/tmp', action: 'post' }] },
    { binaries: [], pathPrefixes: [], binaryPrefixes: [{ prefix: 'a'.repeat(16), action: 'drop' }] },
    { binaries: [], pathPrefixes: [], cgroups: [{ id: 0, action: 'drop' }] },
    { binaries: [], pathPrefixes: [], cgroups: [{ id: 5, action: 'sigkill' }] },
    { binaries: [], pathPrefixes: [], onlyCgroups: [] },
    { binaries: [], pathPrefixes: [], ports: [{ port: 65536, action: 'drop' }] },
    { binaries: [], pathPrefixes: [], ports: [{ port: 1, action: 'post', rateLimit: { events: 0, seconds: 1 } }] },
    { binaries: [], pathPrefixes: [], kinds: [] },
  ];
  for (const filter of bad) {
    assert.throws(
      () => resolveKernelFilter(filter as Parameters<typeof resolveKernelFilter>[0]),
      (err: unknown) => err instanceof PalisadeError && err.code === 'CONFIG_INVALID',
      JSON.stringify(filter),
    );
  }
});

test('selectors beyond binaries and paths: rate ids per selector, kind masks, cgroup allow-lists, ports', () => {
  const perSecond = { events: 10, seconds: 1 };
  const resolved = resolveKernelFilter({
    binaries: [{ comm: 'a', action: 'post', rateLimit: perSecond }, { comm: 'b', action: 'post', rateLimit: perSecond }],
    binaryPrefixes: [{ prefix: 'kworker/', action: 'drop', kinds: [3, 1, 3] }],
    pathPrefixes: [],
    cgroups: [{ id: 7, action: 'drop' }, { id: 9, action: 'post', rateLimit: { events: 2, seconds: 60 } }],
    onlyCgroups: [9, 11],
    ports: [{ port: 53, action: 'drop' }],
    kinds: [1, 2, 3, 4],
  });
  // One RateLimit object = one selector = one rate id (one bucket per process), shared by its entries.
  assert.deepEqual(resolved.binaries.map((b) => b.rate), [1, 1]);
  assert.deepEqual(resolved.rates, [{ costNs: 100_000_000, burstNs: 1_000_000_000 }, { costNs: 30e9, burstNs: 60e9 }]);
  assert.deepEqual(resolved.binaryPrefixes, [{ prefix: 'kworker/', actions: FILTER_ABI.actionDrop, rate: 0, kinds: [1, 3] }]);
  assert.deepEqual(resolved.cgroups, [
    { id: 7, actions: FILTER_ABI.actionDrop, rate: 0, kinds: [] },
    { id: 9, actions: FILTER_LIMITS.actionPost | FILTER_LIMITS.actionListed, rate: 2, kinds: [] },
    { id: 11, actions: FILTER_LIMITS.actionListed, rate: 0, kinds: [] },
  ]);
  assert.equal(resolved.cgroupOnly, true);
  assert.deepEqual(resolved.ports, [{ port: 53, actions: FILTER_ABI.actionDrop, rate: 0, kinds: [] }]);
  assert.equal(resolved.kindsDropped.length, 63 - 4);
  assert.deepEqual(resolved.kindsDropped.slice(0, 3), [5, 6, 7]);
  assert.throws(() => resolveKernelFilter({
    binaries: [{ comm: 'a', action: 'drop' }, { comm: 'a', action: 'drop', kinds: [3] }], pathPrefixes: [],
  }), /repeats a key/);
});

test('native {errno, code, op} errors become typed PalisadeErrors', () => {
  const mk = (op: string, code: string): PalisadeError => toPalisadeError({ errno: 1, code, op });
  assert.equal(mk('bpf_object__load', 'EINVAL').code, 'BPF_LOAD_FAILED');
  assert.equal(mk('bpf_program__attach(pal_exec)', 'ENOTSUPP').code, 'BPF_ATTACH_FAILED');
  const poll = mk('ring_buffer__consume', 'EBADF');
  assert.equal(poll.code, 'BPF_POLL_FAILED');
  assert.equal(poll.retriable, true);
  assert.match(mk('bpf_object__load', 'EPERM').message, /root/);
  assert.equal(toPalisadeError(new Error('x')).code, 'NATIVE_ERROR');
});

test('a missing BPF object is BPF_LOAD_FAILED with a hint, and leaks no fd', (t) => {
  if (!needBpf(t)) return;
  const before = openFds();
  assert.throws(
    () => BpfSession.open({ objectPath: '/nonexistent/palisade.bpf.o' }),
    (err: unknown) =>
      err instanceof PalisadeError && err.code === 'BPF_LOAD_FAILED' && /build-native/.test(err.message),
  );
  assert.equal(openFds(), before);
});

test('close() detaches and frees everything: no fd, prog or link of ours remains', async (t) => {
  if (!needBpf(t)) return;
  // Warm-up: the first load in a process lets libbpf probe kernel features once; that is not per-session state.
  BpfSession.open().close();
  const fdsBefore = openFds();
  const idsBefore = bpfIdsHeld();

  const session = BpfSession.open();
  session.start(() => {}, (err) => assert.fail(err));
  const held = bpfIdsHeld();
  const progs = [...held.progs].filter((id) => !idsBefore.progs.has(id));
  const links = [...held.links].filter((id) => !idsBefore.links.has(id));
  assert.ok(progs.length >= 10, `expected our programs to be loaded, saw ${progs.length}`);
  assert.ok(links.length >= 10, `expected our links to be attached, saw ${links.length}`);
  assert.ok(progs.every((id) => bpftoolKnows('prog', id)));

  session.close();
  session.close(); // idempotent
  assert.throws(() => session.stats(), (err: unknown) => err instanceof PalisadeError);
  await sleep(20); // let libuv run the handle close callbacks
  assert.equal(openFds(), fdsBefore, 'fd count back to where it was');

  // The kernel frees programs after an RCU grace period, so allow a moment before they vanish from bpftool.
  const deadline = Date.now() + 3000;
  let left = [...progs.map((id) => ['prog', id] as const), ...links.map((id) => ['link', id] as const)];
  while (left.length > 0 && Date.now() < deadline) {
    left = left.filter(([kind, id]) => bpftoolKnows(kind, id));
    if (left.length > 0) await sleep(50);
  }
  assert.deepEqual(left, [], 'programs and links still known to the kernel after close()');
});

test('stats() reports every kernel and addon counter as a number', (t) => {
  if (!needBpf(t)) return;
  const session = BpfSession.open();
  try {
    const stats = session.stats();
    for (const name of [
      'events_emitted', 'ringbuf_output_failed', 'perfbuf_output_failed', 'scratch_missing', 'read_kernel_failed',
      'read_user_failed', 'stash_missing', 'stash_update_failed', 'perfbuf_lost', 'records_malformed',
      'records_delivered', 'batches_delivered',
    ]) {
      assert.equal(typeof stats[name], 'number', name);
    }
  } finally {
    session.close();
  }
});

test('start() twice is refused; start() after close() is refused', (t) => {
  if (!needBpf(t)) return;
  const session = BpfSession.open({ mode: 'perfbuf', perfBufferPages: 8 });
  session.start(() => {}, () => {});
  assert.throws(() => session.start(() => {}, () => {}), (err: unknown) => err instanceof PalisadeError);
  session.close();
  assert.throws(() => session.start(() => {}, () => {}), (err: unknown) => err instanceof PalisadeError);
});
