// Decodes the addon's batches (records back to back, each with the common header) into RawEvent objects.
// Layout: keep in sync with bpf/include/palisade.h. event-decoder.test.ts asserts LAYOUT against the addon's
// layout(), which is compiled from that header, so a drift fails the build's tests rather than corrupting fields.
import { pb, type palisade } from '@palisade/common';

/** keep in sync with bpf/include/palisade.h (checked against addon.layout() in event-decoder.test.ts) */
export const LAYOUT = {
  header: {
    sizeof: 80,
    fields: {
      kind: 0, size: 2, cpu: 4, ts_ns: 8, pid: 16, tid: 20, ppid: 24, uid: 28, gid: 32, euid: 36, cgroup_id: 40,
      comm: 48, parent_comm: 64,
    },
  },
  /** keep in sync with struct pal_exec_event in bpf/include/palisade.h */
  exec: { sizeof: 984, fields: { argc: 80, args_len: 84, flags: 86, filename: 88, cgroup_name: 344, args: 472 } },
  /** keep in sync with struct pal_exit_event in bpf/include/palisade.h */
  exit: { sizeof: 88, fields: { exit_code: 80 } },
  /** keep in sync with struct pal_file_open_event in bpf/include/palisade.h */
  fileOpen: { sizeof: 360, fields: { result: 80, flags: 88, mode: 96, syscall: 100, path_len: 102, path: 104 } },
  /** keep in sync with struct pal_net_connect_event in bpf/include/palisade.h */
  netConnect: { sizeof: 112, fields: { result: 80, family: 88, dport: 90, protocol: 92, daddr: 96 } },
  /** keep in sync with the #defines and enums in bpf/include/palisade.h */
  constants: {
    commLen: 16, pathMax: 256, cgroupNameMax: 128, argvMaxBytes: 512, argvMaxArgs: 20, execArgsTruncated: 1,
    kindExec: 1, kindExit: 2, kindFileOpen: 3, kindNetConnect: 4,
    syscallOpenat: 1, syscallOpenat2: 2, syscallOpen: 3,
  },
} as const;

const H = LAYOUT.header.fields;
const EX = LAYOUT.exec.fields;
const XT = LAYOUT.exit.fields;
const FO = LAYOUT.fileOpen.fields;
const NC = LAYOUT.netConnect.fields;
const C = LAYOUT.constants;

const SYSCALL_NAMES: Readonly<Record<number, string>> = {
  [C.syscallOpenat]: 'openat',
  [C.syscallOpenat2]: 'openat2',
  [C.syscallOpen]: 'open',
};

const IPPROTO_NAMES: Readonly<Record<number, string>> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };
const AF_INET = 2;
const AF_INET6 = 10;

/**
 * Offset to add to a CLOCK_BOOTTIME timestamp (bpf_ktime_get_boot_ns) to get Unix time, from a pair of clock reads
 * taken by the addon (process.hrtime is CLOCK_MONOTONIC, which stops during suspend, so it would not do).
 * Computed once per KernelSource start: a later wall-clock step (NTP) is not followed until the next start.
 */
export function bootToRealtimeOffsetNs(clocks: { realtimeNs: bigint; boottimeNs: bigint }): bigint {
  return clocks.realtimeNs - clocks.boottimeNs;
}

/** A NUL-terminated string inside [start, start + max). Kernel strings are bytes; invalid UTF-8 becomes U+FFFD. */
function cString(buf: Buffer, start: number, max: number): string {
  const end = Math.min(start + max, buf.length);
  const nul = buf.indexOf(0, start);
  return buf.toString('utf8', start, nul === -1 || nul > end ? end : nul);
}

/** An unsigned 64-bit little-endian field as a number, rounded once exactly as Number(readBigUInt64LE) would. */
function u64(buf: Buffer, at: number): number {
  // hi * 2^32 is exact (hi < 2^32), so the one addition is the only rounding: no BigInt allocated per field.
  return buf.readUInt32LE(at + 4) * 4294967296 + buf.readUInt32LE(at);
}

/** A signed 64-bit little-endian field (syscall results: small negatives or small positives) as a number. */
function i64(buf: Buffer, at: number): number {
  return buf.readInt32LE(at + 4) * 4294967296 + buf.readUInt32LE(at);
}

const COMM_CACHE_SLOTS = 512; // a power of two

/**
 * comm[16] -> string, direct-mapped by the field's four 32-bit words. Every event carries two comms and they repeat
 * (one process makes many syscalls), so most events decode no comm at all: a string per event per comm was a fifth
 * of the decoder's allocations, and what the scavenger had to copy.
 */
class CommCache {
  private readonly words = new Int32Array(COMM_CACHE_SLOTS * 4);
  private readonly strings: string[] = new Array<string>(COMM_CACHE_SLOTS).fill('');
  private readonly filled = new Uint8Array(COMM_CACHE_SLOTS);

  get(buf: Buffer, at: number): string {
    const w0 = buf.readInt32LE(at);
    const w1 = buf.readInt32LE(at + 4);
    const w2 = buf.readInt32LE(at + 8);
    const w3 = buf.readInt32LE(at + 12);
    const slot = (Math.imul(w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b) ^ Math.imul(w3, 0xc2b2ae35),
      0x27d4eb2f) >>> 23) & (COMM_CACHE_SLOTS - 1);
    const k = slot * 4;
    const words = this.words;
    if (this.filled[slot] === 1 && words[k] === w0 && words[k + 1] === w1 && words[k + 2] === w2 && words[k + 3] === w3) {
      return this.strings[slot] ?? '';
    }
    const s = cString(buf, at, C.commLen);
    words[k] = w0;
    words[k + 1] = w1;
    words[k + 2] = w2;
    words[k + 3] = w3;
    this.strings[slot] = s;
    this.filled[slot] = 1;
    return s;
  }
}

export function formatIPv4(bytes: Buffer): string {
  return `${bytes[0] ?? 0}.${bytes[1] ?? 0}.${bytes[2] ?? 0}.${bytes[3] ?? 0}`;
}

/** RFC 5952 text form: lowercase, longest run (>= 2) of zero groups as "::", IPv4-mapped as ::ffff:a.b.c.d. */
export function formatIPv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(bytes.readUInt16BE(i * 2));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(bytes.subarray(12, 16))}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Splits the NUL-separated argv bytes; the last piece may be cut by the kernel's byte bound. */
function splitArgs(bytes: Buffer): string[] {
  const args: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    const nul = bytes.indexOf(0, start);
    const end = nul === -1 ? bytes.length : nul;
    args.push(bytes.toString('utf8', start, end));
    start = end + 1;
  }
  return args;
}

export class EventDecoder {
  /** bootToRealtimeOffsetNs split into 32-bit halves, so timestamps are added without a BigInt per event. */
  private readonly offsetHi: number;
  private readonly offsetLo: number;
  private readonly comms = new CommCache();
  private errors = 0;

  constructor(opts: { bootToRealtimeOffsetNs: bigint }) {
    const offset = opts.bootToRealtimeOffsetNs;
    this.offsetHi = Number(offset >> 32n); // signed: a negative offset (clock before 1970) still adds up
    this.offsetLo = Number(offset & 0xffffffffn);
  }

  /** Records that were short, inconsistent or of an unknown kind, since construction. */
  get decodeErrors(): number {
    return this.errors;
  }

  /** Never throws on bad input: a bad record is counted and skipped, a bad size ends the batch. */
  decode(batch: Buffer): palisade.v1.IRawEvent[] {
    const events: palisade.v1.IRawEvent[] = [];
    let off = 0;
    while (off < batch.length) {
      if (batch.length - off < LAYOUT.header.sizeof) {
        this.errors++;
        break;
      }
      const size = batch.readUInt16LE(off + H.size);
      if (size < LAYOUT.header.sizeof || size > batch.length - off) {
        // The walk depends on size; once it is wrong, nothing after it can be trusted.
        this.errors++;
        break;
      }
      // Fields are read at off + offset from the batch itself: a subarray per record was one more object per event.
      const event = this.decodeRecord(batch, off, size);
      if (event === undefined) this.errors++;
      else events.push(event);
      off += size;
    }
    return events;
  }

  /**
   * Each kind builds its event in one object literal with the same field order, so V8 keeps one shape per kind and
   * nothing is built twice (a spread of a shared base object used to copy every event once more).
   */
  private decodeRecord(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    switch (buf.readUInt16LE(at + H.kind)) {
      case C.kindExec:
        return this.decodeExec(buf, at, size);
      case C.kindExit:
        if (size < LAYOUT.exit.sizeof) return undefined; // longer: fields appended by a newer kernel side
        return {
          timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
          kind: pb.EventKind.EVENT_KIND_PROCESS_EXIT, exit: decodeExit(buf.readUInt32LE(at + XT.exit_code)),
        };
      case C.kindFileOpen:
        return this.decodeFileOpen(buf, at, size);
      case C.kindNetConnect:
        return this.decodeNetConnect(buf, at, size);
      default:
        return undefined;
    }
  }

  /** ts_ns (CLOCK_BOOTTIME) + offset as Unix nanoseconds, rounded once, as Number(ts + offset) would be. */
  private time(buf: Buffer, at: number): number {
    let lo = buf.readUInt32LE(at + H.ts_ns) + this.offsetLo;
    let hi = buf.readUInt32LE(at + H.ts_ns + 4) + this.offsetHi;
    if (lo >= 4294967296) {
      lo -= 4294967296;
      hi += 1;
    }
    return hi * 4294967296 + lo;
  }

  private process(buf: Buffer, at: number): palisade.v1.IProcess {
    return {
      pid: buf.readUInt32LE(at + H.pid),
      tid: buf.readUInt32LE(at + H.tid),
      ppid: buf.readUInt32LE(at + H.ppid),
      uid: buf.readUInt32LE(at + H.uid),
      gid: buf.readUInt32LE(at + H.gid),
      euid: buf.readUInt32LE(at + H.euid),
      comm: this.comms.get(buf, at + H.comm),
      parentComm: this.comms.get(buf, at + H.parent_comm),
      cgroupId: u64(buf, at + H.cgroup_id),
      cgroupPath: '',
      binary: '',
    };
  }

  private decodeExec(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    if (size < EX.args) return undefined;
    const argsLen = buf.readUInt16LE(at + EX.args_len);
    if (argsLen > C.argvMaxBytes || size !== EX.args + argsLen) return undefined;
    const argc = buf.readUInt32LE(at + EX.argc);
    const all = splitArgs(buf.subarray(at + EX.args, at + EX.args + argsLen));
    const argv = all.length > C.argvMaxArgs ? all.slice(0, C.argvMaxArgs) : all;
    const argvTruncated =
      (buf.readUInt8(at + EX.flags) & C.execArgsTruncated) !== 0 || all.length > argv.length || argv.length < argc;
    return {
      timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
      kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC,
      exec: {
        filename: cString(buf, at + EX.filename, C.pathMax),
        argv,
        argvTruncated,
        cgroupName: cString(buf, at + EX.cgroup_name, C.cgroupNameMax),
      },
    };
  }

  private decodeFileOpen(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    if (size < FO.path) return undefined;
    const pathLen = buf.readUInt16LE(at + FO.path_len);
    if (pathLen > C.pathMax || size !== FO.path + pathLen) return undefined;
    return {
      timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
      kind: pb.EventKind.EVENT_KIND_FILE_OPEN,
      fileOpen: {
        path: cString(buf, at + FO.path, pathLen),
        // O_* flags all live in the low 32 bits; the proto field is int32.
        flags: buf.readInt32LE(at + FO.flags),
        mode: buf.readUInt32LE(at + FO.mode),
        result: i64(buf, at + FO.result),
        syscall: SYSCALL_NAMES[buf.readUInt16LE(at + FO.syscall)] ?? '',
      },
    };
  }

  private decodeNetConnect(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    if (size < LAYOUT.netConnect.sizeof) return undefined;
    const family = buf.readUInt16LE(at + NC.family);
    const addr = buf.subarray(at + NC.daddr, at + NC.daddr + 16);
    let daddr: string;
    if (family === AF_INET) daddr = formatIPv4(addr);
    else if (family === AF_INET6) daddr = formatIPv6(addr);
    else return undefined;
    return {
      timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
      kind: pb.EventKind.EVENT_KIND_NET_CONNECT,
      netConnect: {
        family: family === AF_INET ? pb.AddressFamily.ADDRESS_FAMILY_INET : pb.AddressFamily.ADDRESS_FAMILY_INET6,
        daddr,
        dport: buf.readUInt16LE(at + NC.dport),
        result: i64(buf, at + NC.result),
        protocol: IPPROTO_NAMES[buf.readUInt8(at + NC.protocol)] ?? '',
      },
    };
  }
}

/** task->exit_code is a wait status: (code << 8) | signal, with 0x80 the core-dump bit. */
export function decodeExit(raw: number): palisade.v1.IProcessExit {
  return { exitCode: (raw >> 8) & 0xff, signal: raw & 0x7f };
}
