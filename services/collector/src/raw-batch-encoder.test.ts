// The hand-written RawEventBatch encoder against the generated one: consumers decode with the generated code, so for
// every event the bytes must be the generated encoder's (and so decode to the same message), cached process parts
// included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ABI, pb, type palisade } from '@palisade/common';
import { ProcessCache } from './process-cache.js';
import { RawBatchEncoder, batchHeaderRoom, encodeBatch } from './raw-batch-encoder.js';

type IRawEvent = palisade.v1.IRawEvent;

const LONG = `/var/lib/${'very-long-directory-name/'.repeat(12)}file.txt`; // > 255 bytes: two-byte lengths
const UNICODE = '/tmp/naïve-文件-😀-ß'; // 2-, 3- and 4-byte UTF-8
const T = 1_752_000_000_123_456_700; // a realistic time_unix_nano (above 2^53: rounded, as the decoder makes it)

function proc(over: palisade.v1.IProcess = {}): palisade.v1.IProcess {
  return {
    pid: 4242, tid: 4243, ppid: 1, uid: 1000, gid: 1000, euid: 0, comm: 'bash', parentComm: 'sshd',
    cgroupId: 12345678901, cgroupPath: '/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope', binary: '/usr/bin/bash',
    execId: 'deadbeef:4242:k123456789', ...over,
  };
}

const ancestors = Object.freeze([
  Object.freeze({ pid: 1, binary: '/usr/sbin/sshd', comm: 'sshd', execId: 'deadbeef:1:p17' }),
  Object.freeze({ pid: 0, binary: '', comm: '', execId: '' }),
]) as palisade.v1.IAncestor[];

/** Every kind, empty and long strings, unicode, negative and 64-bit numbers, ancestors present and absent. */
function corpus(): IRawEvent[] {
  const base = { timeUnixNano: T, cpu: 1 };
  return [
    { ...base, kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, process: proc({ ancestors }), exec: {
      filename: '/usr/bin/curl', argv: ['curl', '-s', '', UNICODE, LONG], argvTruncated: true, cgroupName: 'x.scope',
      cwd: LONG, cwdTruncated: false, capEffective: 0x1ffffffffff, capPermitted: 2 ** 40, pidNs: 4026531836,
      mntNs: 4026531841, netNs: 4026531840, loginuid: 4294967295, fromMemfd: true,
      resolvedFilename: '/usr/bin/curl', resolvedFilenameTruncated: true,
      stdioSockets: [
        { fd: 0, family: 'inet', type: 'stream', protocol: 6, peerAddr: '127.0.0.1', peerPort: 4444, unixPath: '',
          connected: true, localAddr: '', localPort: 0 },
        { fd: 2, family: 'unix', type: 'stream', protocol: 0, peerAddr: '', peerPort: 0, unixPath: '@' + UNICODE,
          connected: false, localAddr: '', localPort: 0 },
      ],
      env: { LD_PRELOAD: '/tmp/evil.so', LD_LIBRARY_PATH: '', LD_AUDIT: LONG }, envScanIncomplete: true,
      envValueTruncated: false, envCount: 201, envBytes: 70000, exeFsType: 'overlay', exeOnTmpfs: false,
      exeInTmpDir: true, exeOverlayLayer: pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UPPER,
      exeCtimeUnixNano: T, exeMtimeUnixNano: 0, containerStartUnixNano: T - 1e9, exeModifiedAfterContainerStart: true,
    } },
    { ...base, kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, process: proc({ ancestors }), exec: {
      filename: '/bin/true', argv: [], env: {}, exeOverlayLayer: pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UNSPECIFIED,
    } },
    { ...base, kind: pb.EventKind.EVENT_KIND_PROCESS_EXIT, process: proc({ ancestors: [] }), exit: { exitCode: 1, signal: 9 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process: proc({ ancestors }), fileOpen: {
      path: '/etc/passwd', flags: 0o101, mode: 0o644, result: -13, syscall: 'openat', sensitiveWrite: true } },
    { ...base, kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process: proc({ comm: '', parentComm: '', binary: '', execId: '', cgroupPath: '' }),
      fileOpen: { path: UNICODE, flags: -2147483648, mode: 0, result: 2 ** 40, syscall: 'openat2', sensitiveWrite: false } },
    { ...base, kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process: proc({ ancestors }), fileOpen: {
      path: LONG, flags: 0, mode: 0, result: 3, syscall: 'open', sensitiveWrite: false } },
    { ...base, kind: pb.EventKind.EVENT_KIND_NET_CONNECT, process: proc({ ancestors }), netConnect: {
      family: pb.AddressFamily.ADDRESS_FAMILY_INET6, daddr: '2001:db8::1', dport: 443, result: -115, protocol: 'tcp' } },
    { ...base, kind: pb.EventKind.EVENT_KIND_PROCESS_KILL, process: proc(), processKill: {
      signal: 9, reason: 'path_prefix', rule: 3, syscall: 'openat', path: '/etc/shadow', late: false } },
    { ...base, kind: pb.EventKind.EVENT_KIND_PROCESS_FORK, process: proc({ ancestors }), fork: { childPid: 4300, exitSignal: 17 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_FILE_OP, process: proc(), fileOp: {
      syscall: 'renameat2', path: 'a', newPath: UNICODE, dfd: -100, flags: 1, mode: 0, uid: -1, gid: -1, result: 0 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_NET_SOCKET, process: proc(), netSocket: {
      syscall: 'bind', family: pb.AddressFamily.ADDRESS_FAMILY_INET, addr: '0.0.0.0', port: 8080, protocol: 'tcp', backlog: 0, result: 0 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_DNS_QUERY, process: proc(), dnsQuery: {
      name: 'example.com', qtype: 28, qtypeName: 'AAAA', id: 4660, family: 2, daddr: '10.96.0.10', dport: 53, syscall: 'sendto' } },
    { ...base, kind: pb.EventKind.EVENT_KIND_PRIV_SETID, process: proc(), privSetid: {
      syscall: 'setresuid', requestedReal: -1, requestedEffective: 0, requestedSaved: -1, oldReal: 1000,
      oldEffective: 1000, oldSaved: 1000, newReal: 1000, newEffective: 0, result: 0 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_CAPSET, process: proc(), capset: {
      targetPid: 0, effective: 2 ** 41 - 1, permitted: 2 ** 41 - 1, inheritable: 0, oldEffective: 0, result: -1 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_PTRACE, process: proc(), ptrace: { request: 16, requestName: 'PTRACE_ATTACH', targetPid: 1, result: -1 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_MOUNT, process: proc(), mount: { syscall: 'mount', source: '/dev/sda1', target: '/mnt', fstype: 'ext4', flags: 0, result: 0 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_NAMESPACE, process: proc(), namespace: { syscall: 'setns', flags: 0x40000000, fd: 3, result: 0 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_MODULE_LOAD, process: proc(), moduleLoad: { syscall: 'finit_module', params: '', fileName: 'x.ko', fd: 3, flags: 0, result: -1 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_BPF_PROG_LOAD, process: proc(), bpfProgLoad: { progType: 2, insnCount: 100, progName: 'p', result: 7 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_MEMFD_CREATE, process: proc(), memfdCreate: { name: 'x', flags: 1, result: 4 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_SIGNAL, process: proc(), signal: { syscall: 'kill', targetPid: -1, targetTgid: 0, signal: 9, result: 0 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_NET_SOCKET, process: proc(), netSocket: {
      syscall: 'socket', family: 0, addr: '', port: 0, protocol: '', backlog: 0, result: -1, socketFamily: 'packet',
      socketType: 'raw', socketTypeFlags: 0x80800, socketProtocol: 768 } },
    { ...base, kind: pb.EventKind.EVENT_KIND_FD_DUP, process: proc(), fdDup: {
      syscall: 'dup2', oldFd: 3, newFd: 1, result: 1, family: 'inet6', type: 'stream', protocol: 6, peerAddr: '::1',
      peerPort: 4444, unixPath: '', flags: 0, connected: true, localAddr: '', localPort: 0 } },
    // Sparse and odd: fields left out, no process, no payload, a long comm-like string, a generated message instance.
    { kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, process: { pid: 1 }, exec: { filename: '/bin/x' } },
    { kind: pb.EventKind.EVENT_KIND_FILE_OPEN },
    {},
    { ...base, kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process: proc({ comm: 'x'.repeat(200), ancestors }), fileOpen: { path: '' } },
    pb.RawEvent.fromObject({ kind: 3, timeUnixNano: 5, process: { pid: 9, ancestors: [{ pid: 1, comm: 'init' }] }, fileOpen: { path: '/a' } }),
    { ...base, kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process: pb.Process.fromObject({ pid: 9, comm: 'c' }), fileOpen: pb.FileOpen.fromObject({ path: '/b' }) },
  ];
}

function generated(events: IRawEvent[], losses: palisade.v1.ILossRecord[] = [], seq = 7): Buffer {
  return Buffer.from(pb.RawEventBatch.encode({ node: 'node-1', seq, events, losses }).finish());
}

function handWritten(enc: RawBatchEncoder, events: IRawEvent[], losses: palisade.v1.ILossRecord[] = [], seq = 7): Buffer {
  for (const e of events) enc.add(e);
  // Both paths: the header written in place in front of the events, and (with losses) a copy.
  const room = batchHeaderRoom('node-1');
  return encodeBatch('node-1', seq, enc.take(room), room, losses);
}

test('every event of the corpus is encoded byte for byte as the generated encoder does, and decodes the same', () => {
  const enc = new RawBatchEncoder();
  for (const [i, e] of corpus().entries()) {
    const want = generated([e]);
    const got = handWritten(enc, [e]);
    assert.deepEqual(pb.RawEventBatch.decode(got).toJSON(), pb.RawEventBatch.decode(want).toJSON(), `event ${i}`);
    assert.ok(got.equals(want), `event ${i}: bytes differ`);
  }
});

test('a whole batch with losses, encoded twice (the second time from the process cache), equals the generated one', () => {
  const enc = new RawBatchEncoder();
  const events = corpus();
  const losses = [{ source: 'ringbuf_output_failed', count: 12, fromUnixNano: T, toUnixNano: T + 1e9 }];
  const want = generated(events, losses, 2 ** 33);
  assert.ok(handWritten(enc, events, losses, 2 ** 33).equals(want));
  assert.ok(handWritten(enc, events, losses, 2 ** 33).equals(want), 'the cached process encodings differ');
  assert.ok(handWritten(enc, []).equals(generated([])));
});

test('a cached process encoding is not reused once a field it holds changed', () => {
  const enc = new RawBatchEncoder();
  const anc = Object.freeze([Object.freeze({ pid: 1, comm: 'init', binary: '/sbin/init', execId: 'e:1' })]) as palisade.v1.IAncestor[];
  const ev = (over: palisade.v1.IProcess): IRawEvent => ({
    kind: 3, timeUnixNano: T, cpu: 0, process: proc({ ancestors: anc, ...over }), fileOpen: { path: '/x' },
  });
  // Each change alone, between two unchanged events: the cache must notice every one of them.
  const changes: palisade.v1.IProcess[] = [
    { comm: 'renamed' }, { parentComm: 'p2' }, { cgroupId: 1 }, { cgroupPath: '/moved' }, { binary: '/bin/other' },
    { euid: 1000 }, { execId: 'deadbeef:4242:k2' },
  ];
  const events = [ev({}), ...changes.flatMap((c) => [ev(c), ev({})])];
  assert.ok(handWritten(enc, events).equals(generated(events)));
});

test('events annotated by the process cache (reparenting, exec) encode as the generated encoder does', () => {
  let now = 0;
  const cache = new ProcessCache({ procRoot: '/nonexistent', bootId: 'deadbeef', now: () => now });
  const enc = new RawBatchEncoder();
  const open = (pid: number, ppid: number, comm: string): IRawEvent => ({
    kind: 3, timeUnixNano: T + now, cpu: 0, process: { pid, tid: pid, ppid, uid: 0, gid: 0, euid: 0, comm, parentComm: 'p',
      cgroupId: 1, cgroupPath: '/', binary: '' }, fileOpen: { path: '/etc/hosts', flags: 0, mode: 0, result: 3, syscall: 'openat' },
  });
  const exec = (pid: number, ppid: number, filename: string): IRawEvent => ({
    kind: 1, timeUnixNano: T + now, cpu: 0, process: { pid, tid: pid, ppid, uid: 0, gid: 0, euid: 0, comm: 'sh', parentComm: 'p',
      cgroupId: 1, cgroupPath: '/', binary: '' }, exec: { filename, argv: ['sh'] },
  });
  const script = [
    exec(10, 1, '/bin/init'), exec(20, 10, '/usr/sbin/nginx'), exec(30, 20, '/bin/sh'), open(30, 20, 'sh'), open(30, 20, 'sh'),
    exec(30, 20, '/usr/bin/curl'), open(30, 20, 'curl'), open(30, 1, 'curl'), open(30, 1, 'curl'), open(20, 10, 'nginx'),
  ];
  for (const e of script) {
    now += 1;
    cache.annotate(e);
    assert.ok(handWritten(enc, [e]).equals(generated([e])), JSON.stringify(e));
  }
});

test('an event that cannot be encoded leaves nothing behind', () => {
  const enc = new RawBatchEncoder();
  const good = corpus()[2] ?? {};
  const bad = { kind: 1, process: proc({ ancestors }), exec: { argv: ['ok', 5 as unknown as string] } } satisfies IRawEvent;
  enc.add(good);
  assert.throws(() => enc.add(bad));
  enc.add(good);
  assert.ok(encodeBatch('node-1', 7, enc.take(), 0, []).equals(generated([good, good])));
});

test('the buffer grows past its initial size without corrupting what it holds', () => {
  const enc = new RawBatchEncoder();
  const events = Array.from({ length: 6000 }, (_, i) => corpus()[i % 20] ?? {});
  assert.ok(handWritten(enc, events).equals(generated(events)));
});

test('every registry kind keeps its payload through the encoder, including kinds it has no line for', () => {
  const enc = new RawBatchEncoder();
  const camel = (name: string): string => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  for (const k of [...ABI.kinds, { id: 63, name: 'exec' }]) {
    // A kind id the hand-written encoder does not know (63 stands for a new registry row) must still go out whole.
    const e = { kind: k.id, timeUnixNano: T, process: proc(), [camel(k.name)]: {} } as IRawEvent;
    const decoded = pb.RawEventBatch.decode(handWritten(enc, [e])).events[0];
    assert.equal(decoded?.kind, k.id, `kind ${k.name}`);
    assert.ok(decoded?.[camel(k.name) as keyof palisade.v1.IRawEvent] != null, `kind ${k.name}: payload ${camel(k.name)} was dropped`);
  }
});

test('a batch stamped with its collector instance encodes as the generated encoder does', () => {
  const enc = new RawBatchEncoder();
  const events = corpus().slice(0, 3);
  for (const e of events) enc.add(e);
  const losses = [{ source: 'visibility_gap', count: 0, fromUnixNano: 1, toUnixNano: 2 }];
  for (const l of [[], losses]) {
    const room = batchHeaderRoom('node-1');
    const enc2 = new RawBatchEncoder();
    for (const e of events) enc2.add(e);
    const got = encodeBatch('node-1', 3, enc2.take(room), room, l, 'boot-id:123');
    const want = pb.RawEventBatch.encode({ node: 'node-1', seq: 3, events, losses: l, instanceId: 'boot-id:123' }).finish();
    assert.ok(Buffer.from(want).equals(got), `with ${l.length} losses`);
  }
});
