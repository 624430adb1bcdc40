import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test, type TestContext } from 'node:test';
import { PalisadeError } from '@palisade/common';
import { ABI } from '@palisade/common';
import { BpfSession, MAX_BATCH_BYTES_MIN, resolveSessionOptions, SESSION_DEFAULTS } from './bpf-session.js';
import { resolveKernelFilter } from './kernel-filter-compile.js';
import { toPalisadeError } from './native-errors.js';
import type { NativeErrorFields } from './native.js';
import { need, waitFor } from '@palisade/common/testing';
import { needBpf } from './kernel-test-support.js';



function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** prog, link and map ids held by this process's fds, from /proc/self/fdinfo. */
function bpfIdsHeld(): { progs: Set<number>; links: Set<number>; maps: Set<number> } {
  const progs = new Set<number>();
  const links = new Set<number>();
  const maps = new Set<number>();
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const link = /^link_id:\s+(\d+)/m.exec(info);
    const prog = /^prog_id:\s+(\d+)/m.exec(info);
    const map = /^map_id:\s+(\d+)/m.exec(info);
    if (link?.[1] !== undefined) links.add(Number(link[1]));
    else if (prog?.[1] !== undefined) progs.add(Number(prog[1]));
    else if (map?.[1] !== undefined) maps.add(Number(map[1]));
  }
  return { progs, links, maps };
}

function bpftoolKnows(kind: 'prog' | 'link' | 'map', id: number): boolean {
  try {
    execFileSync('bpftool', [kind, 'show', 'id', String(id)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('options are validated before anything crosses into native code', () => {
  const bad = [
    { ringBufferBytes: 1000 }, { perfBufferPages: 3 }, { drainIntervalMs: 0 }, { wakeupBytes: -1 }, { ringShards: -1 },
    { ringShards: 1.5 }, { maxBatchBytes: 65536 }, { maxBatchBytes: 2 ** 27 },
  ];
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
  assert.equal(resolved.ringShards, 0);
  assert.equal(resolved.maxBatchBytes, 2 * 1024 * 1024);
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
      { comm: 'sh', actions: ABI.constants.actionDrop | ABI.constants.actionSigkill, rate: 0, kinds: [] },
      { comm: 'nginx', actions: ABI.constants.actionDrop, rate: 0, kinds: [] },
    ],
    binaryPrefixes: [],
    exes: [],
    exePrefixes: [],
    pathPrefixes: [{ prefix: '/tmp/', actions: ABI.constants.actionSigkill }],
    cgroups: [],
    cgroupOnly: false,
    ports: [],
    rates: [],
    kindsDropped: [],
    flags: ABI.constants.filterEmitKillEvents,
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
  assert.deepEqual(resolved.binaryPrefixes, [{ prefix: 'kworker/', actions: ABI.constants.actionDrop, rate: 0, kinds: [1, 3] }]);
  assert.deepEqual(resolved.cgroups, [
    { id: 7, actions: ABI.constants.actionDrop, rate: 0, kinds: [] },
    { id: 9, actions: ABI.constants.actionPost | ABI.constants.actionListed, rate: 2, kinds: [] },
    { id: 11, actions: ABI.constants.actionListed, rate: 0, kinds: [] },
  ]);
  assert.equal(resolved.cgroupOnly, true);
  assert.deepEqual(resolved.ports, [{ port: 53, actions: ABI.constants.actionDrop, rate: 0, kinds: [] }]);
  assert.equal(resolved.kindsDropped.length, 63 - 4);
  assert.deepEqual(resolved.kindsDropped.slice(0, 3), [5, 6, 7]);
  assert.throws(() => resolveKernelFilter({
    binaries: [{ comm: 'a', action: 'drop' }, { comm: 'a', action: 'drop', kinds: [3] }], pathPrefixes: [],
  }), /repeats a key/);
});

test('native {errno, code, op} errors become typed PalisadeErrors', () => {
  const mk = (op: string, code: string, kind: NativeErrorFields['kind'], uid = 1000): PalisadeError =>
    toPalisadeError({ errno: 1, code, op, kind }, { uid });
  // The code is the one the addon decided, whatever the op says.
  assert.equal(mk('bpf_object__load', 'EINVAL', 'BPF_LOAD_FAILED').code, 'BPF_LOAD_FAILED');
  assert.equal(mk('bpf_program__attach(pal_exec)', 'ENOTSUPP', 'BPF_ATTACH_FAILED').code, 'BPF_ATTACH_FAILED');
  assert.equal(mk('bpf_map_update_elem(pal_rings)', 'E2BIG', 'BPF_LOAD_FAILED').code, 'BPF_LOAD_FAILED');
  const poll = mk('ring_buffer__consume', 'EBADF', 'BPF_POLL_FAILED');
  assert.equal(poll.code, 'BPF_POLL_FAILED');
  assert.equal(poll.retriable, true);
  assert.match(mk('bpf_object__load', 'EPERM', 'BPF_LOAD_FAILED').message, /root/);
  // As root, the verifier's EACCES is its verdict on a program, not a missing capability.
  const verifier = mk('bpf_object__load(pal_exec)', 'EACCES', 'BPF_LOAD_FAILED', 0);
  assert.doesNotMatch(verifier.message, /needs root/);
  assert.match(verifier.message, /verifier refused the required program pal_exec/);
  assert.match(mk('required program pal_exec (tp_btf/sched_process_exec): no raw tracepoint', 'ENOENT',
    'BPF_ATTACH_FAILED').message, /palisade probe/);
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

const TEST_OBJECTS = fileURLToPath(new URL('../../../build/bpf/test/', import.meta.url));

test('every program says what it produces; the core ones are required, and all whose hook exists attach', (t) => {
  if (!needBpf(t)) return;
  const session = BpfSession.open();
  try {
    const programs = session.programs();
    assert.ok(programs.length >= 70, `expected the whole object, saw ${programs.length} programs`);
    const kinds = new Set<string>(ABI.kinds.map((k) => k.name));
    for (const p of programs) assert.ok(kinds.has(p.kind), `${p.name} has no PAL_KIND tag naming a registry kind (got '${p.kind}')`);
    assert.deepEqual(programs.filter((p) => p.required).map((p) => p.name).sort(),
      ['pal_connect_in', 'pal_connect_out', 'pal_exec', 'pal_exit', 'pal_fork', 'pal_openat_in', 'pal_openat_out']);
    // Left out only when this kernel lacks the hook (here: no module syscalls), never refused by the verifier.
    for (const p of programs.filter((q) => !q.attached)) {
      assert.ok(!p.required && /^no (tracepoint|raw tracepoint) /.test(p.reason), `${p.name} not attached: ${p.reason}`);
    }
  } finally {
    session.close();
  }
});

test('an optional program whose hook is missing, or that the verifier refuses, is left out and reported', async (t) => {
  if (!needBpf(t)) return;
  const session = BpfSession.open({ objectPath: join(TEST_OBJECTS, 'palisade-optional-hooks.bpf.o') });
  try {
    const programs = session.programs();
    const byName = new Map(programs.map((p) => [p.name, p]));
    assert.equal(byName.get('pal_test_missing_hook')?.attached, false);
    assert.match(byName.get('pal_test_missing_hook')?.reason ?? '', /no tracepoint syscalls\/sys_enter_palisade_no_such_syscall/);
    assert.equal(byName.get('pal_test_refused')?.attached, false);
    assert.match(byName.get('pal_test_refused')?.reason ?? '', /refused by the verifier: .*invalid mem access/);
    // Everything else attached (and the session works: an open is seen), unless this kernel lacks its hook (module syscalls, here).
    assert.deepEqual(programs.filter((p) => !p.attached && !/^no tracepoint syscalls\/sys_(enter|exit)_(f?init_module)$/.test(p.reason))
      .map((p) => p.name).sort(), ['pal_test_missing_hook', 'pal_test_refused']);
    const seen: Buffer[] = [];
    session.start((b) => seen.push(b), (err) => assert.fail(err));
    const marker = join(tmpdir(), `pal-optional-${randomBytes(4).toString('hex')}`);
    writeFileSync(marker, 'x');
    execFileSync('cat', [marker], { stdio: 'ignore' });  // a child: the session ignores this process's own opens
    rmSync(marker);
    await waitFor('the open of the marker file in a batch', () => seen.some((b) => b.includes(Buffer.from(marker))));
  } finally {
    session.close();
  }
});

test('a required program whose hook is missing fails the session, naming it, and leaks no fd', (t) => {
  if (!needBpf(t)) return;
  const before = openFds();
  assert.throws(
    () => BpfSession.open({ objectPath: join(TEST_OBJECTS, 'palisade-required-missing.bpf.o') }),
    (err: unknown) => err instanceof PalisadeError && err.code === 'BPF_ATTACH_FAILED' &&
      /required program pal_test_required_missing/.test(err.message) && /palisade probe/.test(err.message),
  );
  assert.equal(openFds(), before);
});

test('detachAndDrain() stops new records and delivers every one the kernel emitted (a SIGTERM loses nothing)', async (t) => {
  if (!needBpf(t)) return;
  const session = BpfSession.open({ drainIntervalMs: 10_000, wakeupBytes: 1 << 20 }); // only the final drain delivers
  try {
    let delivered = 0;
    session.start((b) => { for (let off = 0; off < b.length; off += b.readUInt16LE(off + 2)) delivered++; }, (err) => assert.fail(err));
    execFileSync('sh', ['-c', 'for i in $(seq 300); do cat /etc/hostname; done'], { stdio: 'ignore' });
    const drained = session.detachAndDrain();
    const s = session.stats();
    assert.ok(drained > 0, 'the final drain delivered what the rings held');
    assert.equal(s['records_delivered'], s['events_emitted'], 'every record the kernel emitted reached onBatch');
    assert.equal(delivered, s['records_delivered']);
    assert.ok(session.programs().every((p) => !p.attached), 'the programs are detached');
    execFileSync('cat', ['/etc/hostname'], { stdio: 'ignore' });
    assert.equal(session.stats()['events_emitted'], s['events_emitted'], 'nothing is emitted after the detach');
  } finally {
    session.close();
  }
});

test('close() detaches and frees everything: no fd, prog, link or map of ours remains', async (t) => {
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
  const maps = [...held.maps].filter((id) => !idsBefore.maps.has(id));
  assert.ok(progs.length >= 10, `expected our programs to be loaded, saw ${progs.length}`);
  assert.ok(links.length >= 10, `expected our links to be attached, saw ${links.length}`);
  // The shard rings are held by fds of ours (and by pal_rings): they must go too.
  const shards = session.ringStats().shards;
  assert.ok(shards >= 1);
  assert.ok(maps.length >= shards + 1, `expected our maps (pal_rings and ${shards} shard rings) held, saw ${maps.length}`);
  assert.ok(progs.every((id) => bpftoolKnows('prog', id)));

  session.close();
  session.close(); // idempotent
  assert.throws(() => session.stats(), (err: unknown) => err instanceof PalisadeError);
  // libuv closes the poll handles' fds in its close callbacks, on a later turn of the loop.
  await waitFor('the fd count back to where it was', () => {
    assert.equal(openFds(), fdsBefore);
    return true;
  });

  // The kernel frees programs after an RCU grace period, so they vanish from bpftool a moment later.
  let left = [
    ...progs.map((id) => ['prog', id] as const), ...links.map((id) => ['link', id] as const),
    ...maps.map((id) => ['map', id] as const),
  ];
  await waitFor('the kernel to free our programs, links and maps', () => {
    left = left.filter(([kind, id]) => bpftoolKnows(kind, id));
    assert.deepEqual(left, [], 'programs, links or maps still known to the kernel after close()');
    return true;
  }, { intervalMs: 50 });
});

test('stats() reports every kernel and addon counter as a number', (t) => {
  if (!needBpf(t)) return;
  const session = BpfSession.open();
  try {
    const stats = session.stats();
    for (const name of [
      'events_emitted', 'ringbuf_output_failed', 'perfbuf_output_failed', 'scratch_missing', 'read_kernel_failed',
      'read_user_failed', 'stash_missing', 'stash_update_failed', 'perfbuf_lost', 'records_malformed',
      'records_delivered', 'batches_delivered', 'ringbuf_shard_missing', 'drains_capped',
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

const execFileAsync = promisify(execFile);

/** How often `needle` occurs in `batch` (once per file_open record: see markers()). */
function occurrences(batch: Buffer, needle: Buffer): number {
  let n = 0;
  for (let at = batch.indexOf(needle); at !== -1; at = batch.indexOf(needle, at + needle.length)) n++;
  return n;
}

/** `opens` openat()s of `path` by a dash pinned to `cpu` (`: < file` opens in-process, no fork per iteration). */
async function openOnCpu(cpu: number, path: string, opens: number): Promise<void> {
  await execFileAsync('taskset', ['-c', String(cpu), 'sh', '-c', `i=0; while [ $i -lt ${opens} ]; do : < ${path}; i=$((i+1)); done`]);
}

/** Marker files, one per CPU, each a distinct path the storm opens; removed by the returned cleanup. */
function markers(count: number): { paths: string[]; needles: Buffer[]; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-shard-'));
  const paths = Array.from({ length: count }, (_, i) => join(dir, `cpu${i}-${randomBytes(4).toString('hex')}`));
  for (const p of paths) writeFileSync(p, 'x');
  // A file_open record holds the resolved path, then the string as passed: both are p here, back to back.
  return { paths, needles: paths.map((p) => Buffer.from(`${p}\0${p}\0`)), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function needTwoCpus(t: TestContext): boolean {
  return need(t, availableParallelism() >= 2, 'the ring shard tests need 2 CPUs');
}

test('ring shards: processes on CPU 0 and CPU 1 each reach userspace, through their own shard', async (t) => {
  if (!needBpf(t) || !needTwoCpus(t)) return;
  const { paths, needles, cleanup } = markers(2);
  const session = BpfSession.open({ ringShards: 2 });
  const seen = [0, 0];
  try {
    session.start((batch) => {
      for (let i = 0; i < needles.length; i++) seen[i]! += occurrences(batch, needles[i]!);
    }, (err) => assert.fail(err));
    const rings = session.ringStats();
    assert.equal(rings.shards, 2);
    assert.equal(rings.shardBytes, SESSION_DEFAULTS.ringBufferBytes / 2);
    const before = [...rings.records];
    const opens = 3000;
    await Promise.all([openOnCpu(0, paths[0]!, opens), openOnCpu(1, paths[1]!, opens)]);
    await waitFor(`${opens} opens of each CPU`, () => {
      assert.ok(seen[0]! >= opens && seen[1]! >= opens, `delivered so far: ${seen.join(' and ')}`);
      return true;
    });
    assert.deepEqual(seen, [opens, opens], 'every open of each CPU delivered, once');
    const after = session.ringStats().records;
    // Each child's opens went through its CPU's shard (other processes add to either, never take away).
    assert.ok(after[0]! - before[0]! >= opens, `shard 0 delivered ${after[0]! - before[0]!} records for ${opens} opens on CPU 0`);
    assert.ok(after[1]! - before[1]! >= opens, `shard 1 delivered ${after[1]! - before[1]!} records for ${opens} opens on CPU 1`);
    assert.equal(session.stats().ringbuf_shard_missing, 0);
  } finally {
    session.close();
    cleanup();
  }
});

test('a drain hands JS at most maxBatchBytes, and a capped drain carries on until the rings are empty', async (t) => {
  if (!needBpf(t) || !needTwoCpus(t)) return;
  const { paths, needles, cleanup } = markers(2);
  const cap = MAX_BATCH_BYTES_MIN;
  // Big rings and a watermark and timer that let far more than the cap pile up between drains.
  const session = BpfSession.open({ ringShards: 2, ringBufferBytes: 16 << 20, wakeupBytes: 4 << 20, drainIntervalMs: 200, maxBatchBytes: cap });
  const seen = [0, 0];
  let largest = 0;
  try {
    session.start((batch) => {
      largest = Math.max(largest, batch.length);
      for (let i = 0; i < needles.length; i++) seen[i]! += occurrences(batch, needles[i]!);
    }, (err) => assert.fail(err));
    const before = session.stats();
    const opens = 10_000;
    await Promise.all([openOnCpu(0, paths[0]!, opens), openOnCpu(1, paths[1]!, opens)]);
    await waitFor(`${opens} opens of each CPU`, () => {
      const dropped = session.stats().ringbuf_output_failed! - before.ringbuf_output_failed!;
      assert.ok(seen[0]! >= opens && seen[1]! >= opens, `delivered so far: ${seen.join(' and ')}; dropped: ${dropped}`);
      return true;
    });
    const after = session.stats();
    assert.equal(after.ringbuf_output_failed! - before.ringbuf_output_failed!, 0, 'the rings were big enough: nothing dropped');
    assert.deepEqual(seen, [opens, opens], 'every open delivered once, nothing left behind in a ring');
    assert.ok(after.drains_capped! - before.drains_capped! > 0, 'the storm never filled a batch: the cap was not exercised');
    assert.ok(largest <= cap, `a batch of ${largest} bytes crossed; the cap is ${cap}`);
    assert.ok(session.ringStats().batchBytesMax <= cap);
  } finally {
    session.close();
    cleanup();
  }
});

test('perf buffer mode still delivers (no shards, the rings shrunk to one page)', async (t) => {
  if (!needBpf(t)) return;
  const { paths, needles, cleanup } = markers(1);
  const session = BpfSession.open({ mode: 'perfbuf', perfBufferPages: 64 });
  let seen = 0;
  try {
    session.start((batch) => { seen += occurrences(batch, needles[0]!); }, (err) => assert.fail(err));
    assert.equal(session.ringStats().shards, 0);
    const opens = 500;
    await openOnCpu(0, paths[0]!, opens);
    await waitFor(`${opens} opens`, () => {
      assert.ok(seen >= opens, `delivered so far: ${seen}`);
      return true;
    });
    assert.equal(seen, opens);
    assert.equal(session.stats().perfbuf_lost, 0);
  } finally {
    session.close();
    cleanup();
  }
});
