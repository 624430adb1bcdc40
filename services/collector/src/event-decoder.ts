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
  private readonly offsetNs: bigint;
  private errors = 0;

  constructor(opts: { bootToRealtimeOffsetNs: bigint }) {
    this.offsetNs = opts.bootToRealtimeOffsetNs;
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
      const event = this.decodeRecord(batch.subarray(off, off + size));
      if (event === undefined) this.errors++;
      else events.push(event);
      off += size;
    }
    return events;
  }

  private decodeRecord(rec: Buffer): palisade.v1.IRawEvent | undefined {
    const kind = rec.readUInt16LE(H.kind);
    const base: palisade.v1.IRawEvent = {
      timeUnixNano: Number(rec.readBigUInt64LE(H.ts_ns) + this.offsetNs),
      cpu: rec.readUInt32LE(H.cpu),
      process: {
        pid: rec.readUInt32LE(H.pid),
        tid: rec.readUInt32LE(H.tid),
        ppid: rec.readUInt32LE(H.ppid),
        uid: rec.readUInt32LE(H.uid),
        gid: rec.readUInt32LE(H.gid),
        euid: rec.readUInt32LE(H.euid),
        comm: cString(rec, H.comm, C.commLen),
        parentComm: cString(rec, H.parent_comm, C.commLen),
        cgroupId: Number(rec.readBigUInt64LE(H.cgroup_id)),
        cgroupPath: '',
        binary: '',
      },
    };
    switch (kind) {
      case C.kindExec:
        return this.decodeExec(rec, base);
      case C.kindExit:
        if (rec.length < LAYOUT.exit.sizeof) return undefined; // longer: fields appended by a newer kernel side
        return { ...base, kind: pb.EventKind.EVENT_KIND_PROCESS_EXIT, exit: decodeExit(rec.readUInt32LE(XT.exit_code)) };
      case C.kindFileOpen:
        return this.decodeFileOpen(rec, base);
      case C.kindNetConnect:
        return this.decodeNetConnect(rec, base);
      default:
        return undefined;
    }
  }

  private decodeExec(rec: Buffer, base: palisade.v1.IRawEvent): palisade.v1.IRawEvent | undefined {
    if (rec.length < EX.args) return undefined;
    const argsLen = rec.readUInt16LE(EX.args_len);
    if (argsLen > C.argvMaxBytes || rec.length !== EX.args + argsLen) return undefined;
    const argc = rec.readUInt32LE(EX.argc);
    const all = splitArgs(rec.subarray(EX.args, EX.args + argsLen));
    const argv = all.slice(0, C.argvMaxArgs);
    const argvTruncated =
      (rec.readUInt8(EX.flags) & C.execArgsTruncated) !== 0 || all.length > argv.length || argv.length < argc;
    return {
      ...base,
      kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC,
      exec: {
        filename: cString(rec, EX.filename, C.pathMax),
        argv,
        argvTruncated,
        cgroupName: cString(rec, EX.cgroup_name, C.cgroupNameMax),
      },
    };
  }

  private decodeFileOpen(rec: Buffer, base: palisade.v1.IRawEvent): palisade.v1.IRawEvent | undefined {
    if (rec.length < FO.path) return undefined;
    const pathLen = rec.readUInt16LE(FO.path_len);
    if (pathLen > C.pathMax || rec.length !== FO.path + pathLen) return undefined;
    return {
      ...base,
      kind: pb.EventKind.EVENT_KIND_FILE_OPEN,
      fileOpen: {
        path: cString(rec, FO.path, pathLen),
        // O_* flags all live in the low 32 bits; the proto field is int32.
        flags: rec.readInt32LE(FO.flags),
        mode: rec.readUInt32LE(FO.mode),
        result: Number(rec.readBigInt64LE(FO.result)),
        syscall: SYSCALL_NAMES[rec.readUInt16LE(FO.syscall)] ?? '',
      },
    };
  }

  private decodeNetConnect(rec: Buffer, base: palisade.v1.IRawEvent): palisade.v1.IRawEvent | undefined {
    if (rec.length < LAYOUT.netConnect.sizeof) return undefined;
    const family = rec.readUInt16LE(NC.family);
    const addr = rec.subarray(NC.daddr, NC.daddr + 16);
    let daddr: string;
    if (family === AF_INET) daddr = formatIPv4(addr);
    else if (family === AF_INET6) daddr = formatIPv6(addr);
    else return undefined;
    return {
      ...base,
      kind: pb.EventKind.EVENT_KIND_NET_CONNECT,
      netConnect: {
        family: family === AF_INET ? pb.AddressFamily.ADDRESS_FAMILY_INET : pb.AddressFamily.ADDRESS_FAMILY_INET6,
        daddr,
        dport: rec.readUInt16LE(NC.dport),
        result: Number(rec.readBigInt64LE(NC.result)),
        protocol: IPPROTO_NAMES[rec.readUInt8(NC.protocol)] ?? '',
      },
    };
  }
}

/** task->exit_code is a wait status: (code << 8) | signal, with 0x80 the core-dump bit. */
export function decodeExit(raw: number): palisade.v1.IProcessExit {
  return { exitCode: (raw >> 8) & 0xff, signal: raw & 0x7f };
}
