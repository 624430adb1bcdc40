import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { pb } from '@palisade/common';
import { decodeExit, EventDecoder, formatIPv6, LAYOUT } from './event-decoder.js';
import { DEFAULT_ADDON_PATH, layout } from './native.js';
import { existsSync } from 'node:fs';

const H = LAYOUT.header.fields;
const OFFSET = 1_700_000_000_000_000_000n;

interface HeaderInit {
  kind: number;
  size: number;
  pid?: number;
  comm?: string;
  cgroupId?: bigint;
}

function header(buf: Buffer, h: HeaderInit): void {
  buf.writeUInt16LE(h.kind, H.kind);
  buf.writeUInt16LE(h.size, H.size);
  buf.writeUInt32LE(1, H.cpu);
  buf.writeBigUInt64LE(5_000_000_000n, H.ts_ns);
  buf.writeUInt32LE(h.pid ?? 42, H.pid);
  buf.writeUInt32LE(43, H.tid);
  buf.writeUInt32LE(1, H.ppid);
  buf.writeUInt32LE(1000, H.uid);
  buf.writeUInt32LE(1001, H.gid);
  buf.writeUInt32LE(0, H.euid);
  buf.writeBigUInt64LE(h.cgroupId ?? 7777n, H.cgroup_id);
  buf.write(h.comm ?? 'bash', H.comm);
  buf.write('systemd', H.parent_comm);
}

function execRecord(args: string[], opts: { argc?: number; truncatedFlag?: boolean } = {}): Buffer {
  const F = LAYOUT.exec.fields;
  const argBytes = Buffer.from(args.map((a) => `${a}\0`).join('')).subarray(0, LAYOUT.constants.argvMaxBytes);
  const buf = Buffer.alloc(F.args + argBytes.length);
  header(buf, { kind: 1, size: buf.length });
  buf.writeUInt32LE(opts.argc ?? args.length, F.argc);
  buf.writeUInt16LE(argBytes.length, F.args_len);
  buf.writeUInt8(opts.truncatedFlag === true ? 1 : 0, F.flags);
  buf.write('/usr/bin/curl', F.filename);
  buf.write('cri-containerd-abc.scope', F.cgroup_name);
  argBytes.copy(buf, F.args);
  return buf;
}

function openRecord(path: string, result: bigint, flags: number): Buffer {
  const F = LAYOUT.fileOpen.fields;
  const p = Buffer.from(`${path}\0`);
  const buf = Buffer.alloc(F.path + p.length);
  header(buf, { kind: 3, size: buf.length, comm: 'cat' });
  buf.writeBigInt64LE(result, F.result);
  buf.writeBigUInt64LE(BigInt(flags), F.flags);
  buf.writeUInt32LE(0o644, F.mode);
  buf.writeUInt16LE(2, F.syscall);
  buf.writeUInt16LE(p.length, F.path_len);
  p.copy(buf, F.path);
  return buf;
}

function connectRecord(family: number, addr: number[], port: number, result: bigint): Buffer {
  const F = LAYOUT.netConnect.fields;
  const buf = Buffer.alloc(LAYOUT.netConnect.sizeof);
  header(buf, { kind: 4, size: buf.length });
  buf.writeBigInt64LE(result, F.result);
  buf.writeUInt16LE(family, F.family);
  buf.writeUInt16LE(port, F.dport);
  buf.writeUInt8(6, F.protocol);
  Buffer.from(addr).copy(buf, F.daddr);
  return buf;
}

function exitRecord(raw: number): Buffer {
  const buf = Buffer.alloc(LAYOUT.exit.sizeof);
  header(buf, { kind: 2, size: buf.length });
  buf.writeUInt32LE(raw, LAYOUT.exit.fields.exit_code);
  return buf;
}

test('the decoder layout matches the C structs the addon was compiled with', (t: TestContext) => {
  if (!existsSync(DEFAULT_ADDON_PATH)) {
    if (process.env.CI === 'true') assert.fail(`addon not built at ${DEFAULT_ADDON_PATH} (CI=true)`);
    t.skip('addon not built: run node scripts/build-native.mjs');
    return;
  }
  assert.deepEqual(layout(), LAYOUT);
});

test('decodes a batch of all four kinds with the common header', () => {
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: OFFSET });
  const batch = Buffer.concat([
    execRecord(['curl', '-s', 'http://x']),
    openRecord('/etc/shadow', -13n, 0o2000000),
    connectRecord(2, [10, 0, 0, 1], 443, -115n),
    exitRecord((3 << 8) | 0),
  ]);
  const events = decoder.decode(batch);
  assert.equal(decoder.decodeErrors, 0);
  assert.equal(events.length, 4);
  const [exec, open, conn, exit] = events;
  assert.equal(exec?.kind, pb.EventKind.EVENT_KIND_PROCESS_EXEC);
  assert.equal(exec?.timeUnixNano, Number(5_000_000_000n + OFFSET));
  assert.equal(exec?.cpu, 1);
  assert.deepEqual(exec?.process, {
    pid: 42, tid: 43, ppid: 1, uid: 1000, gid: 1001, euid: 0, comm: 'bash', parentComm: 'systemd',
    cgroupId: 7777, cgroupPath: '', binary: '',
  });
  assert.deepEqual(exec?.exec, {
    filename: '/usr/bin/curl', argv: ['curl', '-s', 'http://x'], argvTruncated: false,
    cgroupName: 'cri-containerd-abc.scope',
  });
  assert.deepEqual(open?.fileOpen, { path: '/etc/shadow', flags: 0o2000000, mode: 0o644, result: -13, syscall: 'openat2' });
  assert.deepEqual(conn?.netConnect, {
    family: pb.AddressFamily.ADDRESS_FAMILY_INET, daddr: '10.0.0.1', dport: 443, result: -115, protocol: 'tcp',
  });
  assert.deepEqual(exit?.exit, { exitCode: 3, signal: 0 });
});

test('argv is bounded: more than the max args or the kernel truncation flag mark it truncated', () => {
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  const many = Array.from({ length: 25 }, (_, i) => `a${i}`);
  const [e1] = decoder.decode(execRecord(many));
  assert.equal(e1?.exec?.argv?.length, LAYOUT.constants.argvMaxArgs);
  assert.equal(e1?.exec?.argvTruncated, true);
  const [e2] = decoder.decode(execRecord(['x'], { truncatedFlag: true }));
  assert.equal(e2?.exec?.argvTruncated, true);
  const [e3] = decoder.decode(execRecord(['x', 'y'], { argc: 3 }));
  assert.equal(e3?.exec?.argvTruncated, true, 'fewer args than bprm->argc means some were cut');
});

test('malformed records are counted, never thrown, and good records before them survive', () => {
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  const good = exitRecord(9);
  assert.deepEqual(decoder.decode(Buffer.alloc(10)), []);
  assert.equal(decoder.decodeErrors, 1, 'shorter than a header');

  const badSize = exitRecord(0);
  badSize.writeUInt16LE(5000, H.size);
  assert.equal(decoder.decode(Buffer.concat([good, badSize])).length, 1);
  assert.equal(decoder.decodeErrors, 2, 'size beyond the batch');

  const tiny = exitRecord(0);
  tiny.writeUInt16LE(4, H.size);
  assert.equal(decoder.decode(tiny).length, 0);
  assert.equal(decoder.decodeErrors, 3, 'size smaller than a header');

  const unknown = exitRecord(0);
  unknown.writeUInt16LE(99, H.kind);
  assert.equal(decoder.decode(Buffer.concat([unknown, good])).length, 1, 'an unknown kind is skipped by its size');
  assert.equal(decoder.decodeErrors, 4);

  const lying = openRecord('/x', 0n, 0);
  lying.writeUInt16LE(200, LAYOUT.fileOpen.fields.path_len);
  assert.equal(decoder.decode(lying).length, 0);
  assert.equal(decoder.decodeErrors, 5, 'path_len disagreeing with the record size');
});

test('exit status and IPv6 text follow the kernel and RFC 5952', () => {
  assert.deepEqual(decodeExit(9), { exitCode: 0, signal: 9 });
  assert.deepEqual(decodeExit((1 << 8) | 0x80), { exitCode: 1, signal: 0 });
  const v6 = (hex: string): Buffer => Buffer.from(hex, 'hex');
  assert.equal(formatIPv6(v6('00000000000000000000000000000001')), '::1');
  assert.equal(formatIPv6(v6('20010db8000000000001000000000001')), '2001:db8::1:0:0:1');
  assert.equal(formatIPv6(v6('00000000000000000000ffff0a000001')), '::ffff:10.0.0.1');
  assert.equal(formatIPv6(v6('20010db8000100010001000100010001')), '2001:db8:1:1:1:1:1:1');
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  const [e] = decoder.decode(connectRecord(10, [0xfe, 0x80, ...Array<number>(13).fill(0), 1], 80, 0n));
  assert.equal(e?.netConnect?.daddr, 'fe80::1');
  assert.equal(e?.netConnect?.family, pb.AddressFamily.ADDRESS_FAMILY_INET6);
});
