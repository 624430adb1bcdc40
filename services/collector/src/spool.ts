// The collector's on-disk spool: where encoded RawEventBatch records wait while the broker is away, oldest first.
//
// Layout: <dir>/<20-digit segment number>.seg, append-only; the lowest number is the oldest. A segment is rolled
// when it would grow past segmentBytes, and deleted once every record in it has been acknowledged (ack()).
//
// Framing, per record (little-endian):
//   u32 payload length | u32 CRC-32 of the payload | payload
//   payload = u8 version | f64 spooled-at ms since the epoch | u32 events | u16 key length | key | value
// Version 1 stores the value as it is; version 2 stores it deflated (raw deflate, level 1): a RawEventBatch repeats
// each event's process fields and compresses about N-fold at ~100 MB/s, so the spool holds N times as long an
// outage and writes N times less, for a little CPU while the broker is away anyway.
// A kill -9 in the middle of a write leaves a torn last frame; open() finds the first frame whose length or CRC does
// not hold, truncates the segment there, counts the bytes and goes on: a torn tail is never fatal.
//
// Durability (the fsync policy): records are written with write(2) as they are spooled, so a kill -9 of the collector
// loses nothing that was spooled (the page cache survives the process). Against a machine crash, each segment is
// fdatasync'ed when it is rolled, and the open segment every fsyncIntervalMs while it has unsynced writes: a power
// loss loses at most the last interval of spooled records. Replay is at-least-once: a record is acknowledged (and its
// segment deleted) only after the broker accepted it, so a crash during replay sends some records again.
import { closeSync, fdatasync, fdatasyncSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync,
  truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { PalisadeError, type Logger } from '@palisade/common';

const STORED = 1;
const DEFLATED = 2;
const FRAME_HEADER = 8;
/** version + spooled-at + events + key length. */
const PAYLOAD_FIXED = 1 + 8 + 4 + 2;
/** A length above this is a torn or corrupt header, not a record (the broker would not take one this large either). */
const MAX_RECORD_BYTES = 256 << 20;
const SEGMENT_RE = /^(\d{20})\.seg$/;

export interface SpoolRecord {
  key: string;
  value: Uint8Array;
  /** Events in the batch (for metrics; the record itself says it too). */
  events: number;
  spooledAtMs: number;
}

export interface SpoolOptions {
  dir: string;
  /** The most bytes the segments may hold on disk together. */
  maxBytes: number;
  /** A segment is rolled before it grows past this; default maxBytes / 16, between 1 and 64 MiB. */
  segmentBytes?: number;
  /** fdatasync of the open segment at most this long after a write; default 1000 ms. */
  fsyncIntervalMs?: number;
  /** Deflate the values (version 2 frames); default true. Either kind is read back whatever this says. */
  compress?: boolean;
  logger: Logger;
  /** For tests: the clock. */
  nowMs?: () => number;
}

/** What open() found on disk. */
export interface SpoolRecovery {
  segments: number;
  records: number;
  bytes: number;
  /** Bytes cut off torn or corrupt segment tails. */
  truncatedBytes: number;
}

interface Segment {
  seq: number;
  path: string;
  bytes: number;
  records: number;
}

interface Peeked {
  record: SpoolRecord;
  frameBytes: number;
}

export type AppendResult = 'ok' | 'full';

function segmentName(seq: number): string {
  return `${String(seq).padStart(20, '0')}.seg`;
}

export function encodeFrame(r: Omit<SpoolRecord, 'spooledAtMs'>, spooledAtMs: number, compress = false): Buffer {
  const key = Buffer.from(r.key);
  if (key.length > 0xffff) throw new PalisadeError('INTERNAL', `spool: a record key of ${key.length} bytes`);
  let value = r.value;
  let version = STORED;
  if (compress) {
    const deflated = deflateRawSync(r.value, { level: 1, strategy: zlibConstants.Z_DEFAULT_STRATEGY });
    if (deflated.length < value.byteLength) { value = deflated; version = DEFLATED; }
  }
  const payloadLen = PAYLOAD_FIXED + key.length + value.byteLength;
  const frame = Buffer.allocUnsafe(FRAME_HEADER + payloadLen);
  let at = FRAME_HEADER;
  frame.writeUInt8(version, at); at += 1;
  frame.writeDoubleLE(spooledAtMs, at); at += 8;
  frame.writeUInt32LE(r.events >>> 0, at); at += 4;
  frame.writeUInt16LE(key.length, at); at += 2;
  key.copy(frame, at); at += key.length;
  frame.set(value, at);
  frame.writeUInt32LE(payloadLen, 0);
  frame.writeUInt32LE(crc32(frame.subarray(FRAME_HEADER)), 4);
  return frame;
}

/** The payload of a frame whose CRC held (the value still deflated in a version 2 frame); undefined when the version is not ours. */
function decodePayload(p: Buffer): (SpoolRecord & { deflated: boolean }) | undefined {
  const version = p.length < PAYLOAD_FIXED ? 0 : p.readUInt8(0);
  if (version !== STORED && version !== DEFLATED) return undefined;
  const spooledAtMs = p.readDoubleLE(1);
  const events = p.readUInt32LE(9);
  const keyLen = p.readUInt16LE(13);
  if (PAYLOAD_FIXED + keyLen > p.length) return undefined;
  const key = p.toString('utf8', PAYLOAD_FIXED, PAYLOAD_FIXED + keyLen);
  return { key, value: p.subarray(PAYLOAD_FIXED + keyLen), events, spooledAtMs, deflated: version === DEFLATED };
}

/**
 * Scans a segment's bytes; returns the valid prefix's length and record count. Everything from the first frame that
 * does not hold (short, absurd length, CRC mismatch, unknown version) is the torn tail.
 */
export function scanSegment(buf: Buffer): { validBytes: number; records: number } {
  let at = 0;
  let records = 0;
  while (at + FRAME_HEADER <= buf.length) {
    const len = buf.readUInt32LE(at);
    if (len < PAYLOAD_FIXED || len > MAX_RECORD_BYTES || at + FRAME_HEADER + len > buf.length) break;
    const payload = buf.subarray(at + FRAME_HEADER, at + FRAME_HEADER + len);
    if (crc32(payload) !== buf.readUInt32LE(at + 4) || decodePayload(payload) === undefined) break;
    at += FRAME_HEADER + len;
    records++;
  }
  return { validBytes: at, records };
}

export class Spool {
  readonly recovery: SpoolRecovery;
  private readonly segments: Segment[] = [];
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly fsyncIntervalMs: number;
  private readonly compress: boolean;
  private readonly log: Logger;
  private readonly now: () => number;
  private nextSeq = 1;
  private totalBytes = 0;
  private totalRecords = 0;
  /** The segment appends go to (always the last one), open for writing; none until the first append. */
  private writeFd: number | undefined;
  private writeSeg: Segment | undefined;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing = false;
  private closeAfterSync: number[] = [];
  /** Reading the oldest segment: its fd, the offset of the first unacknowledged record, and what peek() read. */
  private readFd: number | undefined;
  private readSeg: Segment | undefined;
  private headOffset = 0;
  private headAcked = 0;
  private peeked: Peeked[] = [];
  private closed = false;

  private constructor(private readonly dir: string, opts: SpoolOptions) {
    this.maxBytes = opts.maxBytes;
    this.segmentBytes = opts.segmentBytes ?? Math.min(64 << 20, Math.max(1 << 20, Math.floor(opts.maxBytes / 16)));
    this.fsyncIntervalMs = opts.fsyncIntervalMs ?? 1_000;
    this.compress = opts.compress ?? true;
    this.log = opts.logger.child({ module: 'spool' });
    this.now = opts.nowMs ?? Date.now;
    this.recovery = this.recover();
  }

  /** Opens (creating) the spool directory and recovers what an earlier instance left, truncating torn tails. */
  static open(opts: SpoolOptions): Spool {
    try {
      mkdirSync(opts.dir, { recursive: true });
    } catch (err) {
      throw new PalisadeError('INTERNAL', `spool: cannot create ${opts.dir}: ${String(err)}`, { cause: err });
    }
    return new Spool(opts.dir, opts);
  }

  private recover(): SpoolRecovery {
    const names = readdirSync(this.dir).filter((n) => SEGMENT_RE.test(n)).sort();
    let truncatedBytes = 0;
    for (const name of names) {
      const seq = Number(SEGMENT_RE.exec(name)?.[1]);
      const path = join(this.dir, name);
      const buf = readFileSync(path);
      const { validBytes, records } = scanSegment(buf);
      if (validBytes < buf.length) {
        truncatedBytes += buf.length - validBytes;
        this.log.warn('spool segment has a torn or corrupt tail; truncated', { segment: name, validBytes, cutBytes: buf.length - validBytes });
      }
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      if (records === 0) {
        rmSync(path, { force: true });
        continue;
      }
      if (validBytes < buf.length) truncateSync(path, validBytes);
      this.segments.push({ seq, path, bytes: validBytes, records });
      this.totalBytes += validBytes;
      this.totalRecords += records;
    }
    const r = { segments: this.segments.length, records: this.totalRecords, bytes: this.totalBytes, truncatedBytes };
    if (r.records > 0 || truncatedBytes > 0) this.log.info('spool recovered', { ...r });
    return r;
  }

  /** Records not yet acknowledged. */
  get records(): number { return this.totalRecords - this.headAcked; }
  /** Bytes the segments take on disk (acknowledged records of the oldest one included, until it is deleted). */
  get bytes(): number { return this.totalBytes; }
  get capacity(): number { return this.maxBytes; }

  /**
   * Appends a record behind every other one. 'full': it would take the spool past maxBytes, nothing was written.
   * Throws (PalisadeError, retriable) when the disk refuses the write.
   */
  append(r: Omit<SpoolRecord, 'spooledAtMs'>): AppendResult {
    this.assertOpen();
    const frame = encodeFrame(r, this.now(), this.compress);
    if (this.totalBytes + frame.length > this.maxBytes) return 'full';
    try {
      if (this.writeSeg === undefined || (this.writeSeg.bytes > 0 && this.writeSeg.bytes + frame.length > this.segmentBytes)) this.roll();
      const seg = this.writeSeg as Segment;
      const fd = this.writeFd as number;
      let off = 0;
      while (off < frame.length) off += writeSync(fd, frame, off, frame.length - off);
      seg.bytes += frame.length;
      seg.records++;
      this.totalBytes += frame.length;
      this.totalRecords++;
    } catch (err) {
      throw new PalisadeError('INTERNAL', `spool: cannot write ${this.dir}: ${err instanceof Error ? err.message : String(err)}`,
        { retriable: true, cause: err });
    }
    this.dirty = true;
    this.syncTimer ??= setTimeout(() => this.syncSoon(), this.fsyncIntervalMs).unref();
    return 'ok';
  }

  /** Starts a new segment; the one before is fsynced and closed first. */
  private roll(): void {
    if (this.writeFd !== undefined) {
      fdatasyncSync(this.writeFd);
      this.closeWriteFd();
    }
    const seg: Segment = { seq: this.nextSeq++, path: '', bytes: 0, records: 0 };
    seg.path = join(this.dir, segmentName(seg.seq));
    this.writeFd = openSync(seg.path, 'a');
    this.writeSeg = seg;
    this.segments.push(seg);
    this.dirty = false;
  }

  private closeWriteFd(): void {
    const fd = this.writeFd;
    this.writeFd = undefined;
    this.writeSeg = undefined;
    if (fd === undefined) return;
    // An fdatasync in flight on this fd must finish before it is closed (or the number could be reused under it).
    if (this.syncing) this.closeAfterSync.push(fd);
    else closeSync(fd);
  }

  private syncSoon(): void {
    this.syncTimer = undefined;
    const fd = this.writeFd;
    if (!this.dirty || fd === undefined || this.syncing) return;
    this.dirty = false;
    this.syncing = true;
    fdatasync(fd, (err) => {
      this.syncing = false;
      for (const f of this.closeAfterSync.splice(0)) closeSync(f);
      if (err) this.log.warn('spool fdatasync failed', { err: err.message });
      if (this.dirty && !this.closed) this.syncTimer ??= setTimeout(() => this.syncSoon(), this.fsyncIntervalMs).unref();
    });
  }

  /** fdatasync of the open segment now (at stop). */
  sync(): void {
    if (this.writeFd !== undefined && this.dirty) {
      fdatasyncSync(this.writeFd);
      this.dirty = false;
    }
  }

  /**
   * The oldest unacknowledged records, oldest first, at most maxRecords and (past the first) maxBytes of values; all
   * from one segment. They stay in the spool until ack().
   */
  peek(maxRecords: number, maxBytes: number): SpoolRecord[] {
    this.assertOpen();
    this.dropConsumedHead();
    const seg = this.segments[0];
    if (seg === undefined) return [];
    if (this.readSeg !== seg) this.openHead(seg);
    let bytes = this.peeked.reduce((n, p) => n + p.record.value.byteLength, 0);
    let offset = this.headOffset + this.peeked.reduce((n, p) => n + p.frameBytes, 0);
    while (this.peeked.length < maxRecords && this.headAcked + this.peeked.length < seg.records) {
      const p = this.readFrame(offset);
      if (this.peeked.length > 0 && bytes + p.record.value.byteLength > maxBytes) break;
      this.peeked.push(p);
      bytes += p.record.value.byteLength;
      offset += p.frameBytes;
    }
    return this.peeked.slice(0, maxRecords).map((p) => p.record);
  }

  /** When the oldest record was spooled (ms since the epoch), or undefined when the spool is empty. */
  oldestSpooledAtMs(): number | undefined {
    if (this.closed || this.records === 0) return undefined;
    try {
      return this.peek(1, 0)[0]?.spooledAtMs;
    } catch {
      return undefined;
    }
  }

  /** The n oldest records reached the broker: they leave the spool, and so does every segment left empty. */
  ack(n: number): void {
    this.assertOpen();
    if (n > this.peeked.length) throw new PalisadeError('INTERNAL', `spool: ack(${n}) of ${this.peeked.length} peeked records`);
    for (const p of this.peeked.splice(0, n)) this.headOffset += p.frameBytes;
    this.headAcked += n;
    this.dropConsumedHead();
  }

  private dropConsumedHead(): void {
    for (;;) {
      const seg = this.segments[0];
      if (seg === undefined || this.readSeg !== seg || this.headAcked < seg.records) return;
      if (seg === this.writeSeg) this.closeWriteFd();
      this.closeHead();
      this.segments.shift();
      this.totalBytes -= seg.bytes;
      this.totalRecords -= seg.records;
      this.headAcked = 0;
      rmSync(seg.path, { force: true });
    }
  }

  private openHead(seg: Segment): void {
    this.closeHead();
    this.readFd = openSync(seg.path, 'r');
    this.readSeg = seg;
    this.headOffset = 0;
    this.headAcked = 0;
    this.peeked = [];
  }

  private closeHead(): void {
    if (this.readFd !== undefined) closeSync(this.readFd);
    this.readFd = undefined;
    this.readSeg = undefined;
    this.peeked = [];
    this.headOffset = 0;
  }

  private readFrame(offset: number): Peeked {
    const fd = this.readFd as number;
    const head = Buffer.allocUnsafe(FRAME_HEADER);
    this.readFully(fd, head, offset);
    const len = head.readUInt32LE(0);
    if (len < PAYLOAD_FIXED || len > MAX_RECORD_BYTES) throw this.corrupt(offset, 'length');
    const payload = Buffer.allocUnsafe(len);
    this.readFully(fd, payload, offset + FRAME_HEADER);
    if (crc32(payload) !== head.readUInt32LE(4)) throw this.corrupt(offset, 'CRC');
    const decoded = decodePayload(payload);
    if (decoded === undefined) throw this.corrupt(offset, 'version');
    const { deflated, ...record } = decoded;
    if (deflated) {
      try {
        record.value = inflateRawSync(record.value);
      } catch (err) {
        throw this.corrupt(offset, `deflate stream (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    return { record, frameBytes: FRAME_HEADER + len };
  }

  private readFully(fd: number, buf: Buffer, position: number): void {
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, position + got);
      if (n === 0) throw this.corrupt(position, 'end of file');
      got += n;
    }
  }

  // Frames written by this process were checked at open or written whole; a bad one now is the disk changing under us.
  private corrupt(offset: number, what: string): PalisadeError {
    return new PalisadeError('INTERNAL', `spool: ${this.readSeg?.path ?? '?'} at ${offset}: bad ${what}`);
  }

  private assertOpen(): void {
    if (this.closed) throw new PalisadeError('INTERNAL', 'spool: closed');
  }

  /** Syncs and closes the files; what is left is replayed by the next open(). Idempotent. */
  close(): void {
    if (this.closed) return;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    try {
      this.sync();
    } catch (err) {
      this.log.warn('spool fdatasync at close failed', { err: err instanceof Error ? err.message : String(err) });
    }
    this.closeWriteFd();
    this.closeHead();
    this.closed = true;
  }

  /** For tests: the segment files, oldest first. */
  segmentFiles(): string[] {
    return this.segments.map((s) => s.path);
  }
}
