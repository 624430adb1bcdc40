// Each hook: make the real syscall from a child placed in a fresh cgroup v2, then find its event.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { pb, type palisade } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { need } from '@palisade/common/testing';
import { DEFAULT_CGROUP2_ROOT } from './cgroup-resolver.js';
import { KernelSource } from './kernel-source.js';
import { bpfUnavailable, needBpf, removeCgroup } from './kernel-test-support.js';

type RawEvent = palisade.v1.IRawEvent;

interface TestCgroup {
  name: string;
  dir: string;
  id: number;
}

function makeCgroup(): TestCgroup {
  const name = `palisade-test-${randomBytes(4).toString('hex')}`;
  const dir = join(DEFAULT_CGROUP2_ROOT, name);
  mkdirSync(dir);
  return { name, dir, id: Number(statSync(dir, { bigint: true }).ino) };
}

interface ChildResult {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs `script` in a shell that first moves itself into the cgroup, so whatever it execs runs inside. */
function runInCgroup(cg: TestCgroup, script: string, onSpawn?: (pid: number) => void): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `echo $$ > ${cg.dir}/cgroup.procs && ${script}`], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('spawn', () => onSpawn?.(child.pid ?? 0));
    child.once('exit', (code, signal) => resolve({ pid: child.pid ?? 0, code, signal }));
  });
}

const O_WRONLY = 0o1;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;

let cg: TestCgroup | undefined;
let source: KernelSource | undefined;
const events: RawEvent[] = [];

before(() => {
  if (bpfUnavailable !== undefined) return;
  cg = makeCgroup();
  const ours = cg.id;
  // A short walk interval: the test cgroup is new, and a walk triggered just before it existed must not hide it.
  source = new KernelSource({ cgroupWalkIntervalMs: 0 });
  // Keep only our test cgroup's events: the whole node's activity goes through the buffer.
  source.start((batch) => events.push(...batch.filter((e) => e.process?.cgroupId === ours)));
});

after(async () => {
  source?.close();
  if (cg !== undefined) await removeCgroup(cg.dir);
});

function ofPid(pid: number, kind: palisade.v1.EventKind): RawEvent[] {
  return events.filter((e) => e.process?.pid === pid && e.kind === kind);
}

test('exec: filename, argv, cgroup id/name/path, parent, creds and binary', async (t) => {
  if (!needBpf(t) || cg === undefined) return;
  const { pid } = await runInCgroup(cg, 'exec cat /etc/hostname');
  const exec = await waitFor('exec event', () => ofPid(pid, pb.EventKind.EVENT_KIND_PROCESS_EXEC)[0]);
  assert.match(exec.exec?.filename ?? '', /\/cat$/);
  assert.deepEqual(exec.exec?.argv, ['cat', '/etc/hostname']);
  assert.equal(exec.exec?.argvTruncated, false);
  assert.equal(exec.exec?.cgroupName, cg.name);
  assert.equal(exec.process?.cgroupId, cg.id);
  assert.equal(exec.process?.cgroupPath, `/${cg.name}`);
  assert.equal(exec.process?.tid, pid);
  assert.equal(exec.process?.ppid, process.pid);
  assert.equal(exec.process?.parentComm, readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim());
  assert.equal(exec.process?.comm, 'cat');
  assert.equal(exec.process?.uid, process.getuid?.());
  assert.equal(exec.process?.euid, process.geteuid?.());
  assert.equal(exec.process?.gid, process.getgid?.());
  assert.equal(exec.process?.binary, exec.exec?.filename);
  const skewMs = Math.abs((exec.timeUnixNano ?? 0) / 1e6 - Date.now());
  assert.ok(skewMs < 10_000, `timestamp ${skewMs} ms away from now: boottime->realtime offset wrong`);
});

test('exec: argv is bounded to the max arg count and flagged truncated', async (t) => {
  if (!needBpf(t) || cg === undefined) return;
  const args = Array.from({ length: 30 }, (_, i) => `arg${i}`);
  const { pid } = await runInCgroup(cg, `exec /bin/echo ${args.join(' ')} > /dev/null`);
  const exec = await waitFor('exec event', () => ofPid(pid, pb.EventKind.EVENT_KIND_PROCESS_EXEC)[0]);
  assert.equal(exec.exec?.argv?.length, 20);
  assert.deepEqual(exec.exec?.argv?.slice(0, 3), ['/bin/echo', 'arg0', 'arg1']);
  assert.equal(exec.exec?.argvTruncated, true);
});

test('file open: openat path, flags, mode and result, for success, failure and create', async (t) => {
  if (!needBpf(t) || cg === undefined) return;
  const missing = `/nonexistent-palisade-${randomBytes(4).toString('hex')}`;
  const created = join(tmpdir(), `palisade-open-${randomBytes(4).toString('hex')}`);
  try {
    const ok = await runInCgroup(cg, 'exec cat /etc/hostname');
    const failed = await runInCgroup(cg, `exec cat ${missing}`);
    const create = await runInCgroup(cg, `echo hi > ${created}`);
    const findOpen = (pid: number, path: string): RawEvent | undefined =>
      ofPid(pid, pb.EventKind.EVENT_KIND_FILE_OPEN).find((e) => e.fileOpen?.path === path);

    const e1 = await waitFor('open of /etc/hostname', () => findOpen(ok.pid, '/etc/hostname'));
    assert.equal(e1.fileOpen?.syscall, 'openat');
    assert.equal((e1.fileOpen?.flags ?? -1) & 3, 0, 'O_RDONLY');
    assert.ok((e1.fileOpen?.result ?? -1) >= 0, 'an fd');
    assert.equal(e1.process?.binary, ofPid(ok.pid, pb.EventKind.EVENT_KIND_PROCESS_EXEC)[0]?.exec?.filename);

    const e2 = await waitFor('failed open', () => findOpen(failed.pid, missing));
    assert.equal(e2.fileOpen?.result, -2, '-ENOENT');

    const e3 = await waitFor('creating open', () => findOpen(create.pid, created));
    const flags = e3.fileOpen?.flags ?? 0;
    assert.equal(flags & (O_WRONLY | O_CREAT | O_TRUNC), O_WRONLY | O_CREAT | O_TRUNC);
    assert.equal(e3.fileOpen?.mode, 0o666);
    assert.equal(e3.process?.cgroupId, cg.id);
  } finally {
    rmSync(created, { force: true });
  }
});

test('file open: openat2 reports open_how flags', async (t) => {
  if (!needBpf(t) || cg === undefined) return;
  const python = ['/usr/bin/python3', ...(process.env.PATH ?? '').split(':').map((d) => join(d, 'python3'))].find(
    (p) => existsSync(p),
  );
  if (!need(t, python !== undefined, 'python3 not found: nothing else here issues openat2')) return;
  const script =
    'import ctypes,struct,os;' +
    'libc=ctypes.CDLL(None,use_errno=True);' +
    'how=struct.pack("QQQ",os.O_RDONLY|os.O_CLOEXEC,0,0);' +
    'print(libc.syscall(437,-100,b"/etc/hostname",how,24))';
  const { pid } = await runInCgroup(cg, `exec ${python} -c '${script}'`);
  const e = await waitFor('openat2 event',
    () => ofPid(pid, pb.EventKind.EVENT_KIND_FILE_OPEN).find((x) => x.fileOpen?.syscall === 'openat2'));
  assert.equal(e.fileOpen?.path, '/etc/hostname');
  assert.equal(e.fileOpen?.flags, 0o2000000, 'O_CLOEXEC from open_how');
  assert.ok((e.fileOpen?.result ?? -1) >= 0);
});

test('exit: exit code, and the signal that killed the thread group', async (t) => {
  if (!needBpf(t) || cg === undefined) return;
  const normal = await runInCgroup(cg, 'exit 7');
  assert.equal(normal.code, 7);
  const e1 = await waitFor('exit event', () => ofPid(normal.pid, pb.EventKind.EVENT_KIND_PROCESS_EXIT)[0]);
  assert.deepEqual(e1.exit, { exitCode: 7, signal: 0 });
  assert.equal(e1.process?.ppid, process.pid);

  const killed = await runInCgroup(cg, 'exec sleep 30', (pid) => {
    // Kill once the shell has moved itself and exec'd, so that the kill hits sleep.
    void waitFor('the shell to exec sleep', () => readlinkSync(`/proc/${pid}/exe`).endsWith('/sleep'))
      .finally(() => process.kill(pid, 'SIGKILL'));
  });
  assert.equal(killed.signal, 'SIGKILL');
  const e2 = await waitFor('exit event', () => ofPid(killed.pid, pb.EventKind.EVENT_KIND_PROCESS_EXIT)[0]);
  assert.deepEqual(e2.exit, { exitCode: 0, signal: 9 });
  assert.match(e2.process?.binary ?? '', /\/sleep$/, 'binary remembered from the exec');
  assert.equal(ofPid(killed.pid, pb.EventKind.EVENT_KIND_PROCESS_EXIT).length, 1, 'one exit per thread group');
});

async function listen(host: string): Promise<{ server: Server; port: number }> {
  const server = createServer((sock) => sock.destroy());
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  return { server, port: addr.port };
}

test('connect: 127.0.0.1 and [::1] with port, result and protocol', async (t) => {
  if (!needBpf(t) || cg === undefined) return;
  if (!need(t, existsSync('/bin/bash'), 'bash (for /dev/tcp) not found')) return;
  const v4 = await listen('127.0.0.1');
  const v6 = await listen('::1');
  try {
    const c4 = await runInCgroup(cg, `exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/${v4.port}'`);
    const c6 = await runInCgroup(cg, `exec bash -c 'exec 3<>/dev/tcp/::1/${v6.port}'`);
    const e4 = await waitFor('IPv4 connect', () => ofPid(c4.pid, pb.EventKind.EVENT_KIND_NET_CONNECT)[0]);
    assert.deepEqual(e4.netConnect, {
      family: pb.AddressFamily.ADDRESS_FAMILY_INET, daddr: '127.0.0.1', dport: v4.port, result: 0, protocol: 'tcp',
    });
    const e6 = await waitFor('IPv6 connect', () => ofPid(c6.pid, pb.EventKind.EVENT_KIND_NET_CONNECT)[0]);
    assert.deepEqual(e6.netConnect, {
      family: pb.AddressFamily.ADDRESS_FAMILY_INET6, daddr: '::1', dport: v6.port, result: 0, protocol: 'tcp',
    });
    assert.equal(e6.process?.cgroupId, cg.id);
  } finally {
    v4.server.close();
    v6.server.close();
  }
  // A refused connect is reported with its errno.
  const closed = await listen('127.0.0.1');
  closed.server.close();
  const refused = await runInCgroup(cg, `exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/${closed.port}' 2>/dev/null`);
  const e = await waitFor('refused connect', () => ofPid(refused.pid, pb.EventKind.EVENT_KIND_NET_CONNECT)[0]);
  assert.equal(e.netConnect?.result, -111, '-ECONNREFUSED');
});

test('stats: kernel counters by reason and the decode error count', (t) => {
  if (!needBpf(t) || source === undefined) return;
  const stats = source.stats();
  assert.ok((stats.counters.events_emitted ?? 0) > 0);
  assert.equal(stats.kernel.events_emitted, undefined, 'throughput counters are not losses');
  assert.equal(typeof stats.kernel.ringbuf_output_failed, 'number');
  assert.equal(typeof stats.kernel.stash_missing, 'number');
  assert.equal(stats.decodeErrors, 0);
});

test('perf buffer mode delivers the same events', async (t) => {
  if (!needBpf(t) || cg === undefined) return;
  const ours = cg.id;
  const perfEvents: RawEvent[] = [];
  const perf = new KernelSource({ mode: 'perfbuf', perfBufferPages: 64, cgroupWalkIntervalMs: 0 });
  perf.start((batch) => perfEvents.push(...batch.filter((e) => e.process?.cgroupId === ours)));
  try {
    const { pid } = await runInCgroup(cg, 'exec cat /etc/hostname');
    const exec = await waitFor('exec event over perf buffer',
      () => perfEvents.find((e) => e.process?.pid === pid && e.kind === pb.EventKind.EVENT_KIND_PROCESS_EXEC));
    assert.deepEqual(exec.exec?.argv, ['cat', '/etc/hostname']);
    await waitFor('open event over perf buffer',
      () => perfEvents.find((e) => e.process?.pid === pid && e.fileOpen?.path === '/etc/hostname'));
    // Not perfbuf_lost == 0: the buffer carries every process on the node, and a burst elsewhere (a build, another
    // test) can overrun it. What must hold is that an overrun is counted as perf loss, never decoded as garbage.
    assert.equal(perf.stats().decodeErrors, 0);
  } finally {
    perf.close();
  }
});

test('loss: a small ring buffer under a storm counts what it drops, offered = delivered + lost', async (t) => {
  if (!needBpf(t) || cg === undefined) return;
  const ours = cg.id;
  const dir = join(tmpdir(), `palisade-loss-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir);
  const target = join(dir, 'storm');
  writeFileSync(target, 'x');
  // 16 KiB holds about a hundred open records: drained every few ms, it cannot keep up with a shell opening a file
  // 200k times a second, so the kernel must drop, and count what it drops.
  const small = new KernelSource({ ringBufferBytes: 16384, cgroupWalkIntervalMs: 0 });
  let delivered = 0;
  let others = 0;
  let lastStormEventAt = Date.now();
  small.start((batch) => {
    for (const e of batch) {
      if (e.process?.cgroupId === ours && e.fileOpen?.path === target) {
        delivered++;
        lastStormEventAt = Date.now();
      } else {
        others++;
      }
    }
  });
  try {
    await sleep(200); // let the start-up burst drain before the window opens
    const before = small.stats();
    const othersBefore = others;
    // dash runs `: < file` in-process: exactly one openat of the target per iteration, no fork.
    const offered = 200_000;
    const { code } = await runInCgroup(cg, `i=0; while [ $i -lt ${offered} ]; do : < ${target}; i=$((i+1)); done`);
    assert.equal(code, 0);
    // The shell has exited, so every record of the storm is in the ring or counted lost; a quiet spell means the
    // ring has been drained of them.
    await waitFor('300 ms without a storm event', () => Date.now() - lastStormEventAt >= 300, { intervalMs: 50 });
    const after = small.stats();
    const counted = (after.kernel.ringbuf_output_failed ?? 0) - (before.kernel.ringbuf_output_failed ?? 0);
    const stormLost = offered - delivered;
    const othersSeen = others - othersBefore;
    t.diagnostic(`offered ${offered}, delivered ${delivered}, counted lost ${counted}, other events seen ${othersSeen}`);
    assert.ok(counted > 0, `a 16 KiB buffer under ${offered} opens dropped nothing: the storm is too small to test loss`);
    assert.ok(delivered > 0, 'nothing of the storm delivered');
    // The counters are the session's, for every process on the node, not only the storm's: what other processes lost
    // in the same window is counted too. So the storm's loss is at most what was counted, and what was counted beyond
    // it is other processes' loss, which can be at most a little more than theirs that we saw, at the storm's own
    // loss ratio (doubled, plus a constant, for a node busy in bursts). A drop that is not counted fails the first
    // assertion; a counter that counts too much (or a delivery lost in userspace) fails the second.
    assert.ok(stormLost <= counted, `storm lost ${stormLost} (of ${offered}, ${delivered} delivered) but only ${counted} counted`);
    const othersLostBound = 2 * othersSeen * (stormLost / delivered) + 100;
    assert.ok(counted - stormLost <= othersLostBound,
      `counted ${counted} but the storm lost ${stormLost}; other processes' ${othersSeen} events cannot explain ` +
      `${counted - stormLost} more (bound ${Math.round(othersLostBound)})`);
    assert.equal(after.decodeErrors - before.decodeErrors, 0);
  } finally {
    small.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a drain that interleaves CPU shards is put back in kernel order before the process cache sees it', async () => {
  const { inKernelOrder } = await import('./kernel-source.js');
  const ev = (t: number, pid: number): RawEvent => ({ kind: 1, timeUnixNano: t, process: { pid } });
  // Shard of CPU 0 (a parent's exec at t=10), then shard of CPU 1 (its child's exec at t=20, an older event at t=5).
  const drained = [ev(10, 1), ev(30, 1), ev(5, 2), ev(20, 2), ev(20, 3)];
  assert.deepEqual(inKernelOrder(drained).map((e) => [e.timeUnixNano, e.process?.pid]),
    [[5, 2], [10, 1], [20, 2], [20, 3], [30, 1]], 'ties keep their shard order');
  const ordered = [ev(1, 1), ev(2, 1)];
  assert.equal(inKernelOrder(ordered), ordered, 'an ordered batch is returned as is');
});

test('the encoded path writes the bytes start() + RawBatchEncoder.add() write, event for event', async () => {
  const { RecordEncoder } = await import('./kernel-source.js');
  const { CgroupResolver } = await import('./cgroup-resolver.js');
  const { EventDecoder, LAYOUT } = await import('./event-decoder.js');
  const { ProcessCache } = await import('./process-cache.js');
  const { RawBatchEncoder } = await import('./raw-batch-encoder.js');
  const H = LAYOUT.header.fields;
  const FO = LAYOUT.fileOpen.fields;
  const root = join(tmpdir(), `palisade-ks-${randomBytes(4).toString('hex')}`);
  const procRoot = join(root, 'proc');
  mkdirSync(join(root, 'cg', 'pod'), { recursive: true });
  mkdirSync(procRoot, { recursive: true });
  const podCgroup = BigInt(statSync(join(root, 'cg', 'pod')).ino);
  const header = (buf: Buffer, kind: number, ts: bigint, pid: number, ppid: number, comm: string, cgroup: bigint): void => {
    buf.writeUInt16LE(kind, H.kind);
    buf.writeUInt16LE(buf.length, H.size);
    buf.writeUInt32LE(1, H.cpu);
    buf.writeBigUInt64LE(ts, H.ts_ns);
    buf.writeUInt32LE(pid, H.pid);
    buf.writeUInt32LE(pid + 1, H.tid);
    buf.writeUInt32LE(ppid, H.ppid);
    buf.writeUInt32LE(1000, H.uid);
    buf.writeUInt32LE(1001, H.gid);
    buf.writeUInt32LE(0, H.euid);
    buf.writeBigUInt64LE(cgroup, H.cgroup_id);
    buf.write(comm, H.comm);
    buf.write('bash', H.parent_comm);
  };
  // A file_open record: the path, then the string as passed (`arg`, by default the same bytes), with path_flags.
  const C = LAYOUT.constants;
  const open = (ts: bigint, pid: number, path: Buffer, flags: number, result = 3n, pathLen = path.length + 1,
    arg: Buffer = path, pathFlags: number = C.pathResolved, writeFlags = 0): Buffer => {
    const argLen = arg.length + 1;
    const buf = Buffer.alloc(FO.path + pathLen + argLen);
    header(buf, 3, ts, pid, 100, 'cat', podCgroup);
    buf.writeBigInt64LE(result, FO.result);
    buf.writeBigUInt64LE(BigInt(flags >>> 0), FO.flags);
    buf.writeUInt32LE(0o644, FO.mode);
    buf.writeUInt16LE(1, FO.syscall);
    buf.writeUInt16LE(pathLen, FO.path_len);
    buf.writeUInt16LE(argLen, FO.arg_len);
    buf.writeUInt8(pathFlags, FO.path_flags);
    buf.writeUInt8(writeFlags, FO.write_flags);
    path.copy(buf, FO.path, 0, Math.min(path.length, pathLen));
    arg.copy(buf, FO.path + pathLen);
    return buf;
  };
  const exec = (ts: bigint, pid: number, filename: string): Buffer => {
    const buf = Buffer.alloc(LAYOUT.exec.fields.args);
    header(buf, 1, ts, pid, 100, 'sh', 7n);
    buf.write(filename, LAYOUT.exec.fields.filename);
    return buf;
  };
  const exit = (ts: bigint, pid: number): Buffer => {
    const buf = Buffer.alloc(LAYOUT.exit.sizeof);
    header(buf, 2, ts, pid, 100, 'sh', 7n);
    return buf;
  };
  const batches = [
    Buffer.concat([
      open(1000n, 200, Buffer.from('/tmp/storm-file'), 0),
      open(1001n, 200, Buffer.from('/tmp/storm-file'), 0, -2n),
      exec(1002n, 201, '/usr/bin/curl'),
      open(1003n, 201, Buffer.from('/etc/passwd'), 0o1 | 0o1000),
      open(1004n, 201, Buffer.from(`/var/${'x'.repeat(200)}`), 0), // a two-byte path length
      open(1005n, 201, Buffer.from('/tmp/naïve-文件'), 0),
      open(1006n, 201, Buffer.from([0x2f, 0x74, 0xff, 0xfe, 0x41]), 0), // invalid UTF-8: U+FFFD, as the string path
      open(1007n, 201, Buffer.from('/tmp/cut-at-nul\0garbage'), 0, 3n, 30),
      open(1008n, 201, Buffer.from('/tmp/neg'), -1),
      // Kernel-resolved paths and the string as passed: different, unresolved (folded in JS), flagged, empty.
      open(1010n, 201, Buffer.from('/etc/shadow'), 0, 3n, 12, Buffer.from('/sys/fs/cgroup/../../../etc/shadow')),
      open(1011n, 201, Buffer.from('/etc/shadow'), 0o1, 3n, 12, Buffer.from('/proc/self/root/etc/shadow')),
      open(1012n, 201, Buffer.from('/sys/fs/cgroup/../../etc/x'), 0, -2n, 27, undefined, 0),
      open(1013n, 201, Buffer.from('/etc//passwd'), 0o1, -13n, 13, undefined, C.pathCwdJoined),
      open(1014n, 201, Buffer.from('.../deep/x'), 0, 3n, 11, Buffer.from('x'), C.pathResolved | C.pathTruncated),
      open(1015n, 201, Buffer.from('/x'), 0, 3n, 3, Buffer.from('/x'), C.pathResolved | C.pathOutsideRoot),
      open(1016n, 201, Buffer.from('/t/x'), 0, 3n, 5, Buffer.from([0x2f, 0x74, 0xff, 0x41])),
      open(1017n, 201, Buffer.from('/t/x'), 0, 3n, 5, Buffer.from('')),
      // Write intent and truncation bits: each one alone, and a "> existing log" with all it implies.
      ...[C.fileWrite, C.fileTrunc, C.fileAppend, C.fileCreat, C.fileCreated, C.fileTruncatedExisting].map((w, i) =>
        open(BigInt(1020 + i), 201, Buffer.from('/var/log/a'), 0o1101, 3n, 11, undefined, C.pathResolved, w)),
      open(1030n, 201, Buffer.from('/var/log/auth.log'), 0o1101, 3n, 18, undefined, C.pathResolved,
        C.fileWrite | C.fileTrunc | C.fileCreat | C.fileTruncatedExisting),
      exit(1018n, 201),
    ]),
    // Two CPU shards out of order, and a malformed open (path_len beyond its size) in the middle.
    Buffer.concat([
      open(3000n, 200, Buffer.from('/a'), 0),
      (() => { const b = open(3001n, 200, Buffer.from('/b'), 0); b.writeUInt16LE(300, FO.path_len); return b; })(),
      exec(2000n, 202, '/bin/sh'),
      open(2001n, 202, Buffer.from('/c'), 0o100),
    ]),
    Buffer.from([1, 2, 3]), // too short: counted
  ];
  const side = () => {
    const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 1_700_000_000_000_000_000n });
    const resolver = new CgroupResolver({ root: join(root, 'cg') });
    const processes = new ProcessCache({ procRoot, bootId: 'deadbeef', now: () => 1 });
    processes.setBootToRealtimeOffsetNs(1_700_000_000_000_000_000n);
    return { decoder, resolver, processes, encoder: new RawBatchEncoder() };
  };
  try {
    const objects = side();
    const encoded = side();
    const records = new RecordEncoder(encoded.decoder, encoded.resolver, encoded.processes);
    const kinds: number[] = [];
    let drains = 0;
    const sink = {
      encoder: encoded.encoder,
      accept: (kind: number) => { kinds.push(kind); return true; },
      drained: () => { drains++; },
    };
    const { inKernelOrder } = await import('./kernel-source.js');
    const objectKinds: number[] = [];
    for (const batch of batches) {
      const events = inKernelOrder(objects.decoder.decode(batch));
      for (const e of events) {
        if (e.process == null) continue;
        e.process.cgroupPath = objects.resolver.resolve(e.process.cgroupId ?? 0);
        objects.processes.annotate(e);
      }
      for (const e of events) {
        objectKinds.push(e.kind ?? 0);
        objects.encoder.add(e);
      }
      records.encode(batch, sink);
    }
    assert.equal(drains, batches.length);
    assert.deepEqual(kinds, objectKinds);
    assert.equal(kinds.length, 28);
    assert.equal(encoded.decoder.decodeErrors, objects.decoder.decodeErrors);
    assert.equal(encoded.decoder.decodeErrors, 2);
    const want = objects.encoder.take();
    const got = encoded.encoder.take();
    assert.ok(got.equals(want), 'the same bytes');
    const decoded = pb.RawEventBatch.decode(got).events;
    assert.equal(decoded[0]?.process?.cgroupPath, '/pod');
    assert.equal(decoded[3]?.fileOpen?.sensitiveWrite, true);
    assert.equal(decoded[7]?.fileOpen?.path, '/tmp/cut-at-nul');
    assert.equal(decoded[9]?.fileOpen?.path, '/etc/shadow');
    assert.equal(decoded[9]?.fileOpen?.requestedPath, '/sys/fs/cgroup/../../../etc/shadow');
    assert.equal(decoded[11]?.fileOpen?.path, '/sys/etc/x', 'an unresolved path is folded');
    assert.equal(decoded[11]?.fileOpen?.pathResolution, pb.PathResolution.PATH_RESOLUTION_NORMALISED);
    assert.equal(decoded[12]?.fileOpen?.sensitiveWrite, true, 'the folded path is the one checked');
    assert.equal(decoded[13]?.fileOpen?.pathTruncated, true);
    assert.equal(decoded[14]?.fileOpen?.pathOutsideRoot, true);
    const bits = (o: palisade.v1.IFileOpen | null | undefined): boolean[] =>
      [o?.writeIntent, o?.oTrunc, o?.oAppend, o?.created, o?.truncatedExisting].map((b) => b === true);
    assert.deepEqual(decoded.slice(17, 24).map((e) => bits(e.fileOpen)), [
      [true, false, false, false, false], [false, true, false, false, false], [false, false, true, false, false],
      [false, false, false, false, false], // O_CREAT asked has no field of its own (it is in flags)
      [false, false, false, true, false], [false, false, false, false, true], [true, true, false, false, true],
    ]);
    assert.deepEqual(decoded.slice(25).map((e) => e.fileOpen?.path ?? e.exec?.filename), ['/bin/sh', '/c', '/a']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
