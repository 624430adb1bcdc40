// palisade.v1.RawEventBatch written by hand, event by event, into one reusable buffer: the same bytes the generated
// pb.RawEventBatch.encode writes for the same events (raw-batch-encoder.test.ts decodes and compares both over a corpus
// of every kind). Why not the generated encoder: it builds a Writer operation list per field and re-encodes every
// string of every event, and most of an event's bytes are its process' (comm, parent comm, cgroup path, binary, exec
// id, two ancestors), the same for every event of that process. Here that part is encoded once per process and copied.
//
// Keep in sync with proto/palisade/v1/events.proto: field numbers and wire types below are the proto's; field order
// is the generated encoder's (declaration order), so the output is byte-identical, not only decode-equal.
// Kinds without a hand-written payload below go through the generated encoder for that payload only.
import { ABI, pb, type palisade } from '@palisade/common';

type IRawEvent = palisade.v1.IRawEvent;
type IProcess = palisade.v1.IProcess;
type IAncestor = palisade.v1.IAncestor;
type NumberLike = number | { low: number; high: number; unsigned: boolean } | null | undefined;

/** The process fields 6..13 of one process, encoded: valid while every key below is the same. */
interface ProcessTail {
  comm: string | null | undefined;
  parentComm: string | null | undefined;
  cgroupId: NumberLike;
  cgroupPath: string | null | undefined;
  binary: string | null | undefined;
  euid: number | null | undefined;
  execId: string | null | undefined;
  bytes: Buffer;
}

type Generated = (m: never) => { finish(): Uint8Array };

const INITIAL_BYTES = 1 << 20;
/** Tags (field << 3 | wire type) of RawEventBatch.events and RawEvent.process. */
const TAG_BATCH_EVENT = (3 << 3) | 2;
/** The kinds whose payload event() below writes (one line each); any other kind takes the generated encoder. */
const HAND_ENCODED_KINDS: ReadonlySet<number> = new Set(Array.from({ length: 18 }, (_, i) => i + 1));
const TAG_EVENT_PROCESS = (4 << 3) | 2;
/** PAL_FILE_* bits of pal_file_open_event.write_flags (bpf/include/palisade.h). */
const C_FILE_WRITE = ABI.constants.fileWrite;
const C_FILE_TRUNC = ABI.constants.fileTrunc;
const C_FILE_APPEND = ABI.constants.fileAppend;
const C_FILE_CREATED = ABI.constants.fileCreated;
const C_FILE_TRUNCATED_EXISTING = ABI.constants.fileTruncatedExisting;

/** The NUL-terminated strings src[a, a + an) and src[b, b + bn) (cString's reading) are the same bytes. */
function sameCString(src: Buffer, a: number, an: number, b: number, bn: number): boolean {
  let ae = src.indexOf(0, a);
  if (ae === -1 || ae > a + an) ae = Math.min(a + an, src.length);
  let be = src.indexOf(0, b);
  if (be === -1 || be > b + bn) be = Math.min(b + bn, src.length);
  if (ae - a === be - b && src.compare(src, a, ae, b, be) === 0) return true;
  // Different bytes can still decode to one string (invalid UTF-8 becomes U+FFFD): compare as the decoder does.
  for (let i = a; i < ae; i++) if ((src[i] ?? 0) >= 128) return src.toString('utf8', a, ae) === src.toString('utf8', b, be);
  for (let i = b; i < be; i++) if ((src[i] ?? 0) >= 128) return src.toString('utf8', a, ae) === src.toString('utf8', b, be);
  return false;
}

/** The NUL-terminated string src[at, at + max) decodes (as cString) to s. */
function cStringIs(src: Buffer, at: number, max: number, s: string): boolean {
  let end = src.indexOf(0, at);
  if (end === -1 || end > at + max) end = Math.min(at + max, src.length);
  if (end - at === s.length) {
    let ascii = true;
    for (let i = 0; i < s.length; i++) {
      const c = src[at + i] ?? 0;
      if (c >= 128) { ascii = false; break; }
      if (c !== s.charCodeAt(i)) return false;
    }
    if (ascii) return true;
  }
  return src.toString('utf8', at, end) === s;
}

function isPlain(o: object): boolean {
  return Object.getPrototypeOf(o) === Object.prototype;
}

/** protobufjs' util.LongBits.fromNumber, for the 64-bit fields (numbers in Palisade: protobuf-numbers.ts). */
function longBits(v: NumberLike): [lo: number, hi: number] {
  if (v !== null && typeof v === 'object') return [v.low >>> 0, v.high >>> 0];
  let value = Number(v ?? 0);
  if (value === 0 || Number.isNaN(value)) return [0, 0];
  const sign = value < 0;
  if (sign) value = -value;
  let lo = value >>> 0;
  let hi = ((value - lo) / 4294967296) >>> 0;
  if (sign) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
    if (++lo > 4294967295) {
      lo = 0;
      if (++hi > 4294967295) hi = 0;
    }
  }
  return [lo, hi];
}

function varintSize(v: number): number {
  return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : v < 268435456 ? 4 : 5;
}

/**
 * Appends RawEvents (as RawEventBatch.events entries, field 3) to a growing buffer; take() hands out the bytes so far
 * and starts over. A batch is then its header (node, seq) + these bytes + its losses (encodeBatch).
 */
export class RawBatchEncoder {
  private buf: Buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  private pos = 0;
  /** Process tails by the process cache's shared, frozen ancestry array: one per process (process-cache.ts). */
  private tails = new WeakMap<readonly IAncestor[], ProcessTail>();
  private lastKey: readonly IAncestor[] | undefined;
  private lastTail: ProcessTail | undefined;

  /** Bytes of events appended since the last take(). */
  get length(): number {
    return this.pos;
  }

  /** Appends one event. On a throw (a malformed event) nothing of it stays. */
  add(e: IRawEvent): void {
    const start = this.pos;
    try {
      if (!isPlain(e) || (e.kind != null && !HAND_ENCODED_KINDS.has(e.kind))) {
        // A message instance from the generated code: its defaults live on the prototype, which the generated
        // encoder tells apart from set fields (hasOwnProperty). Rare (tests); let it do so. So does a kind this
        // encoder has no line for yet (a new registry row): it is encoded whole, never dropped.
        this.tag(TAG_BATCH_EVENT);
        this.bytes(pb.RawEvent.encode(e).finish());
        return;
      }
      this.ensure(16);
      this.buf[this.pos] = TAG_BATCH_EVENT;
      // Two bytes reserved for the length: most events are 128..16383 bytes; end() moves the body otherwise.
      const body = this.pos + 3;
      this.pos = body;
      this.event(e);
      this.endLength(body, 2);
    } catch (err) {
      this.pos = start;
      throw err;
    }
  }

  /**
   * The events appended so far, copied out after `frontRoom` free bytes (where encodeBatch writes the batch header,
   * so a record costs one copy of its events, not two); the encoder starts empty.
   */
  take(frontRoom = 0): Buffer {
    const out = Buffer.allocUnsafe(frontRoom + this.pos);
    out.set(this.buf.subarray(0, this.pos), frontRoom);
    this.pos = 0;
    return out;
  }

  /** Forgets the cached process encodings (for tests; entries also go with their ancestry arrays). */
  clearCache(): void {
    this.tails = new WeakMap();
    this.lastKey = undefined;
    this.lastTail = undefined;
  }

  // ---- RawEvent

  private event(e: IRawEvent): void {
    if (e.kind != null) this.int32Field(1, e.kind);
    if (e.timeUnixNano != null) {
      this.ensure(9);
      this.buf[this.pos++] = (2 << 3) | 1;
      const t = e.timeUnixNano;
      let lo: number;
      let hi: number;
      if (typeof t === 'number' && t >= 0) {
        lo = t >>> 0;
        hi = ((t - lo) / 4294967296) >>> 0;
      } else {
        [lo, hi] = longBits(t as NumberLike);
      }
      this.buf.writeUInt32LE(lo, this.pos);
      this.buf.writeUInt32LE(hi, this.pos + 4);
      this.pos += 8;
    }
    if (e.cpu != null) this.uint32Field(3, e.cpu);
    if (e.process != null) this.process(e.process);
    if (e.exec != null) this.message(10, e.exec, this.exec, pb.ProcessExec.encode);
    if (e.exit != null) this.message(11, e.exit, this.exit, pb.ProcessExit.encode);
    if (e.fileOpen != null) this.message(12, e.fileOpen, this.fileOpen, pb.FileOpen.encode);
    if (e.netConnect != null) this.message(13, e.netConnect, this.netConnect, pb.NetConnect.encode);
    // Named loads, one per payload: a table of property names made every load here megamorphic (7% of the time).
    if (e.processKill != null) this.generated(14, e.processKill, pb.ProcessKill.encode);
    if (e.fork != null) this.message(15, e.fork, this.fork, pb.ProcessFork.encode);
    if (e.fileOp != null) this.generated(16, e.fileOp, pb.FileOp.encode);
    if (e.netSocket != null) this.generated(17, e.netSocket, pb.NetSocket.encode);
    if (e.dnsQuery != null) this.generated(18, e.dnsQuery, pb.DnsQuery.encode);
    if (e.privSetid != null) this.generated(19, e.privSetid, pb.PrivSetid.encode);
    if (e.capset != null) this.generated(20, e.capset, pb.Capset.encode);
    if (e.ptrace != null) this.generated(21, e.ptrace, pb.Ptrace.encode);
    if (e.mount != null) this.generated(22, e.mount, pb.Mount.encode);
    if (e.namespace != null) this.generated(23, e.namespace, pb.Namespace.encode);
    if (e.moduleLoad != null) this.generated(24, e.moduleLoad, pb.ModuleLoad.encode);
    if (e.bpfProgLoad != null) this.generated(25, e.bpfProgLoad, pb.BpfProgLoad.encode);
    if (e.memfdCreate != null) this.generated(26, e.memfdCreate, pb.MemfdCreate.encode);
    if (e.signal != null) this.generated(27, e.signal, pb.SignalSend.encode);
  }

  /** A payload without a hand-written encoder (the rarer kinds): the generated one writes it. */
  private generated(field: number, m: object, encode: Generated): void {
    this.tag((field << 3) | 2);
    this.bytes(encode(m as never).finish());
  }

  private process(p: IProcess): void {
    if (!isPlain(p)) {
      this.tag(TAG_EVENT_PROCESS);
      this.bytes(pb.Process.encode(p).finish());
      return;
    }
    const tail = this.processTail(p);
    let head = 0;
    if (p.pid != null) head += 1 + varintSize(p.pid >>> 0);
    if (p.tid != null) head += 1 + varintSize(p.tid >>> 0);
    if (p.ppid != null) head += 1 + varintSize(p.ppid >>> 0);
    if (p.uid != null) head += 1 + varintSize(p.uid >>> 0);
    if (p.gid != null) head += 1 + varintSize(p.gid >>> 0);
    const len = head + tail.length;
    this.ensure(len + 6);
    this.buf[this.pos++] = TAG_EVENT_PROCESS;
    this.varint(len);
    if (p.pid != null) this.uint32Field(1, p.pid);
    if (p.tid != null) this.uint32Field(2, p.tid);
    if (p.ppid != null) this.uint32Field(3, p.ppid);
    if (p.uid != null) this.uint32Field(4, p.uid);
    if (p.gid != null) this.uint32Field(5, p.gid);
    // TypedArray.set: Buffer.copy's argument checks cost more than the copy of ~200 bytes.
    this.buf.set(tail, this.pos);
    this.pos += tail.length;
  }

  /** Fields 6..13 of the process (the strings, cgroup id, euid, ancestors), from the cache when nothing changed. */
  private processTail(p: IProcess): Buffer {
    const key = p.ancestors;
    // Only the process cache's frozen arrays are keys: their elements cannot change under the cached bytes.
    if (key == null || !Object.isFrozen(key)) {
      return this.encodeTail(p.comm, p.parentComm, p.cgroupId as NumberLike, p.cgroupPath, p.binary, p.euid, p.execId,
        p.ancestors);
    }
    return this.cachedTail(key, p.comm, p.parentComm, p.cgroupId as NumberLike, p.cgroupPath, p.binary, p.euid,
      p.execId);
  }

  /** processTail for fields that are not in an object: every argument set, `key` a frozen ancestry array. */
  private cachedTail(
    key: readonly IAncestor[], comm: string | null | undefined, parentComm: string | null | undefined,
    cgroupId: NumberLike, cgroupPath: string | null | undefined, binary: string | null | undefined,
    euid: number | null | undefined, execId: string | null | undefined,
  ): Buffer {
    let t = this.lastKey === key ? this.lastTail : this.tails.get(key);
    if (t === undefined || t.comm !== comm || t.parentComm !== parentComm || t.cgroupId !== cgroupId ||
        t.cgroupPath !== cgroupPath || t.binary !== binary || t.euid !== euid || t.execId !== execId) {
      t = {
        comm, parentComm, cgroupId, cgroupPath, binary, euid, execId,
        bytes: this.encodeTail(comm, parentComm, cgroupId, cgroupPath, binary, euid, execId, key),
      };
      this.tails.set(key, t);
    }
    this.lastKey = key;
    this.lastTail = t;
    return t.bytes;
  }

  private encodeTail(
    comm: string | null | undefined, parentComm: string | null | undefined, cgroupId: NumberLike,
    cgroupPath: string | null | undefined, binary: string | null | undefined, euid: number | null | undefined,
    execId: string | null | undefined, ancestors: readonly IAncestor[] | null | undefined,
  ): Buffer {
    // Written after the current event's bytes, then copied out: the scratch space is free there.
    const start = this.pos;
    try {
      if (comm != null) this.stringField(6, comm);
      if (parentComm != null) this.stringField(7, parentComm);
      if (cgroupId != null) this.uint64Field(8, cgroupId);
      if (cgroupPath != null) this.stringField(9, cgroupPath);
      if (binary != null) this.stringField(10, binary);
      if (euid != null) this.uint32Field(11, euid);
      if (execId != null) this.stringField(12, execId);
      if (ancestors != null) {
        for (const a of ancestors) {
          this.message(13, a, this.ancestor, pb.Ancestor.encode);
        }
      }
      return Buffer.from(this.buf.subarray(start, this.pos));
    } finally {
      this.pos = start;
    }
  }

  /**
   * A FILE_OPEN event from its fields rather than a RawEvent object (KernelSource's encoded path): byte for byte what
   * add() writes for the object EventDecoder and ProcessCache make of the same record (kernel-source.test.ts compares
   * both). The path is the kernel's bytes, src[pathAt, pathAt + pathMax) up to a NUL, copied as they are when they
   * are ASCII (so no JS string per event); `path` when the caller already has it as a string.
   */
  addFileOpen(
    timeUnixNano: number, cpu: number,
    pid: number, tid: number, ppid: number, uid: number, gid: number, euid: number,
    comm: string, parentComm: string, cgroupId: number, cgroupPath: string, binary: string, execId: string,
    ancestors: readonly IAncestor[],
    src: Buffer, pathAt: number, pathMax: number, path: string | undefined,
    flags: number, mode: number, result: number, syscall: string, sensitiveWrite: boolean,
    argAt: number, argMax: number, pathResolution: number, pathTruncated: boolean, pathOutsideRoot: boolean,
    writeFlags: number,
  ): void {
    const tail = this.cachedTail(ancestors, comm, parentComm, cgroupId, cgroupPath, binary, euid, execId);
    this.ensure(74 + tail.length + 3 * pathMax + 3 * argMax);
    const buf = this.buf;
    buf[this.pos] = TAG_BATCH_EVENT;
    const body = this.pos + 3;
    this.pos = body;
    this.uint32Field(1, pb.EventKind.EVENT_KIND_FILE_OPEN);
    buf[this.pos] = (2 << 3) | 1;
    let lo: number;
    let hi: number;
    if (timeUnixNano >= 0) {
      lo = timeUnixNano >>> 0;
      hi = ((timeUnixNano - lo) / 4294967296) >>> 0;
    } else {
      [lo, hi] = longBits(timeUnixNano);
    }
    // Byte stores: writeUInt32LE's argument validation cost more than the write.
    const t = this.pos + 1;
    buf[t] = lo;
    buf[t + 1] = lo >>> 8;
    buf[t + 2] = lo >>> 16;
    buf[t + 3] = lo >>> 24;
    buf[t + 4] = hi;
    buf[t + 5] = hi >>> 8;
    buf[t + 6] = hi >>> 16;
    buf[t + 7] = hi >>> 24;
    this.pos += 9;
    this.uint32Field(3, cpu);
    const len = 5 + varintSize(pid >>> 0) + varintSize(tid >>> 0) + varintSize(ppid >>> 0) + varintSize(uid >>> 0) +
      varintSize(gid >>> 0) + tail.length;
    buf[this.pos++] = TAG_EVENT_PROCESS;
    this.varint(len);
    this.uint32Field(1, pid);
    this.uint32Field(2, tid);
    this.uint32Field(3, ppid);
    this.uint32Field(4, uid);
    this.uint32Field(5, gid);
    buf.set(tail, this.pos);
    this.pos += tail.length;
    buf[this.pos] = (12 << 3) | 2;
    const payload = this.pos + 2;
    this.pos = payload;
    if (path !== undefined) this.stringField(1, path);
    else this.pathField(1, src, pathAt, pathMax);
    this.int32Field(2, flags);
    this.uint32Field(3, mode);
    this.int64Field(4, result);
    this.stringField(5, syscall);
    this.boolField(6, sensitiveWrite);
    // requested_path: "" when the string as passed is the path (as the decoder compares the two strings).
    if (path === undefined ? sameCString(src, pathAt, pathMax, argAt, argMax) : cStringIs(src, argAt, argMax, path)) {
      this.stringField(7, '');
    } else {
      this.pathField(7, src, argAt, argMax);
    }
    this.int32Field(8, pathResolution);
    this.boolField(9, pathTruncated);
    this.boolField(10, pathOutsideRoot);
    // Write intent and truncation (PAL_FILE_* bits of the record), as decodeFileOpen turns them into booleans.
    this.boolField(11, (writeFlags & C_FILE_WRITE) !== 0);
    this.boolField(12, (writeFlags & C_FILE_TRUNC) !== 0);
    this.boolField(13, (writeFlags & C_FILE_APPEND) !== 0);
    this.boolField(14, (writeFlags & C_FILE_CREATED) !== 0);
    this.boolField(15, (writeFlags & C_FILE_TRUNCATED_EXISTING) !== 0);
    this.endLength(payload, 1);
    this.endLength(body, 2);
  }

  /** A string field from a NUL-terminated kernel string: its bytes when ASCII, else decoded as cString does. */
  private pathField(field: number, src: Buffer, at: number, max: number): void {
    const buf = this.buf;
    const tagAt = this.pos;
    buf[tagAt] = (field << 3) | 2;
    const start = tagAt + 3; // the tag, then room for a two-byte length: paths are < 16384 bytes
    const end = Math.min(at + max, src.length);
    let i = at;
    for (; i < end; i++) {
      const c = src[i] ?? 0;
      if (c === 0) break;
      if (c >= 128) {
        // Invalid UTF-8 must become U+FFFD exactly as in the object path: let the string round trip do it.
        const nul = src.indexOf(0, at);
        this.pos = tagAt;
        this.stringField(field, src.toString('utf8', at, nul === -1 || nul > end ? end : nul));
        return;
      }
      buf[start + i - at] = c;
    }
    this.pos = start + i - at;
    this.endLength(start, 2);
  }

  // ---- payloads (keep in sync with events.proto)

  private readonly ancestor = (a: IAncestor): void => {
    if (a.pid != null) this.uint32Field(1, a.pid);
    if (a.binary != null) this.stringField(2, a.binary);
    if (a.comm != null) this.stringField(3, a.comm);
    if (a.execId != null) this.stringField(4, a.execId);
  };

  private readonly exec = (m: palisade.v1.IProcessExec): void => {
    if (m.filename != null) this.stringField(1, m.filename);
    if (m.argv != null) for (const a of m.argv) this.stringField(2, a);
    if (m.argvTruncated != null) this.boolField(3, m.argvTruncated);
    if (m.cgroupName != null) this.stringField(4, m.cgroupName);
    if (m.cwd != null) this.stringField(5, m.cwd);
    if (m.cwdTruncated != null) this.boolField(6, m.cwdTruncated);
    if (m.capEffective != null) this.uint64Field(7, m.capEffective as NumberLike);
    if (m.capPermitted != null) this.uint64Field(8, m.capPermitted as NumberLike);
    if (m.pidNs != null) this.uint32Field(9, m.pidNs);
    if (m.mntNs != null) this.uint32Field(10, m.mntNs);
    if (m.netNs != null) this.uint32Field(11, m.netNs);
    if (m.loginuid != null) this.uint32Field(12, m.loginuid);
    if (m.fromMemfd != null) this.boolField(13, m.fromMemfd);
    if (m.resolvedFilename != null) this.stringField(14, m.resolvedFilename);
    if (m.resolvedFilenameTruncated != null) this.boolField(15, m.resolvedFilenameTruncated);
    if (m.stdioSockets != null) for (const s of m.stdioSockets) this.generated(16, s, pb.StdioSocket.encode);
    // exec environment and origin (issue 8, execenv)
    if (m.env != null) {
      // map<string, string>: one entry message per key (key = 1, value = 2), as protobufjs writes them.
      for (const k of Object.keys(m.env)) {
        this.tag((20 << 3) | 2);
        this.ensure(1);
        const start = this.pos + 1;
        this.pos = start;
        this.stringField(1, k);
        this.stringField(2, m.env[k] ?? '');
        this.endLength(start, 1);
      }
    }
    if (m.envScanIncomplete != null) this.boolField(21, m.envScanIncomplete);
    if (m.envValueTruncated != null) this.boolField(22, m.envValueTruncated);
    if (m.envCount != null) this.uint32Field(23, m.envCount);
    if (m.envBytes != null) this.uint32Field(24, m.envBytes);
    if (m.exeFsType != null) this.stringField(25, m.exeFsType);
    if (m.exeOnTmpfs != null) this.boolField(26, m.exeOnTmpfs);
    if (m.exeInTmpDir != null) this.boolField(27, m.exeInTmpDir);
    if (m.exeOverlayLayer != null) this.int32Field(28, m.exeOverlayLayer);
    if (m.exeCtimeUnixNano != null) this.uint64Field(29, m.exeCtimeUnixNano as NumberLike);
    if (m.exeMtimeUnixNano != null) this.uint64Field(30, m.exeMtimeUnixNano as NumberLike);
    if (m.containerStartUnixNano != null) this.uint64Field(31, m.containerStartUnixNano as NumberLike);
    if (m.exeModifiedAfterContainerStart != null) this.boolField(32, m.exeModifiedAfterContainerStart);
  };

  private readonly exit = (m: palisade.v1.IProcessExit): void => {
    if (m.exitCode != null) this.int32Field(1, m.exitCode);
    if (m.signal != null) this.int32Field(2, m.signal);
  };

  private readonly fileOpen = (m: palisade.v1.IFileOpen): void => {
    if (m.path != null) this.stringField(1, m.path);
    if (m.flags != null) this.int32Field(2, m.flags);
    if (m.mode != null) this.uint32Field(3, m.mode);
    if (m.result != null) this.int64Field(4, m.result as NumberLike);
    if (m.syscall != null) this.stringField(5, m.syscall);
    if (m.sensitiveWrite != null) this.boolField(6, m.sensitiveWrite);
    if (m.requestedPath != null) this.stringField(7, m.requestedPath);
    if (m.pathResolution != null) this.int32Field(8, m.pathResolution);
    if (m.pathTruncated != null) this.boolField(9, m.pathTruncated);
    if (m.pathOutsideRoot != null) this.boolField(10, m.pathOutsideRoot);
    if (m.writeIntent != null) this.boolField(11, m.writeIntent);
    if (m.oTrunc != null) this.boolField(12, m.oTrunc);
    if (m.oAppend != null) this.boolField(13, m.oAppend);
    if (m.created != null) this.boolField(14, m.created);
    if (m.truncatedExisting != null) this.boolField(15, m.truncatedExisting);
  };

  private readonly netConnect = (m: palisade.v1.INetConnect): void => {
    if (m.family != null) this.int32Field(1, m.family);
    if (m.daddr != null) this.stringField(2, m.daddr);
    if (m.dport != null) this.uint32Field(3, m.dport);
    if (m.result != null) this.int64Field(4, m.result as NumberLike);
    if (m.protocol != null) this.stringField(5, m.protocol);
  };

  private readonly fork = (m: palisade.v1.IProcessFork): void => {
    if (m.childPid != null) this.uint32Field(1, m.childPid);
    if (m.exitSignal != null) this.uint32Field(2, m.exitSignal);
  };

  // ---- wire primitives (protobufjs Writer semantics: uint32 >>> 0, negative int32 as 10-byte varint, bool 0/1)

  /** A length-delimited submessage; a non-plain one (a generated message instance) goes to the generated encoder. */
  private message<T extends object>(field: number, m: T, body: (m: T) => void, generated: Generated): void {
    this.tag((field << 3) | 2);
    if (!isPlain(m)) {
      this.bytes(generated(m as never).finish());
      return;
    }
    this.ensure(1);
    const start = this.pos + 1;
    this.pos = start;
    body(m);
    this.endLength(start, 1);
  }

  /** Writes the length of the body at [start, pos) into the `reserved` bytes before it, moving the body if needed. */
  private endLength(start: number, reserved: number): void {
    const len = this.pos - start;
    const need = varintSize(len);
    if (need !== reserved) {
      this.ensure(need);
      this.buf.copyWithin(start + need - reserved, start, this.pos);
      this.pos += need - reserved;
    }
    const end = this.pos;
    this.pos = start - reserved;
    this.varint(len);
    this.pos = end;
  }

  private tag(t: number): void {
    this.ensure(5);
    this.varint(t);
  }

  /** A length-delimited field's value from the generated encoder: its length, then its bytes. */
  private bytes(b: Uint8Array): void {
    this.ensure(b.length + 5);
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  private varint(v: number): void {
    const buf = this.buf;
    while (v > 127) {
      buf[this.pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    buf[this.pos++] = v;
  }

  private varint64(lo: number, hi: number): void {
    this.ensure(10);
    const buf = this.buf;
    while (hi !== 0) {
      buf[this.pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.varint(lo);
  }

  private uint32Field(field: number, v: number): void {
    this.ensure(10);
    this.varint(field << 3);
    this.varint(v >>> 0);
  }

  private int32Field(field: number, v: number): void {
    if (v < 0) {
      this.tag(field << 3);
      const [lo, hi] = longBits(v);
      this.varint64(lo, hi);
    } else {
      this.uint32Field(field, v);
    }
  }

  private boolField(field: number, v: boolean): void {
    this.uint32Field(field, v ? 1 : 0);
  }

  private uint64Field(field: number, v: NumberLike): void {
    if (typeof v === 'number' && v >= 0 && v <= 4294967295) {
      this.uint32Field(field, v);
      return;
    }
    this.tag(field << 3);
    const [lo, hi] = longBits(v);
    this.varint64(lo, hi);
  }

  private int64Field(field: number, v: NumberLike): void {
    this.uint64Field(field, v);
  }

  private stringField(field: number, s: string): void {
    const n = s.length;
    this.ensure(n * 3 + 10);
    const buf = this.buf;
    this.varint((field << 3) | 2);
    // ASCII up to 127 chars (comms, syscall names, most paths): a JS loop with the one-byte length is cheaper than a
    // call into the runtime's UTF-8 writer; anything else goes there.
    if (n < 128) {
      const at = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 128) break;
        buf[at + i] = c;
      }
      if (i === n) {
        buf[this.pos] = n;
        this.pos = at + n;
        return;
      }
    }
    const start = this.pos + 1;
    const written = buf.write(s, start);
    this.pos = start + written;
    this.endLength(start, 1);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
}

/** Bytes encodeBatch may need in front of the events for the header of a batch from `node`: node, then seq. */
export function batchHeaderRoom(node: string): number {
  return 1 + 5 + Buffer.byteLength(node) + 1 + 10;
}

/**
 * One RawEventBatch record: the header the generated encoder writes (node, seq), the events' bytes from a
 * RawBatchEncoder (events[eventsStart..]), the losses and the instance id: byte for byte what
 * pb.RawEventBatch.encode({node, seq, events, losses, instanceId}) gives. Without losses and with room enough before the events, the header is written in place.
 */
export function encodeBatch(
  node: string, seq: number, events: Buffer, eventsStart: number, losses: palisade.v1.ILossRecord[], instanceId = '',
): Buffer {
  const header = pb.RawEventBatch.encode({ node, seq }).finish();
  if (losses.length === 0 && instanceId === '' && header.length <= eventsStart) {
    const out = events.subarray(eventsStart - header.length);
    out.set(header, 0);
    return out;
  }
  const body = events.subarray(eventsStart);
  // Fields 4 (losses) and 5 (instance_id) come after the events, as the generated encoder orders them.
  const tail = losses.length > 0 || instanceId !== ''
    ? pb.RawEventBatch.encode({ losses, ...(instanceId !== '' && { instanceId }) }).finish() : undefined;
  const out = Buffer.allocUnsafe(header.length + body.length + (tail?.length ?? 0));
  out.set(header, 0);
  out.set(body, header.length);
  if (tail !== undefined) out.set(tail, header.length + body.length);
  return out;
}
