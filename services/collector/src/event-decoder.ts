// Decodes the addon's batches (records back to back, each with the common header) into RawEvent objects.
// Layout and every id come from the ABI registry (bpf/include/palisade.h, via the addon's abi() and the generated
// ABI in @palisade/common): nothing here restates an offset, so a drift cannot corrupt fields.
import { ABI, pb, type palisade } from '@palisade/common';

/** Struct sizes and field offsets as the addon's compiler laid them out, plus every registry constant by name. */
export const LAYOUT = { ...ABI.structs, constants: ABI.constants } as const;

const H = LAYOUT.header.fields;
const EX = LAYOUT.exec.fields;
const XT = LAYOUT.exit.fields;
const FO = LAYOUT.fileOpen.fields;
const NC = LAYOUT.netConnect.fields;
const PK = LAYOUT.processKill.fields;
const FK = LAYOUT.fork.fields;
const SY = LAYOUT.syscall.fields;
const NS = LAYOUT.netSocket.fields;
const DN = LAYOUT.dns.fields;
const PR = LAYOUT.processRename.fields;
const SI = LAYOUT.sockInfo.fields;
const FD = LAYOUT.fdDup.fields;
const C = LAYOUT.constants;

/** PAL_KILL_REASON_* -> ProcessKill.reason. */
const KILL_REASONS: Readonly<Record<number, string>> = {
  [C.killReasonBinary]: 'binary', [C.killReasonPathPrefix]: 'path_prefix', [C.killReasonExe]: 'exe',
};

/** enum pal_op -> the syscall's name, as the typed messages carry it. */
const OP_NAMES: Readonly<Record<number, string>> = Object.fromEntries(ABI.ops.map((o) => [o.id, o.syscall]));

const PTRACE_REQUESTS: Readonly<Record<number, string>> = {
  0: 'PTRACE_TRACEME', 1: 'PTRACE_PEEKTEXT', 2: 'PTRACE_PEEKDATA', 3: 'PTRACE_PEEKUSR', 4: 'PTRACE_POKETEXT',
  5: 'PTRACE_POKEDATA', 6: 'PTRACE_POKEUSR', 7: 'PTRACE_CONT', 8: 'PTRACE_KILL', 9: 'PTRACE_SINGLESTEP',
  12: 'PTRACE_GETREGS', 13: 'PTRACE_SETREGS', 16: 'PTRACE_ATTACH', 17: 'PTRACE_DETACH', 24: 'PTRACE_SYSCALL',
  0x4200: 'PTRACE_SETOPTIONS', 0x4206: 'PTRACE_SEIZE', 0x4207: 'PTRACE_INTERRUPT',
};

const DNS_TYPES: Readonly<Record<number, string>> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 65: 'HTTPS', 255: 'ANY',
};

/**
 * Writes to these are flagged (FileOpen.sensitive_write): system configuration, credentials, binaries. A flag in
 * userspace rather than a kernel kind: the kernel already reports every open, and a list here can change without
 * reloading the programs.
 */
export const SENSITIVE_PREFIXES: readonly string[] = [
  '/etc/', '/root/.ssh/', '/usr/bin/', '/usr/sbin/', '/bin/', '/sbin/', '/usr/lib/', '/lib/', '/boot/',
  '/var/spool/cron/', '/etc/cron.d/',
];
const O_ACCMODE = 3;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;

/** Whether open flags can change a file (write access, create or truncate): the only opens isSensitiveWrite looks at. */
export function opensForWrite(flags: number): boolean {
  return (flags & O_ACCMODE) !== 0 || (flags & (O_CREAT | O_TRUNC)) !== 0;
}

/**
 * A path the kernel could not resolve (a failed open, a path-only syscall), folded lexically: `base` + "/" + `path`
 * when path is relative and a base is known, then "//" and "." dropped and ".." taken back (never above "/"), and
 * "/proc/self/root/" or "/proc/thread-self/root/" read as "/" (they name the task's root, where the kernel's walk
 * stops anyway). Symlinks are not followed: only a struct file says where they lead. A relative path without a base
 * stays relative (folded the same way, leading ".." kept). Cheap when there is nothing to fold.
 */
export function normalisePath(path: string, base = ''): string {
  let p = path;
  if (p[0] !== '/' && base !== '') p = base === '/' ? '/' + p : base + '/' + p;
  const abs = p[0] === '/';
  if (abs && !p.includes('//') && !p.includes('/.') && !p.startsWith('/proc/') && !p.endsWith('/')) return p;
  if (!abs && p !== '' && !p.includes('//') && !p.includes('.') && !p.endsWith('/')) return p;
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
      continue;
    }
    out.push(c);
    if (abs && out.length === 3 && out[0] === 'proc' && (out[1] === 'self' || out[1] === 'thread-self') &&
        out[2] === 'root') out.length = 0;
  }
  return abs ? '/' + out.join('/') : out.join('/') || (p === '' ? '' : '.');
}

/**
 * What a symlink with text `text` at `linkPath` (absolute, normalised) points to: the text itself when absolute,
 * else read from the link's directory, both folded like normalisePath. Nothing is followed: the kernel resolves a
 * symlink's text only when the link is used, and what it names may not exist yet.
 */
export function symlinkTarget(text: string, linkPath: string): string {
  if (text === '' || text[0] === '/') return normalisePath(text);
  const slash = linkPath.lastIndexOf('/');
  const dir = slash < 0 ? '' : slash === 0 ? '/' : linkPath.slice(0, slash);
  return dir === '' ? normalisePath(text) : normalisePath(text, dir);
}

export function isSensitiveWrite(path: string, flags: number): boolean {
  if (!opensForWrite(flags)) return false;
  return SENSITIVE_PREFIXES.some((p) => path.startsWith(p) || path === p.slice(0, -1)) || path.includes('/.ssh/');
}

/**
 * The question of a DNS message (RFC 1035 4.1): the id, then after the 12-byte header the name as length-prefixed
 * labels and the qtype. Bounded: at most 127 labels inside the bytes copied; compression pointers (never used in
 * a question a client sends) and anything malformed give an empty name.
 */
export function parseDnsQuestion(msg: Buffer): { id: number; name: string; qtype: number } {
  if (msg.length < 12) return { id: 0, name: '', qtype: 0 };
  const id = msg.readUInt16BE(0);
  const labels: string[] = [];
  let at = 12;
  for (let i = 0; i < 127; i++) {
    const n = msg[at];
    if (n === undefined || n > 63) return { id, name: '', qtype: 0 };
    if (n === 0) {
      at += 1;
      const qtype = at + 2 <= msg.length ? msg.readUInt16BE(at) : 0;
      return { id, name: labels.join('.'), qtype };
    }
    if (at + 1 + n > msg.length) return { id, name: '', qtype: 0 };
    labels.push(msg.toString('latin1', at + 1, at + 1 + n));
    at += 1 + n;
  }
  return { id, name: '', qtype: 0 };
}

function formatAddr(family: number, bytes: Buffer): string {
  if (family === AF_INET) return formatIPv4(bytes);
  if (family === AF_INET6) return formatIPv6(bytes);
  return '';
}

function addressFamily(family: number): palisade.v1.AddressFamily {
  if (family === AF_INET) return pb.AddressFamily.ADDRESS_FAMILY_INET;
  if (family === AF_INET6) return pb.AddressFamily.ADDRESS_FAMILY_INET6;
  return pb.AddressFamily.ADDRESS_FAMILY_UNSPECIFIED;
}

/** A u64 arg slot that holds a u32 id where 0xffffffff means "unchanged": -1 then. */
function idArg(buf: Buffer, at: number): number {
  const v = buf.readUInt32LE(at);
  return v === 0xffffffff ? -1 : v;
}

export const SYSCALL_NAMES: Readonly<Record<number, string>> = {
  [C.syscallOpenat]: 'openat',
  [C.syscallOpenat2]: 'openat2',
  [C.syscallOpen]: 'open',
};

const IPPROTO_NAMES: Readonly<Record<number, string>> = {
  1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp', 255: 'raw',
};
const AF_INET = 2;
const AF_INET6 = 10;
const AF_UNIX = 1;

/** AF_* -> the name StdioSocket.family, FdDup.family and NetSocket.socket_family carry (linux/socket.h). */
const AF_NAMES: Readonly<Record<number, string>> = {
  1: 'unix', 2: 'inet', 10: 'inet6', 16: 'netlink', 17: 'packet', 4: 'ipx', 5: 'appletalk', 9: 'x25', 15: 'key',
  29: 'can', 30: 'tipc', 31: 'bluetooth', 38: 'alg', 40: 'vsock', 44: 'xdp', 45: 'mctp',
};
/** SOCK_* (the type without its flags) -> name. */
const SOCK_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'stream', 2: 'dgram', 3: 'raw', 4: 'rdm', 5: 'seqpacket', 6: 'dccp', 10: 'packet',
};

export function socketFamilyName(af: number): string {
  return AF_NAMES[af] ?? `af_${af}`;
}

export function socketTypeName(type: number): string {
  return SOCK_TYPE_NAMES[type] ?? `type_${type}`;
}

/** A struct pal_sock_info (palisade.h) at `at`, as the fields StdioSocket and FdDup share; undefined: not a socket. */
export function decodeSockInfo(buf: Buffer, at: number): Omit<palisade.v1.IStdioSocket, 'fd'> | undefined {
  const family = buf.readUInt16LE(at + SI.family);
  if (family === 0) return undefined;
  const connected = (buf.readUInt8(at + SI.flags) & C.sockPeer) !== 0;
  const inet = family === AF_INET || family === AF_INET6;
  const addr = inet ? formatAddr(family, buf.subarray(at + SI.addr, at + SI.addr + 16)) : '';
  const port = inet ? buf.readUInt16LE(at + SI.port) : 0;
  return {
    family: socketFamilyName(family),
    type: socketTypeName(buf.readUInt16LE(at + SI.type)),
    protocol: buf.readUInt16LE(at + SI.protocol),
    peerAddr: connected ? addr : '',
    peerPort: connected ? port : 0,
    unixPath: family === AF_UNIX ? cString(buf, at + SI.unix_path, C.sockUnixPath) : '',
    connected,
    localAddr: connected ? '' : addr,
    localPort: connected ? 0 : port,
  };
}

function stdioSockets(buf: Buffer, at: number): palisade.v1.IStdioSocket[] {
  const out: palisade.v1.IStdioSocket[] = [];
  for (let fd = 0; fd < C.stdioFds; fd++) {
    const s = decodeSockInfo(buf, at + EX.stdio + fd * LAYOUT.sockInfo.sizeof);
    if (s !== undefined) out.push({ fd, ...s });
  }
  return out;
}

/**
 * Offset to add to a CLOCK_BOOTTIME timestamp (bpf_ktime_get_boot_ns) to get Unix time, from a pair of clock reads
 * taken by the addon (process.hrtime is CLOCK_MONOTONIC, which stops during suspend, so it would not do).
 * Computed once per KernelSource start: a later wall-clock step (NTP) is not followed until the next start.
 */
export function bootToRealtimeOffsetNs(clocks: { realtimeNs: bigint; boottimeNs: bigint }): bigint {
  return clocks.realtimeNs - clocks.boottimeNs;
}

/** A NUL-terminated string inside [start, start + max). Kernel strings are bytes; invalid UTF-8 becomes U+FFFD. */
export function cString(buf: Buffer, start: number, max: number): string {
  const end = Math.min(start + max, buf.length);
  const nul = buf.indexOf(0, start);
  return buf.toString('utf8', start, nul === -1 || nul > end ? end : nul);
}

/** An unsigned 64-bit little-endian field as a number, rounded once exactly as Number(readBigUInt64LE) would. */
export function u64(buf: Buffer, at: number): number {
  // hi * 2^32 is exact (hi < 2^32), so the one addition is the only rounding: no BigInt allocated per field.
  return buf.readUInt32LE(at + 4) * 4294967296 + buf.readUInt32LE(at);
}

/** A signed 64-bit little-endian field (syscall results: small negatives or small positives) as a number. */
export function i64(buf: Buffer, at: number): number {
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

/** Superblock magics (linux/magic.h) -> ProcessExec.exe_fs_type. */
export const FS_MAGIC_NAMES: Readonly<Record<number, string>> = {
  0x01021994: 'tmpfs', 0x858458f6: 'ramfs', 0x794c7630: 'overlay', 0xef53: 'ext4', 0x58465342: 'xfs',
  0x9123683e: 'btrfs', 0x73717368: 'squashfs', 0xe0f5e1e2: 'erofs', 0x01021997: '9p', 0x6969: 'nfs',
  0x65735546: 'fuse', 0x2fc12fc1: 'zfs', 0xf2f52010: 'f2fs', 0x958458f6: 'hugetlbfs', 0x9fa0: 'proc', 0x4d44: 'vfat',
  0x00c36400: 'ceph', 0xff534d42: 'cifs',
};

export function fsTypeName(magic: number): string {
  if (magic === 0) return '';
  return FS_MAGIC_NAMES[magic] ?? `0x${magic.toString(16)}`;
}

/** World-writable scratch directories an attacker drops binaries into (ProcessExec.exe_in_tmp_dir). */
export const TMP_DIRS: readonly string[] = ['/tmp/', '/dev/shm/', '/var/tmp/'];

export function inTmpDir(path: string): boolean {
  return TMP_DIRS.some((d) => path.startsWith(d));
}

/** The exec environment variables the kernel side watches, with their present and cut flags (PAL_ENV_*). */
export const WATCHED_ENV: ReadonlyArray<{ name: string; field: 'env_ld_preload' | 'env_ld_library_path' | 'env_ld_audit';
  present: number; cut: number }> = [
  { name: 'LD_PRELOAD', field: 'env_ld_preload', present: C.envLdPreload, cut: C.envLdPreloadCut },
  { name: 'LD_LIBRARY_PATH', field: 'env_ld_library_path', present: C.envLdLibraryPath, cut: C.envLdLibraryPathCut },
  { name: 'LD_AUDIT', field: 'env_ld_audit', present: C.envLdAudit, cut: C.envLdAuditCut },
];

function overlayLayer(origin: number): palisade.v1.ExeOverlayLayer {
  if ((origin & C.originOverlay) === 0) return pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UNSPECIFIED;
  if ((origin & C.originOverlayKnown) === 0) return pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UNKNOWN;
  return (origin & C.originOverlayUpper) !== 0
    ? pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UPPER : pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_LOWER;
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
  /** order()'s scratch: record offsets and times, grown as batches need. */
  private offsets = new Int32Array(1024);
  private times = new Float64Array(1024);

  /** Applied to every exec's argv before it leaves the decoder (redact.ts): secrets never reach a record. */
  private readonly redactArgv: (argv: string[]) => string[];
  /** Applied to every watched environment value (redact.ts), as to a `NAME=value` argument. */
  private readonly redactEnv: (name: string, value: string) => string;

  constructor(opts: {
    bootToRealtimeOffsetNs: bigint;
    redactArgv?: (argv: string[]) => string[];
    redactEnv?: (name: string, value: string) => string;
  }) {
    this.redactArgv = opts.redactArgv ?? ((argv) => argv);
    this.redactEnv = opts.redactEnv ?? ((_name, value) => value);
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
   * The records of a batch as offsets into it, in kernel order (decode() then inKernelOrder(), without the objects):
   * valid until the next call. A bad size is counted and ends the walk, as in decode(); bad records are not looked
   * at here (decodeAt() / the caller's checks count them).
   */
  order(batch: Buffer): Int32Array {
    let n = 0;
    let offsets = this.offsets;
    let times = this.times;
    let sorted = true;
    let prev = -Infinity;
    let off = 0;
    while (off < batch.length) {
      if (batch.length - off < LAYOUT.header.sizeof) {
        this.errors++;
        break;
      }
      const size = batch.readUInt16LE(off + H.size);
      if (size < LAYOUT.header.sizeof || size > batch.length - off) {
        this.errors++;
        break;
      }
      if (n === offsets.length) {
        const bigger = new Int32Array(n * 2);
        bigger.set(offsets);
        offsets = this.offsets = bigger;
        const biggerTimes = new Float64Array(n * 2);
        biggerTimes.set(times);
        times = this.times = biggerTimes;
      }
      const t = this.time(batch, off);
      if (t < prev) sorted = false;
      prev = t;
      offsets[n] = off;
      times[n] = t;
      n++;
      off += size;
    }
    if (sorted) return offsets.subarray(0, n);
    // Stable, by the same time_unix_nano inKernelOrder() compares; TimSort merges the per-CPU runs.
    const idx: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    idx.sort((a, b) => (times[a] ?? 0) - (times[b] ?? 0));
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = offsets[idx[i] ?? 0] ?? 0;
    return out;
  }

  /** One record of a batch (at an offset order() gave) as a RawEvent; undefined (and counted) when it is bad. */
  decodeAt(batch: Buffer, at: number): palisade.v1.IRawEvent | undefined {
    const event = this.decodeRecord(batch, at, batch.readUInt16LE(at + H.size));
    if (event === undefined) this.errors++;
    return event;
  }

  /** The comm[16] at `at` as a string, from the same cache the decoded events' comms come from. */
  comm(buf: Buffer, at: number): string {
    return this.comms.get(buf, at);
  }

  /** A record's time_unix_nano: ts_ns (CLOCK_BOOTTIME) + offset, rounded once, as Number(ts + offset) would be. */
  time(buf: Buffer, at: number): number {
    let lo = buf.readUInt32LE(at + H.ts_ns) + this.offsetLo;
    let hi = buf.readUInt32LE(at + H.ts_ns + 4) + this.offsetHi;
    if (lo >= 4294967296) {
      lo -= 4294967296;
      hi += 1;
    }
    return hi * 4294967296 + lo;
  }

  /**
   * Each kind builds its event in one object literal with the same field order, so V8 keeps one shape per kind and
   * nothing is built twice (a spread of a shared base object used to copy every event once more).
   */
  private decodeRecord(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    switch (buf.readUInt16LE(at + H.kind)) {
      case C.kindProcessExec:
        return this.decodeExec(buf, at, size);
      case C.kindProcessExit:
        if (size < LAYOUT.exit.sizeof) return undefined; // longer: fields appended by a newer kernel side
        return {
          timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
          kind: pb.EventKind.EVENT_KIND_PROCESS_EXIT, exit: decodeExit(buf.readUInt32LE(at + XT.exit_code)),
        };
      case C.kindFileOpen:
        return this.decodeFileOpen(buf, at, size);
      case C.kindNetConnect:
        return this.decodeNetConnect(buf, at, size);
      case C.kindProcessKill:
        return this.decodeProcessKill(buf, at, size);
      case C.kindProcessFork:
        if (size < LAYOUT.fork.sizeof) return undefined;
        return {
          timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
          kind: pb.EventKind.EVENT_KIND_PROCESS_FORK,
          fork: { childPid: buf.readUInt32LE(at + FK.child_pid), exitSignal: buf.readUInt32LE(at + FK.clone_flags) },
        };
      case C.kindNetSocket:
        return this.decodeNetSocket(buf, at, size);
      case C.kindDnsQuery:
        return this.decodeDns(buf, at, size);
      case C.kindFileOp:
      case C.kindPrivSetid:
      case C.kindCapset:
      case C.kindPtrace:
      case C.kindMount:
      case C.kindNamespace:
      case C.kindModuleLoad:
      case C.kindBpfProgLoad:
      case C.kindMemfdCreate:
      case C.kindSignal:
      case C.kindUserfaultfd:
      case C.kindIoUring:
        return this.decodeSyscall(buf, at, size);
      case C.kindProcessRename:
        return this.decodeProcessRename(buf, at, size);
      case C.kindFdDup:
        return this.decodeFdDup(buf, at, size);
      default:
        return undefined;
    }
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
    const argv = this.redactArgv(all.length > C.argvMaxArgs ? all.slice(0, C.argvMaxArgs) : all);
    const argvTruncated =
      (buf.readUInt8(at + EX.flags) & C.execArgsTruncated) !== 0 || all.length > argv.length || argv.length < argc;
    const flags = buf.readUInt8(at + EX.flags);
    const filename = cString(buf, at + EX.filename, C.pathMax);
    const resolvedFilename = (flags & C.execResolved) !== 0 ? cString(buf, at + EX.resolved, C.pathMax) : '';
    const envFlags = buf.readUInt16LE(at + EX.env_flags);
    const origin = buf.readUInt16LE(at + EX.origin_flags);
    const env: Record<string, string> = {};
    let envValueTruncated = false;
    for (const w of WATCHED_ENV) {
      if ((envFlags & w.present) === 0) continue;
      env[w.name] = this.redactEnv(w.name, cString(buf, at + EX[w.field], C.envValueMax));
      if ((envFlags & w.cut) !== 0) envValueTruncated = true;
    }
    const times = (origin & C.originTimes) !== 0;
    return {
      timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
      kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC,
      exec: {
        filename,
        argv,
        argvTruncated,
        cgroupName: cString(buf, at + EX.cgroup_name, C.cgroupNameMax),
        cwd: cString(buf, at + EX.cwd, C.pathMax),
        cwdTruncated: (flags & C.execCwdTruncated) !== 0,
        capEffective: u64(buf, at + EX.cap_effective),
        capPermitted: u64(buf, at + EX.cap_permitted),
        pidNs: buf.readUInt32LE(at + EX.pid_ns),
        mntNs: buf.readUInt32LE(at + EX.mnt_ns),
        netNs: buf.readUInt32LE(at + EX.net_ns),
        loginuid: buf.readUInt32LE(at + EX.loginuid),
        fromMemfd: (flags & C.execFromMemfd) !== 0,
        resolvedFilename,
        resolvedFilenameTruncated: (flags & C.execResolvedTruncated) !== 0,
        env,
        envScanIncomplete: (envFlags & C.envScanIncomplete) !== 0,
        envValueTruncated,
        envCount: buf.readUInt32LE(at + EX.env_count),
        envBytes: buf.readUInt32LE(at + EX.env_bytes),
        exeFsType: fsTypeName(buf.readUInt32LE(at + EX.exe_fs_magic)),
        exeOnTmpfs: (origin & C.originTmpfs) !== 0,
        exeInTmpDir: inTmpDir(resolvedFilename !== '' ? resolvedFilename : normalisePath(filename)),
        exeOverlayLayer: overlayLayer(origin),
        exeCtimeUnixNano: times ? u64(buf, at + EX.exe_ctime_ns) : 0,
        exeMtimeUnixNano: times ? u64(buf, at + EX.exe_mtime_ns) : 0,
        // Filled by the collector's ContainerStartCache (container-start.ts), which knows the cgroup.
        containerStartUnixNano: 0,
        exeModifiedAfterContainerStart: false,
        stdioSockets: stdioSockets(buf, at),
      },
    };
  }

  private decodeFileOpen(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    if (size < FO.path) return undefined;
    const pathLen = buf.readUInt16LE(at + FO.path_len);
    const argLen = buf.readUInt16LE(at + FO.arg_len);
    if (pathLen > C.pathMax || argLen > C.pathMax || size !== FO.path + pathLen + argLen) return undefined;
    const pathFlags = buf.readUInt8(at + FO.path_flags);
    const writeFlags = buf.readUInt8(at + FO.write_flags);
    const resolved = (pathFlags & C.pathResolved) !== 0;
    const kernelPath = cString(buf, at + FO.path, pathLen);
    const path = resolved ? kernelPath : normalisePath(kernelPath);
    const requested = cString(buf, at + FO.path + pathLen, argLen);
    // O_* flags all live in the low 32 bits; the proto field is int32.
    const flags = buf.readInt32LE(at + FO.flags);
    return {
      timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
      kind: pb.EventKind.EVENT_KIND_FILE_OPEN,
      fileOpen: {
        path,
        flags,
        mode: buf.readUInt32LE(at + FO.mode),
        result: i64(buf, at + FO.result),
        syscall: SYSCALL_NAMES[buf.readUInt16LE(at + FO.syscall)] ?? '',
        sensitiveWrite: isSensitiveWrite(path, flags),
        requestedPath: requested === path ? '' : requested,
        pathResolution: resolved
          ? pb.PathResolution.PATH_RESOLUTION_KERNEL : pb.PathResolution.PATH_RESOLUTION_NORMALISED,
        pathTruncated: (pathFlags & C.pathTruncated) !== 0,
        pathOutsideRoot: (pathFlags & C.pathOutsideRoot) !== 0,
        writeIntent: (writeFlags & C.fileWrite) !== 0,
        oTrunc: (writeFlags & C.fileTrunc) !== 0,
        oAppend: (writeFlags & C.fileAppend) !== 0,
        created: (writeFlags & C.fileCreated) !== 0,
        truncatedExisting: (writeFlags & C.fileTruncatedExisting) !== 0,
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
  private decodeProcessKill(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    if (size < PK.path) return undefined;
    const pathLen = buf.readUInt16LE(at + PK.path_len);
    if (pathLen > C.pathMax || size !== PK.path + pathLen) return undefined;
    const reason = buf.readUInt16LE(at + PK.reason);
    return {
      timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
      kind: pb.EventKind.EVENT_KIND_PROCESS_KILL,
      processKill: {
        signal: buf.readUInt32LE(at + PK.signal),
        reason: KILL_REASONS[reason] ?? '',
        rule: buf.readUInt32LE(at + PK.rule),
        syscall: SYSCALL_NAMES[buf.readUInt16LE(at + PK.syscall)] ?? '',
        path: cString(buf, at + PK.path, pathLen),
        late: buf.readUInt16LE(at + PK.late) !== 0,
      },
    };
  }

  private decodeProcessRename(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    if (size < PR.exe) return undefined;
    const exeLen = buf.readUInt16LE(at + PR.exe_len);
    if (exeLen > C.pathMax || size < PR.exe + exeLen) return undefined;
    const flags = buf.readUInt8(at + PR.exe_flags);
    const op = buf.readUInt16LE(at + PR.op);
    return {
      timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
      kind: pb.EventKind.EVENT_KIND_PROCESS_RENAME,
      processRename: {
        oldComm: cString(buf, at + PR.old_comm, C.commLen),
        newComm: cString(buf, at + PR.new_comm, C.commLen),
        exe: (flags & C.exePathKnown) !== 0 ? cString(buf, at + PR.exe, exeLen) : '',
        via: op === C.opPrctl ? 'prctl' : 'comm_write',
        targetPid: buf.readUInt32LE(at + PR.target_pid),
        targetTid: buf.readUInt32LE(at + PR.target_tid),
        exeTruncated: (flags & C.exePathTruncated) !== 0,
      },
    };
  }

  private decodeFdDup(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    if (size < LAYOUT.fdDup.sizeof) return undefined;
    const sock = decodeSockInfo(buf, at + FD.sock) ?? {
      family: '', type: '', protocol: 0, peerAddr: '', peerPort: 0, unixPath: '', connected: false, localAddr: '',
      localPort: 0,
    };
    return {
      timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
      kind: pb.EventKind.EVENT_KIND_FD_DUP,
      fdDup: {
        syscall: OP_NAMES[buf.readUInt16LE(at + FD.op)] ?? '',
        oldFd: buf.readInt32LE(at + FD.old_fd),
        newFd: buf.readInt32LE(at + FD.new_fd),
        result: i64(buf, at + FD.result),
        family: sock.family, type: sock.type, protocol: sock.protocol,
        peerAddr: sock.peerAddr, peerPort: sock.peerPort, unixPath: sock.unixPath,
        flags: buf.readUInt32LE(at + FD.flags),
        connected: sock.connected, localAddr: sock.localAddr, localPort: sock.localPort,
      },
    };
  }

  private decodeNetSocket(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    if (size < LAYOUT.netSocket.sizeof) return undefined;
    const family = buf.readUInt16LE(at + NS.family);
    const sockType = buf.readUInt32LE(at + NS.sock_type);
    const sockProtocol = buf.readInt32LE(at + NS.sock_protocol);
    const inet = family === AF_INET || family === AF_INET6;
    const protocol = buf.readUInt8(at + NS.protocol);
    return {
      timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
      kind: pb.EventKind.EVENT_KIND_NET_SOCKET,
      netSocket: {
        syscall: OP_NAMES[buf.readUInt16LE(at + NS.op)] ?? '',
        family: addressFamily(family),
        addr: formatAddr(family, buf.subarray(at + NS.addr, at + NS.addr + 16)),
        port: buf.readUInt16LE(at + NS.port),
        protocol: inet ? (IPPROTO_NAMES[protocol] ?? '') : '',
        backlog: buf.readUInt32LE(at + NS.backlog),
        result: i64(buf, at + NS.result),
        socketFamily: family === 0 ? '' : socketFamilyName(family),
        socketType: sockType === 0 ? '' : socketTypeName(sockType & C.sockTypeMask),
        socketTypeFlags: (sockType & ~C.sockTypeMask) >>> 0,
        socketProtocol: sockProtocol,
      },
    };
  }

  private decodeDns(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    if (size < LAYOUT.dns.sizeof) return undefined;
    const len = buf.readUInt16LE(at + DN.len);
    if (len > C.dnsMax) return undefined;
    const family = buf.readUInt16LE(at + DN.family);
    const q = parseDnsQuestion(buf.subarray(at + DN.msg, at + DN.msg + len));
    return {
      timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
      kind: pb.EventKind.EVENT_KIND_DNS_QUERY,
      dnsQuery: {
        name: q.name, qtype: q.qtype, qtypeName: DNS_TYPES[q.qtype] ?? '', id: q.id,
        family: addressFamily(family),
        daddr: formatAddr(family, buf.subarray(at + DN.daddr, at + DN.daddr + 16)),
        dport: buf.readUInt16LE(at + DN.dport),
        syscall: OP_NAMES[buf.readUInt16LE(at + DN.op)] ?? '',
      },
    };
  }

  /** The pal_syscall_event families: the args/strings table in palisade.h, turned into each kind's message. */
  private decodeSyscall(buf: Buffer, at: number, size: number): palisade.v1.IRawEvent | undefined {
    // base0/base1 end the record only when a file op had a relative path; otherwise it stops before them.
    if (size < SY.base0) return undefined;
    const bases = size >= LAYOUT.syscall.sizeof;
    const kind = buf.readUInt16LE(at + H.kind);
    const op = buf.readUInt16LE(at + SY.op);
    const syscall = OP_NAMES[op] ?? '';
    const result = i64(buf, at + SY.result);
    const a = (i: number): number => u64(buf, at + SY.args + 8 * i);
    const a32 = (i: number): number => buf.readUInt32LE(at + SY.args + 8 * i);
    const ai32 = (i: number): number => buf.readInt32LE(at + SY.args + 8 * i);
    const str0 = (): string => cString(buf, at + SY.str0, C.pathMax);
    const str1 = (): string => cString(buf, at + SY.str1, C.pathMax);
    const str2 = (): string => cString(buf, at + SY.str2, C.strShort);
    const base = {
      timeUnixNano: this.time(buf, at), cpu: buf.readUInt32LE(at + H.cpu), process: this.process(buf, at),
    };
    switch (kind) {
      case C.kindFileOp: {
        const rename = op === C.opRename || op === C.opRenameat || op === C.opRenameat2;
        const link = op === C.opLink || op === C.opLinkat;
        const symlink = op === C.opSymlink || op === C.opSymlinkat;
        const ftruncate = op === C.opFtruncate;
        const two = rename || link || symlink;
        const chmod = op === C.opChmod || op === C.opFchmodat;
        const chown = op === C.opChown || op === C.opFchownat || op === C.opLchown;
        const unlink = op === C.opUnlink || op === C.opUnlinkat;
        const p0 = str0();
        const p1 = two ? str1() : '';
        // path_flags0/1 are always written; base0/base1 end the record only when one of them is set.
        const f0 = buf.readUInt8(at + SY.path_flags0);
        const f1 = two ? buf.readUInt8(at + SY.path_flags1) : 0;
        const baseOf = (f: number, off: number): string =>
          bases && (f & C.pathResolved) !== 0 ? cString(buf, at + off, C.pathMax) : '';
        const newPath = two ? normalisePath(p1, baseOf(f1, SY.base1)) : '';
        let path: string;
        let resolution = pb.PathResolution.PATH_RESOLUTION_NORMALISED;
        if (ftruncate) {
          // str0 is the fd's struct file walked in the kernel, "" when the fd had none.
          path = (f0 & C.pathResolved) !== 0 ? p0 : '';
          resolution = path !== ''
            ? pb.PathResolution.PATH_RESOLUTION_KERNEL : pb.PathResolution.PATH_RESOLUTION_UNSPECIFIED;
        } else if (symlink) {
          path = symlinkTarget(p0, newPath);
        } else {
          path = normalisePath(p0, baseOf(f0, SY.base0));
        }
        return {
          ...base, kind: pb.EventKind.EVENT_KIND_FILE_OP,
          fileOp: {
            syscall, path, newPath, dfd: ftruncate ? 0 : ai32(symlink ? 1 : 0),
            flags: unlink ? a32(1) : rename || link ? a32(2) : chmod ? a32(2) : chown ? a32(3) : 0,
            mode: chmod ? a32(1) : 0,
            uid: chown ? idArg(buf, at + SY.args + 8) : -1,
            gid: chown ? idArg(buf, at + SY.args + 16) : -1,
            result,
            requestedPath: ftruncate || p0 === path ? '' : p0,
            requestedNewPath: p1 === newPath ? '' : p1,
            pathResolution: resolution,
            pathTruncated: ((f0 | f1) & C.pathTruncated) !== 0,
            symlinkText: symlink ? p0 : '',
            length: op === C.opTruncate || ftruncate ? i64(buf, at + SY.args + 8) : 0,
            fd: ftruncate ? ai32(0) : 0,
          },
        };
      }
      case C.kindPrivSetid:
        return {
          ...base, kind: pb.EventKind.EVENT_KIND_PRIV_SETID,
          privSetid: {
            syscall,
            requestedReal: idArg(buf, at + SY.args), requestedEffective: idArg(buf, at + SY.args + 8),
            requestedSaved: idArg(buf, at + SY.args + 16),
            oldReal: a32(3), oldEffective: a32(4), oldSaved: a32(5), newReal: a32(6), newEffective: a32(7), result,
          },
        };
      case C.kindCapset:
        return {
          ...base, kind: pb.EventKind.EVENT_KIND_CAPSET,
          capset: { targetPid: a32(0), effective: a(1), permitted: a(2), inheritable: a(3), oldEffective: a(4), result },
        };
      case C.kindPtrace:
        return {
          ...base, kind: pb.EventKind.EVENT_KIND_PTRACE,
          ptrace: { request: a32(0), requestName: PTRACE_REQUESTS[a32(0)] ?? '', targetPid: a32(1), result },
        };
      case C.kindMount:
        return {
          ...base, kind: pb.EventKind.EVENT_KIND_MOUNT,
          mount: { syscall, source: str0(), target: str1(), fstype: str2(), flags: a(0), result },
        };
      case C.kindNamespace:
        return {
          ...base, kind: pb.EventKind.EVENT_KIND_NAMESPACE,
          namespace: op === C.opSetns
            ? { syscall, flags: a(1), fd: ai32(0), result }
            : { syscall, flags: a(0), fd: -1, result },
        };
      case C.kindModuleLoad:
        return {
          ...base, kind: pb.EventKind.EVENT_KIND_MODULE_LOAD,
          moduleLoad: op === C.opFinitModule
            ? { syscall, params: str0(), fileName: str1(), fd: ai32(0), flags: a32(1), result }
            : { syscall, params: str0(), fileName: '', fd: -1, flags: 0, result },
        };
      case C.kindBpfProgLoad:
        return {
          ...base, kind: pb.EventKind.EVENT_KIND_BPF_PROG_LOAD,
          bpfProgLoad: { progType: a32(0), insnCount: a32(1), progName: str2(), result },
        };
      case C.kindMemfdCreate:
        return {
          ...base, kind: pb.EventKind.EVENT_KIND_MEMFD_CREATE,
          memfdCreate: { name: str0(), flags: a32(0), result },
        };
      case C.kindSignal:
        return {
          ...base, kind: pb.EventKind.EVENT_KIND_SIGNAL,
          signal: { syscall, targetPid: ai32(0), targetTgid: ai32(2), signal: a32(1), result },
        };
      case C.kindUserfaultfd:
        return { ...base, kind: pb.EventKind.EVENT_KIND_USERFAULTFD, userfaultfd: { syscall, flags: a32(0), result } };
      case C.kindIoUring:
        return { ...base, kind: pb.EventKind.EVENT_KIND_IO_URING, ioUring: { syscall, entries: a32(0), flags: a32(1), result } };
      default:
        return undefined;
    }
  }
}

/** task->exit_code is a wait status: (code << 8) | signal, with 0x80 the core-dump bit. */
export function decodeExit(raw: number): palisade.v1.IProcessExit {
  return { exitCode: (raw >> 8) & 0xff, signal: raw & 0x7f };
}
