import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { pb } from '@palisade/common';
import { need } from '@palisade/common/testing';
import { decodeExit, EventDecoder, formatIPv6, fsTypeName, inTmpDir, isSensitiveWrite, LAYOUT, normalisePath, parseDnsQuestion, symlinkTarget } from './event-decoder.js';
import { abi, DEFAULT_ADDON_PATH } from './native.js';
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

/** A file_open record: the path (resolved when pathFlags has PAL_PATH_RESOLVED), then the string as passed. */
function openRecord(path: string, result: bigint, flags: number,
  opts: { requested?: string; pathFlags?: number; writeFlags?: number } = {}): Buffer {
  const F = LAYOUT.fileOpen.fields;
  const p = Buffer.from(`${path}\0`);
  const a = Buffer.from(`${opts.requested ?? path}\0`);
  const buf = Buffer.alloc(F.path + p.length + a.length);
  header(buf, { kind: 3, size: buf.length, comm: 'cat' });
  buf.writeBigInt64LE(result, F.result);
  buf.writeBigUInt64LE(BigInt(flags), F.flags);
  buf.writeUInt32LE(0o644, F.mode);
  buf.writeUInt16LE(2, F.syscall);
  buf.writeUInt16LE(p.length, F.path_len);
  buf.writeUInt16LE(a.length, F.arg_len);
  buf.writeUInt8(opts.pathFlags ?? LAYOUT.constants.pathResolved, F.path_flags);
  buf.writeUInt8(opts.writeFlags ?? 0, F.write_flags);
  p.copy(buf, F.path);
  a.copy(buf, F.path + p.length);
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

test('the decoder layout is the one the addon was compiled with (the generated ABI is current)', (t: TestContext) => {
  if (!need(t, existsSync(DEFAULT_ADDON_PATH), `addon not built at ${DEFAULT_ADDON_PATH}: run node scripts/build-native.mjs`)) return;
  const live = abi();
  assert.deepEqual({ ...live.structs, constants: live.constants }, LAYOUT);
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
    cgroupName: 'cri-containerd-abc.scope', cwd: '', cwdTruncated: false, capEffective: 0, capPermitted: 0, pidNs: 0,
    mntNs: 0, netNs: 0, loginuid: 0, fromMemfd: false, resolvedFilename: '', resolvedFilenameTruncated: false,
    stdioSockets: [],
    env: {}, envScanIncomplete: false, envValueTruncated: false, envCount: 0, envBytes: 0, exeFsType: '',
    exeOnTmpfs: false, exeInTmpDir: false, exeOverlayLayer: pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UNSPECIFIED,
    exeCtimeUnixNano: 0, exeMtimeUnixNano: 0, containerStartUnixNano: 0, exeModifiedAfterContainerStart: false,
  });
  assert.deepEqual(open?.fileOpen, {
    path: '/etc/shadow', flags: 0o2000000, mode: 0o644, result: -13, syscall: 'openat2', sensitiveWrite: false,
    requestedPath: '', pathResolution: pb.PathResolution.PATH_RESOLUTION_KERNEL, pathTruncated: false,
    pathOutsideRoot: false, writeIntent: false, oTrunc: false, oAppend: false, created: false, truncatedExisting: false,
  });
  assert.deepEqual(conn?.netConnect, {
    family: pb.AddressFamily.ADDRESS_FAMILY_INET, daddr: '10.0.0.1', dport: 443, result: -115, protocol: 'tcp',
  });
  assert.deepEqual(exit?.exit, { exitCode: 3, signal: 0 });
});

test('exec environment: watched variables by their flags, values redacted, cut and scan flags', () => {
  const F = LAYOUT.exec.fields;
  const C = LAYOUT.constants;
  const seen: string[] = [];
  const decoder = new EventDecoder({
    bootToRealtimeOffsetNs: 0n,
    redactEnv: (name, value) => { seen.push(name); return value.replace('hunter2', '[REDACTED]'); },
  });
  const buf = execRecord(['x']);
  buf.writeUInt16LE(C.envLdPreload | C.envLdAudit | C.envLdAuditCut | C.envScanIncomplete, F.env_flags);
  buf.write('/tmp/evil.so', F.env_ld_preload);
  buf.write('/opt/lib-not-flagged', F.env_ld_library_path); // bytes without the present bit: not reported
  buf.write('https://u:hunter2@h/a.so', F.env_ld_audit);
  buf.writeUInt32LE(321, F.env_count);
  buf.writeUInt32LE(65536, F.env_bytes);
  const [e] = decoder.decode(buf);
  assert.deepEqual(e?.exec?.env, { LD_PRELOAD: '/tmp/evil.so', LD_AUDIT: 'https://u:[REDACTED]@h/a.so' });
  assert.deepEqual(seen, ['LD_PRELOAD', 'LD_AUDIT']);
  assert.equal(e?.exec?.envScanIncomplete, true);
  assert.equal(e?.exec?.envValueTruncated, true);
  assert.equal(e?.exec?.envCount, 321);
  assert.equal(e?.exec?.envBytes, 65536);
  // A value field filled to the brim stops at its bound.
  const full = execRecord(['x']);
  full.writeUInt16LE(C.envLdLibraryPath | C.envLdLibraryPathCut, F.env_flags);
  full.fill('a', F.env_ld_library_path, F.env_ld_library_path + C.envValueMax);
  const [f] = new EventDecoder({ bootToRealtimeOffsetNs: 0n }).decode(full);
  assert.equal(f?.exec?.env?.['LD_LIBRARY_PATH'], 'a'.repeat(C.envValueMax));
});

test('executable origin: filesystem, tmp dirs, overlay layer and times from the origin flags', () => {
  const F = LAYOUT.exec.fields;
  const C = LAYOUT.constants;
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  const rec = (origin: number, magic: number, filename = '/usr/bin/curl'): Buffer => {
    const buf = execRecord(['x']);
    buf.fill(0, F.filename, F.filename + C.pathMax);
    buf.write(filename, F.filename);
    buf.writeUInt16LE(origin, F.origin_flags);
    buf.writeUInt32LE(magic, F.exe_fs_magic);
    buf.writeBigUInt64LE(1_700_000_000_123_456_789n, F.exe_ctime_ns);
    buf.writeBigUInt64LE(1_600_000_000_000_000_000n, F.exe_mtime_ns);
    return buf;
  };
  const [tmpfs] = decoder.decode(rec(C.originTmpfs | C.originTimes, 0x01021994, '/dev/shm/x'));
  assert.equal(tmpfs?.exec?.exeOnTmpfs, true);
  assert.equal(tmpfs?.exec?.exeFsType, 'tmpfs');
  assert.equal(tmpfs?.exec?.exeInTmpDir, true);
  assert.equal(tmpfs?.exec?.exeCtimeUnixNano, Number(1_700_000_000_123_456_789n));
  assert.equal(tmpfs?.exec?.exeMtimeUnixNano, 1_600_000_000_000_000_000);
  const [noTimes] = decoder.decode(rec(0, 0xef53));
  assert.equal(noTimes?.exec?.exeCtimeUnixNano, 0, 'without PAL_ORIGIN_TIMES the times are unknown');
  assert.equal(noTimes?.exec?.exeFsType, 'ext4');
  assert.equal(noTimes?.exec?.exeOverlayLayer, pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UNSPECIFIED);
  const layer = (flags: number): number | null | undefined => decoder.decode(rec(flags, 0x794c7630))[0]?.exec?.exeOverlayLayer;
  assert.equal(layer(C.originOverlay), pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UNKNOWN);
  assert.equal(layer(C.originOverlay | C.originOverlayKnown), pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_LOWER);
  assert.equal(layer(C.originOverlay | C.originOverlayKnown | C.originOverlayUpper), pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UPPER);
  // The relative filename as passed is folded; the resolved path wins when there is one.
  const [rel] = decoder.decode(rec(0, 0xef53, '/var/tmp/../tmp/./x'));
  assert.equal(rel?.exec?.exeInTmpDir, true);
  assert.equal(fsTypeName(0), '');
  assert.equal(fsTypeName(0x12345678), '0x12345678');
  assert.equal(inTmpDir('/tmpfoo/x'), false);
  assert.equal(inTmpDir('/var/tmp/x'), true);
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

test('file open paths: the resolved path is matched, the string as passed kept when it differs', () => {
  const C = LAYOUT.constants;
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  const [resolved, failed, truncated, relative] = decoder.decode(Buffer.concat([
    openRecord('/etc/shadow', 3n, 0, { requested: '/proc/self/root/etc/../etc/shadow' }),
    // A failed open: the kernel sends the string (cwd-joined), userspace folds it.
    openRecord('/sys/fs/cgroup/../../../etc/shadow', -2n, 0, { pathFlags: 0 }),
    openRecord('.../deep/x', 3n, 0, { requested: 'x', pathFlags: C.pathResolved | C.pathTruncated }),
    openRecord('/etc/./shadow', -13n, 0, { requested: './shadow', pathFlags: C.pathCwdJoined }),
  ]));
  assert.equal(decoder.decodeErrors, 0);
  assert.equal(resolved?.fileOpen?.path, '/etc/shadow');
  assert.equal(resolved?.fileOpen?.requestedPath, '/proc/self/root/etc/../etc/shadow');
  assert.equal(resolved?.fileOpen?.pathResolution, pb.PathResolution.PATH_RESOLUTION_KERNEL);
  assert.equal(failed?.fileOpen?.path, '/etc/shadow');
  assert.equal(failed?.fileOpen?.requestedPath, '/sys/fs/cgroup/../../../etc/shadow');
  assert.equal(failed?.fileOpen?.pathResolution, pb.PathResolution.PATH_RESOLUTION_NORMALISED);
  assert.equal(truncated?.fileOpen?.path, '.../deep/x');
  assert.equal(truncated?.fileOpen?.pathTruncated, true);
  assert.equal(relative?.fileOpen?.path, '/etc/shadow');
  assert.equal(relative?.fileOpen?.requestedPath, './shadow');
});

test('normalisePath folds "//", "." and "..", joins a base, and reads /proc/self/root as the root', () => {
  const cases: [string, string, string][] = [
    ['/etc/shadow', '', '/etc/shadow'],
    ['//etc//shadow', '', '/etc/shadow'],
    ['/etc/./shadow', '', '/etc/shadow'],
    ['/etc/../etc/shadow', '', '/etc/shadow'],
    ['/../../etc/shadow', '', '/etc/shadow'],
    ['/sys/fs/cgroup/../../../etc/shadow', '', '/etc/shadow'],
    ['/proc/self/root/etc/shadow', '', '/etc/shadow'],
    ['/proc/thread-self/root/../etc/shadow', '', '/etc/shadow'],
    ['/proc/self/status', '', '/proc/self/status'],
    ['/proc/42/root/etc/shadow', '', '/proc/42/root/etc/shadow'],
    ['shadow', '/etc', '/etc/shadow'],
    ['../etc/shadow', '/root', '/etc/shadow'],
    ['x', '/', '/x'],
    ['/etc/', '', '/etc'],
    ['/', '', '/'],
    ['a/../../b', '', '../b'],
    ['.', '', '.'],
    ['', '', ''],
    ['/home/u/.bashrc', '', '/home/u/.bashrc'],
  ];
  for (const [path, base, want] of cases) assert.equal(normalisePath(path, base), want, `${path} on ${base}`);
});

test('file ops: relative paths are joined with the kernel-resolved base and folded', () => {
  const C = LAYOUT.constants;
  const F = LAYOUT.syscall.fields;
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  const rec = syscallRecord(C.kindFileOp, C.opRenameat2, [0xffffff9cn, 5n, 0n], ['../etc/shadow', 'x', ''], 0n);
  rec.writeUInt8(C.pathResolved, F.path_flags0);
  rec.write('/tmp\0', F.base0);
  rec.writeUInt8(C.pathResolved, F.path_flags1);
  rec.write('/var/tmp\0', F.base1);
  const [e] = decoder.decode(rec);
  assert.equal(e?.fileOp?.path, '/etc/shadow');
  assert.equal(e?.fileOp?.requestedPath, '../etc/shadow');
  assert.equal(e?.fileOp?.newPath, '/var/tmp/x');
  assert.equal(e?.fileOp?.requestedNewPath, 'x');
  // Without a relative path the kernel leaves base0/base1 out: the record ends before them.
  const short = syscallRecord(C.kindFileOp, C.opUnlinkat, [0xffffff9cn, 0n], ['/etc//shadow', '', ''], 0n).subarray(0, F.base0);
  short.writeUInt16LE(F.base0, LAYOUT.header.fields.size);
  const [u] = decoder.decode(short);
  assert.equal(decoder.decodeErrors, 0);
  assert.equal(u?.fileOp?.path, '/etc/shadow');
  assert.equal(u?.fileOp?.requestedPath, '/etc//shadow');
});

test('file opens: the kernel\'s write-intent and truncation bits become one boolean each', () => {
  const C = LAYOUT.constants;
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  const [wipe, created, append] = decoder.decode(Buffer.concat([
    openRecord('/var/log/auth.log', 3n, 0o1101, { writeFlags: C.fileWrite | C.fileTrunc | C.fileCreat | C.fileTruncatedExisting }),
    openRecord('/tmp/new', 3n, 0o1101, { writeFlags: C.fileWrite | C.fileTrunc | C.fileCreat | C.fileCreated }),
    openRecord('/var/log/app.log', 3n, 0o2001, { writeFlags: C.fileWrite | C.fileAppend }),
  ]));
  assert.equal(decoder.decodeErrors, 0);
  assert.deepEqual([wipe?.fileOpen?.writeIntent, wipe?.fileOpen?.oTrunc, wipe?.fileOpen?.created,
    wipe?.fileOpen?.truncatedExisting, wipe?.fileOpen?.oAppend], [true, true, false, true, false]);
  assert.deepEqual([created?.fileOpen?.created, created?.fileOpen?.truncatedExisting], [true, false]);
  assert.deepEqual([append?.fileOpen?.oAppend, append?.fileOpen?.oTrunc, append?.fileOpen?.writeIntent], [true, false, true]);
});

test('file ops: links keep both names, a symlink\'s text is read from the link\'s directory, truncations their length', () => {
  const C = LAYOUT.constants;
  const F = LAYOUT.syscall.fields;
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  const AT = 0xffffff9cn;
  // linkat(AT_FDCWD, "../etc/shadow", 5, "x", AT_SYMLINK_FOLLOW) from /tmp, dirfd 5 = /scratch
  const link = syscallRecord(C.kindFileOp, C.opLinkat, [AT, 5n, 0x400n], ['../etc/shadow', 'x', ''], 0n);
  link.writeUInt8(C.pathResolved, F.path_flags0);
  link.write('/tmp\0', F.base0);
  link.writeUInt8(C.pathResolved, F.path_flags1);
  link.write('/scratch\0', F.base1);
  // symlinkat("../../etc/shadow", 7, "innocent") with dirfd 7 = /scratch/a: no base0 (the text is not a path yet)
  const sym = syscallRecord(C.kindFileOp, C.opSymlinkat, [AT, 7n], ['../../etc/shadow', 'innocent', ''], 0n);
  sym.writeUInt8(C.pathResolved, F.path_flags1);
  sym.write('/scratch/a\0', F.base1);
  const abs = syscallRecord(C.kindFileOp, C.opSymlink, [AT, AT], ['/etc//shadow', '/scratch/l', ''], 0n)
    .subarray(0, F.base0);
  abs.writeUInt16LE(F.base0, LAYOUT.header.fields.size);
  const trunc = syscallRecord(C.kindFileOp, C.opTruncate, [AT, 0n], ['/var/log/../log/auth.log', '', ''], 0n)
    .subarray(0, F.base0);
  trunc.writeUInt16LE(F.base0, LAYOUT.header.fields.size);
  const ftrunc = syscallRecord(C.kindFileOp, C.opFtruncate, [3n, 4096n], ['/var/log/auth.log', '', ''], 0n)
    .subarray(0, F.base0);
  ftrunc.writeUInt16LE(F.base0, LAYOUT.header.fields.size);
  ftrunc.writeUInt8(C.pathResolved, F.path_flags0);
  const [l, s, a, t, f] = decoder.decode(Buffer.concat([link, sym, abs, trunc, ftrunc]));
  assert.equal(decoder.decodeErrors, 0);
  assert.deepEqual([l?.fileOp?.syscall, l?.fileOp?.path, l?.fileOp?.newPath, l?.fileOp?.flags, l?.fileOp?.dfd],
    ['linkat', '/etc/shadow', '/scratch/x', 0x400, -100]);
  assert.equal(l?.fileOp?.symlinkText, '');
  assert.deepEqual([s?.fileOp?.path, s?.fileOp?.newPath, s?.fileOp?.symlinkText, s?.fileOp?.dfd],
    ['/etc/shadow', '/scratch/a/innocent', '../../etc/shadow', 7]);
  assert.equal(s?.fileOp?.requestedPath, '../../etc/shadow');
  assert.deepEqual([a?.fileOp?.path, a?.fileOp?.newPath, a?.fileOp?.symlinkText], ['/etc/shadow', '/scratch/l', '/etc//shadow']);
  assert.deepEqual([t?.fileOp?.path, t?.fileOp?.length, t?.fileOp?.pathResolution],
    ['/var/log/auth.log', 0, pb.PathResolution.PATH_RESOLUTION_NORMALISED]);
  assert.deepEqual([f?.fileOp?.path, f?.fileOp?.length, f?.fileOp?.fd, f?.fileOp?.dfd, f?.fileOp?.requestedPath,
    f?.fileOp?.pathResolution], ['/var/log/auth.log', 4096, 3, 0, '', pb.PathResolution.PATH_RESOLUTION_KERNEL]);
});

test('symlinkTarget reads a relative text from the link\'s directory, folded, never above /', () => {
  assert.equal(symlinkTarget('../../etc/shadow', '/tmp/a/link'), '/etc/shadow');
  assert.equal(symlinkTarget('../../../../etc/shadow', '/tmp/link'), '/etc/shadow');
  assert.equal(symlinkTarget('shadow', '/etc/link'), '/etc/shadow');
  assert.equal(symlinkTarget('/proc/self/root/etc/shadow', '/x'), '/etc/shadow');
  assert.equal(symlinkTarget('x', '/link'), '/x');
  assert.equal(symlinkTarget('x/../y', 'rel'), 'y');
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

function syscallRecord(kind: number, op: number, args: bigint[], strs: [string, string, string], result: bigint): Buffer {
  const F = LAYOUT.syscall.fields;
  const buf = Buffer.alloc(LAYOUT.syscall.sizeof);
  header(buf, { kind, size: buf.length });
  buf.writeBigInt64LE(result, F.result);
  args.forEach((a, i) => buf.writeBigUInt64LE(a, F.args + 8 * i));
  buf.writeUInt16LE(op, F.op);
  buf.write(strs[0], F.str0);
  buf.write(strs[1], F.str1);
  buf.write(strs[2], F.str2);
  return buf;
}

test('decodes the pal_syscall_event families into their typed messages', () => {
  const C = LAYOUT.constants;
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  const U = 0xffffffffn;
  const [rename, setid, mount, sig, bpf] = decoder.decode(Buffer.concat([
    syscallRecord(C.kindFileOp, C.opRenameat2, [0xffffff9cn, 0xffffff9cn, 1n], ['/a', '/b', ''], 0n),
    syscallRecord(C.kindPrivSetid, C.opSetresuid, [0n, U, U, 1000n, 1000n, 1000n, 0n, 0n], ['', '', ''], 0n),
    syscallRecord(C.kindMount, C.opMount, [4096n], ['none', '/mnt', 'tmpfs'], -1n),
    syscallRecord(C.kindSignal, C.opTgkill, [77n, 15n, 70n], ['', '', ''], 0n),
    syscallRecord(C.kindBpfProgLoad, C.opBpf, [1n, 2n, 5n], ['', '', 'probe'], 9n),
  ]));
  assert.equal(decoder.decodeErrors, 0);
  assert.equal(rename?.kind, pb.EventKind.EVENT_KIND_FILE_OP);
  assert.deepEqual(rename?.fileOp, {
    syscall: 'renameat2', path: '/a', newPath: '/b', dfd: -100, flags: 1, mode: 0, uid: -1, gid: -1, result: 0,
    requestedPath: '', requestedNewPath: '', pathResolution: pb.PathResolution.PATH_RESOLUTION_NORMALISED,
    pathTruncated: false, symlinkText: '', length: 0, fd: 0,
  });
  assert.deepEqual(setid?.privSetid, {
    syscall: 'setresuid', requestedReal: 0, requestedEffective: -1, requestedSaved: -1, oldReal: 1000,
    oldEffective: 1000, oldSaved: 1000, newReal: 0, newEffective: 0, result: 0,
  });
  assert.deepEqual(mount?.mount, { syscall: 'mount', source: 'none', target: '/mnt', fstype: 'tmpfs', flags: 4096, result: -1 });
  assert.deepEqual(sig?.signal, { syscall: 'tgkill', targetPid: 77, targetTgid: 70, signal: 15, result: 0 });
  assert.deepEqual(bpf?.bpfProgLoad, { progType: 1, insnCount: 2, progName: 'probe', result: 9 });
});

test('decodes io_uring_setup and the new mount API (open_tree, move_mount, fsopen) records', () => {
  const C = LAYOUT.constants;
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  const [ring, clone, move, fsopen] = decoder.decode(Buffer.concat([
    syscallRecord(C.kindIoUring, C.opIoUringSetup, [4n, 2n], ['', '', ''], 3n),
    syscallRecord(C.kindMount, C.opOpenTree, [0x80001n], ['/etc', '', ''], 4n),
    syscallRecord(C.kindMount, C.opMoveMount, [4n], ['', '/tmp/m', ''], 0n),
    syscallRecord(C.kindMount, C.opFsopen, [0n], ['', '', 'proc'], 5n),
  ]));
  assert.equal(decoder.decodeErrors, 0);
  assert.equal(ring?.kind, pb.EventKind.EVENT_KIND_IO_URING);
  assert.deepEqual(ring?.ioUring, { syscall: 'io_uring_setup', entries: 4, flags: 2, result: 3 });
  assert.deepEqual(clone?.mount, { syscall: 'open_tree', source: '/etc', target: '', fstype: '', flags: 0x80001, result: 4 });
  assert.deepEqual(move?.mount, { syscall: 'move_mount', source: '', target: '/tmp/m', fstype: '', flags: 4, result: 0 });
  assert.deepEqual(fsopen?.mount, { syscall: 'fsopen', source: '', target: '', fstype: 'proc', flags: 0, result: 5 });
});

test('decodes process_kill, fork, net_socket and dns records', () => {
  const C = LAYOUT.constants;
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  const PK = LAYOUT.processKill.fields;
  const path = Buffer.from('/tmp/x\0');
  const kill = Buffer.alloc(PK.path + path.length);
  header(kill, { kind: C.kindProcessKill, size: kill.length });
  kill.writeUInt32LE(9, PK.signal);
  kill.writeUInt16LE(C.killReasonPathPrefix, PK.reason);
  kill.writeUInt16LE(C.syscallOpenat, PK.syscall);
  kill.writeUInt32LE(3, PK.rule);
  kill.writeUInt16LE(1, PK.late);
  kill.writeUInt16LE(path.length, PK.path_len);
  path.copy(kill, PK.path);
  const fork = Buffer.alloc(LAYOUT.fork.sizeof);
  header(fork, { kind: C.kindProcessFork, size: fork.length });
  fork.writeUInt32LE(4242, LAYOUT.fork.fields.child_pid);
  fork.writeUInt32LE(17, LAYOUT.fork.fields.clone_flags);
  const NS = LAYOUT.netSocket.fields;
  const sock = Buffer.alloc(LAYOUT.netSocket.sizeof);
  header(sock, { kind: C.kindNetSocket, size: sock.length });
  sock.writeUInt16LE(C.opListen, NS.op);
  sock.writeUInt16LE(10, NS.family);
  sock.writeUInt16LE(8080, NS.port);
  sock.writeUInt8(6, NS.protocol);
  sock.writeUInt32LE(128, NS.backlog);
  sock.writeUInt32LE(1, NS.sock_type);
  sock.writeInt32LE(6, NS.sock_protocol);
  sock[NS.addr + 15] = 1;
  const DN = LAYOUT.dns.fields;
  const dns = Buffer.alloc(LAYOUT.dns.sizeof);
  header(dns, { kind: C.kindDnsQuery, size: dns.length });
  const q = Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77, 0x77, 0x77, 1, 0x78, 0, 0, 28, 0, 1]);
  dns.writeUInt16LE(C.opSendto, DN.op);
  dns.writeUInt16LE(2, DN.family);
  dns.writeUInt16LE(53, DN.dport);
  dns.writeUInt16LE(q.length, DN.len);
  Buffer.from([10, 0, 0, 53]).copy(dns, DN.daddr);
  q.copy(dns, DN.msg);
  const [k, f, s, d] = decoder.decode(Buffer.concat([kill, fork, sock, dns]));
  assert.equal(decoder.decodeErrors, 0);
  assert.deepEqual(k?.processKill, { signal: 9, reason: 'path_prefix', rule: 3, syscall: 'openat', path: '/tmp/x', late: true });
  assert.deepEqual(f?.fork, { childPid: 4242, exitSignal: 17 });
  assert.deepEqual(s?.netSocket, {
    syscall: 'listen', family: pb.AddressFamily.ADDRESS_FAMILY_INET6, addr: '::1', port: 8080, protocol: 'tcp',
    backlog: 128, result: 0, socketFamily: 'inet6', socketType: 'stream', socketTypeFlags: 0, socketProtocol: 6,
  });
  assert.deepEqual(d?.dnsQuery, {
    name: 'www.x', qtype: 28, qtypeName: 'AAAA', id: 0x1234, family: pb.AddressFamily.ADDRESS_FAMILY_INET,
    daddr: '10.0.0.53', dport: 53, syscall: 'sendto',
  });
});

test('dns question parsing is bounded and rejects malformed names', () => {
  assert.deepEqual(parseDnsQuestion(Buffer.alloc(5)), { id: 0, name: '', qtype: 0 });
  const head = Buffer.alloc(12);
  assert.equal(parseDnsQuestion(Buffer.concat([head, Buffer.from([0xc0, 0x0c])])).name, '', 'compression pointer');
  assert.equal(parseDnsQuestion(Buffer.concat([head, Buffer.from([5, 0x61])])).name, '', 'label past the end');
  assert.equal(parseDnsQuestion(Buffer.concat([head, Buffer.alloc(300, 1)])).name, '', 'no terminator in 127 labels');
});

test('sensitive writes: write/create/truncate under a sensitive prefix, not reads or elsewhere', () => {
  assert.equal(isSensitiveWrite('/etc/passwd', 1), true);
  assert.equal(isSensitiveWrite('/root/.ssh/authorized_keys', 0o101), true);
  assert.equal(isSensitiveWrite('/usr/bin/ls', 0o1000), true);
  assert.equal(isSensitiveWrite('/etc/passwd', 0), false, 'read-only');
  assert.equal(isSensitiveWrite('/tmp/etc/passwd', 1), false);
  assert.equal(isSensitiveWrite('/etcetera', 1), false);
});

/** A struct pal_sock_info at `at` (palisade.h). */
function sockInfo(buf: Buffer, at: number, s: { family: number; type: number; protocol: number; port?: number;
  flags: number; addr?: number[]; unixPath?: string }): void {
  const SI = LAYOUT.sockInfo.fields;
  buf.writeUInt16LE(s.family, at + SI.family);
  buf.writeUInt16LE(s.type, at + SI.type);
  buf.writeUInt16LE(s.protocol, at + SI.protocol);
  buf.writeUInt16LE(s.port ?? 0, at + SI.port);
  buf.writeUInt8(s.flags, at + SI.flags);
  Buffer.from(s.addr ?? []).copy(buf, at + SI.addr);
  if (s.unixPath !== undefined) buf.write(`${s.unixPath}\0`, at + SI.unix_path);
}

test('stdio sockets at exec, fd_dup and socket() records decode with family, type and the far end', () => {
  const C = LAYOUT.constants;
  const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });
  // exec: fd 0 a connected TCP socket, fd 1 not a socket, fd 2 a unix socket with an abstract peer.
  const exec = execRecord(['bash', '-i']);
  const EX = LAYOUT.exec.fields;
  const one = LAYOUT.sockInfo.sizeof;
  sockInfo(exec, EX.stdio, { family: 2, type: 1, protocol: 6, port: 4444, flags: C.sockPeer, addr: [127, 0, 0, 1] });
  sockInfo(exec, EX.stdio + 2 * one, { family: 1, type: 1, protocol: 0, flags: C.sockPeer, unixPath: '@pal' });
  // fd_dup: dup2(3, 1) of a listening IPv6 socket (no peer: the local end).
  const FD = LAYOUT.fdDup.fields;
  const dup = Buffer.alloc(LAYOUT.fdDup.sizeof);
  header(dup, { kind: C.kindFdDup, size: dup.length });
  dup.writeBigInt64LE(1n, FD.result);
  dup.writeUInt16LE(C.opDup2, FD.op);
  dup.writeInt32LE(3, FD.old_fd);
  dup.writeInt32LE(1, FD.new_fd);
  sockInfo(dup, FD.sock, { family: 10, type: 1, protocol: 6, port: 8080, flags: C.sockLocal, addr: [...Array(15).fill(0), 1] });
  // socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)) that failed with EPERM.
  const NS = LAYOUT.netSocket.fields;
  const sock = Buffer.alloc(LAYOUT.netSocket.sizeof);
  header(sock, { kind: C.kindNetSocket, size: sock.length });
  sock.writeBigInt64LE(-1n, NS.result);
  sock.writeUInt16LE(C.opSocket, NS.op);
  sock.writeUInt16LE(17, NS.family);
  sock.writeUInt32LE(3 | 0x80000, NS.sock_type);
  sock.writeInt32LE(0x0300, NS.sock_protocol);
  const [e, d, s] = decoder.decode(Buffer.concat([exec, dup, sock]));
  assert.equal(decoder.decodeErrors, 0);
  assert.deepEqual(e?.exec?.stdioSockets, [
    { fd: 0, family: 'inet', type: 'stream', protocol: 6, peerAddr: '127.0.0.1', peerPort: 4444, unixPath: '',
      connected: true, localAddr: '', localPort: 0 },
    { fd: 2, family: 'unix', type: 'stream', protocol: 0, peerAddr: '', peerPort: 0, unixPath: '@pal',
      connected: true, localAddr: '', localPort: 0 },
  ]);
  assert.equal(d?.kind, pb.EventKind.EVENT_KIND_FD_DUP);
  assert.deepEqual(d?.fdDup, {
    syscall: 'dup2', oldFd: 3, newFd: 1, result: 1, family: 'inet6', type: 'stream', protocol: 6, peerAddr: '',
    peerPort: 0, unixPath: '', flags: 0, connected: false, localAddr: '::1', localPort: 8080,
  });
  assert.deepEqual(s?.netSocket, {
    syscall: 'socket', family: pb.AddressFamily.ADDRESS_FAMILY_UNSPECIFIED, addr: '', port: 0, protocol: '',
    backlog: 0, result: -1, socketFamily: 'packet', socketType: 'raw', socketTypeFlags: 0x80000, socketProtocol: 768,
  });
  // A short fd_dup record is counted, not decoded.
  const short = Buffer.from(dup.subarray(0, LAYOUT.fdDup.sizeof - 1));
  short.writeUInt16LE(short.length, H.size);
  assert.equal(decoder.decode(short).length, 0);
  assert.equal(decoder.decodeErrors, 1);
});
