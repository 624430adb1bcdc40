// The whole native surface of the collector, declared once, in the order native/src/addon.cc exports it:
//   layout(), filterLayout(), filterLimits(), clocks(), Session { start, stats, ringStats, setFilter, close }.
// The addon reports failures as plain objects {errno, code, op, log?}; this file validates arguments before they
// cross, and turns those objects into PalisadeError with a stable code and a message an operator can act on.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PalisadeError, type ErrorCode } from '@palisade/common';

/** Sizes and offsets of one C struct of bpf/include/palisade.h, as the addon's compiler laid it out. */
export interface StructLayout {
  readonly sizeof: number;
  readonly fields: Readonly<Record<string, number>>;
}

export interface NativeLayout {
  readonly header: StructLayout;
  readonly exec: StructLayout;
  readonly exit: StructLayout;
  readonly fileOpen: StructLayout;
  readonly netConnect: StructLayout;
  readonly constants: Readonly<Record<string, number>>;
}

/** The in-kernel filter's limits and the (not yet decoded) PAL_EVENT_PROCESS_KILL record; see bpf/include/palisade.h. */
export interface NativeFilterLayout {
  readonly processKill: StructLayout;
  readonly constants: Readonly<Record<string, number>>;
}

/**
 * Mirrors the filter part of bpf/include/palisade.h; keep in sync (native.test.ts checks it against the addon's
 * filterLayout(), compiled from that header).
 */
export const FILTER_ABI = {
  kindProcessKill: 5,
  killReasonBinary: 1,
  killReasonPathPrefix: 2,
  filterCommEntries: 1024,
  filterPrefixes: 16,
  filterPrefixMax: 64,
  actionDrop: 0x1,
  actionSigkill: 0x2,
  filterEmitKillEvents: 0x1,
} as const;

/**
 * Mirrors the rest of the filter part of bpf/include/palisade.h (the selectors added after FILTER_ABI); keep in sync
 * (native.test.ts checks it against the addon's filterLimits()).
 */
export const FILTER_LIMITS = {
  actionPost: 0x4,
  actionListed: 0x8,
  filterCommPrefixes: 8,
  filterCgroupEntries: 1024,
  filterCgroupDepth: 16,
  filterPortEntries: 1024,
  filterRates: 64,
  filterKinds: 64,
} as const;

/** Comm is the kernel's task name: at most 15 bytes (TASK_COMM_LEN - 1). */
export const COMM_MAX_BYTES = 15;

/**
 * drop: the events never leave the kernel, counted in `filtered`. sigkill: see setFilter. post: emitted (the
 * default), at most at its rateLimit when it has one (the rest counted in `rate_limited`).
 */
export type FilterAction = 'drop' | 'sigkill' | 'post';

/** A token bucket per (selector, process): `events` back to back, refilled at events/seconds. */
export interface RateLimit {
  readonly events: number;
  readonly seconds: number;
}

/** What a keyed selector may add: a rate limit (post only) and the event kinds it applies to (default: all). */
export interface SelectorOptions {
  readonly rateLimit?: RateLimit;
  /** Event kind ids (palisade.h enum pal_event_kind). sigkill ignores it: it acts at opens. */
  readonly kinds?: readonly number[];
}

/** The whole in-kernel filter; setFilter replaces the previous one. */
export interface KernelFilter {
  /** By task comm (the first 15 bytes of the exec'd file name, or what prctl(PR_SET_NAME) set). */
  readonly binaries: readonly ({ readonly comm: string; readonly action: FilterAction } & SelectorOptions)[];
  /** By the path argument of open/openat/openat2 as the process passed it (absolute prefixes only). */
  readonly pathPrefixes: readonly { readonly prefix: string; readonly action: 'drop' | 'sigkill' }[];
  /** By comm prefix; an exact `binaries` entry for the same task wins over any prefix. */
  readonly binaryPrefixes?: readonly ({ readonly prefix: string; readonly action: FilterAction } & SelectorOptions)[];
  /** By cgroup v2 id: tasks in that cgroup or below it (the deepest listed cgroup wins). */
  readonly cgroups?: readonly ({ readonly id: number; readonly action: 'drop' | 'post' } & SelectorOptions)[];
  /** When set: only tasks in these cgroups (or below) are seen; every other task's events are dropped. */
  readonly onlyCgroups?: readonly number[];
  /** By net_connect destination port. */
  readonly ports?: readonly { readonly port: number; readonly action: 'drop' | 'post'; readonly rateLimit?: RateLimit }[];
  /** The event kinds emitted at all; unset: every kind. Kill records (kind 5) are emitted whatever this says. */
  readonly kinds?: readonly number[];
  /** Emit a process_kill record (kind 5) per kill (the collector always does: see compose.ts). */
  readonly emitKillEvents?: boolean;
}

interface NativeKeyed {
  actions: number;
  /** Index + 1 into rates; 0 = no limit. */
  rate: number;
  kinds: number[];
}

/** Exactly what Session.setFilter in native/src/session.cc reads. */
export interface NativeFilter {
  binaries: ({ comm: string } & NativeKeyed)[];
  binaryPrefixes: ({ prefix: string } & NativeKeyed)[];
  pathPrefixes: { prefix: string; actions: number }[];
  cgroups: ({ id: number } & NativeKeyed)[];
  cgroupOnly: boolean;
  ports: ({ port: number } & NativeKeyed)[];
  rates: { costNs: number; burstNs: number }[];
  kindsDropped: number[];
  flags: number;
}

/** CLOCK_REALTIME (midpoint of two reads) and CLOCK_BOOTTIME, read back to back in the addon. */
export interface NativeClocks {
  readonly realtimeNs: bigint;
  readonly boottimeNs: bigint;
}

export type OutputMode = 'ringbuf' | 'perfbuf';

/** Exactly what native/src/session.cc reads; every field required, validated by BpfSession.open. */
export interface NativeSessionOptions {
  objectPath: string;
  mode: OutputMode;
  ringBufferBytes: number;
  perfBufferPages: number;
  wakeupBytes: number;
  ignoreTgid: number;
  drainIntervalMs: number;
  /** 0: one per possible CPU, at most 16. */
  ringShards: number;
  maxBatchBytes: number;
}

/** Per-reason counters: the kernel's pal_stats (summed over CPUs) plus the addon's own. */
export type NativeStats = Record<string, number>;

/** The ring shards as the addon resolved them (ring mode; perf mode reports 0 shards), and their traffic. */
export interface RingStats {
  /** Rings in pal_rings; CPU c writes to shard c % shards. */
  readonly shards: number;
  /** Size of each ring: the largest power of two within ringBufferBytes / shards. */
  readonly shardBytes: number;
  readonly maxBatchBytes: number;
  /** Largest Buffer handed to onBatch so far (never above maxBatchBytes). */
  readonly batchBytesMax: number;
  /** Records delivered per shard. */
  readonly records: readonly number[];
}

interface NativeSession {
  start(onBatch: (batch: Buffer) => void, onError?: (err: unknown) => void): void;
  stats(): NativeStats;
  ringStats(): RingStats;
  setFilter(filter: NativeFilter): void;
  close(): void;
}

interface NativeAddon {
  layout(): NativeLayout;
  filterLayout(): NativeFilterLayout;
  filterLimits(): Readonly<Record<string, number>>;
  clocks(): NativeClocks;
  Session: new (options: NativeSessionOptions) => NativeSession;
}

/** What the addon throws (see native/src/native_error.cc). */
export interface NativeErrorFields {
  errno: number;
  code: string;
  op: string;
  log?: string;
}

export const DEFAULT_ADDON_PATH = fileURLToPath(new URL('../../../native/build/Release/palisade.node', import.meta.url));
export const DEFAULT_OBJECT_PATH = fileURLToPath(new URL('../../../build/bpf/palisade.bpf.o', import.meta.url));

const require = createRequire(import.meta.url);
const addons = new Map<string, NativeAddon>();

export function loadAddon(path: string = DEFAULT_ADDON_PATH): NativeAddon {
  const cached = addons.get(path);
  if (cached !== undefined) return cached;
  if (!existsSync(path)) {
    throw new PalisadeError('NATIVE_ERROR', `native addon not found at ${path}: run node scripts/build-native.mjs`);
  }
  let addon: NativeAddon;
  try {
    addon = require(path) as NativeAddon;
  } catch (err) {
    throw new PalisadeError('NATIVE_ERROR', `cannot load native addon ${path}: ${String(err)}`, { cause: err });
  }
  addons.set(path, addon);
  return addon;
}

export function layout(addonPath?: string): NativeLayout {
  return loadAddon(addonPath).layout();
}

export function filterLayout(addonPath?: string): NativeFilterLayout {
  return loadAddon(addonPath).filterLayout();
}

export function filterLimits(addonPath?: string): Readonly<Record<string, number>> {
  return loadAddon(addonPath).filterLimits();
}

export function clocks(addonPath?: string): NativeClocks {
  return loadAddon(addonPath).clocks();
}

export interface BpfSessionOptions {
  /** Compiled BPF object (scripts/build-native.mjs output). */
  objectPath?: string;
  /** ring buffer (default) or per-CPU perf buffers, chosen in .rodata before load. */
  mode?: OutputMode;
  /**
   * Ring buffer bytes in total: a power of two, at least one page. Split over the shards, each the largest power of
   * two within its share (2 shards of a 16 MiB total: 8 MiB each).
   */
  ringBufferBytes?: number;
  /**
   * Ring shards: one BPF ring per CPU (or per group of CPUs: CPU c writes to shard c % ringShards), so producers on
   * different CPUs do not contend for one ring's lock. 0 (default): one per possible CPU, at most 16.
   */
  ringShards?: number;
  /**
   * Most bytes handed to onBatch in one crossing. A drain that reaches it stops, delivers, and the next drain runs
   * on the next loop turn (not at the next wakeup), so a backlog is worked off in bounded steps.
   */
  maxBatchBytes?: number;
  /** Perf buffer pages per CPU: a power of two. */
  perfBufferPages?: number;
  /** Wake the reader only once this many bytes wait in a shard (at most half a shard); the drain timer handles the rest. */
  wakeupBytes?: number;
  /** Drain period: the upper bound on the latency added by not waking per event. */
  drainIntervalMs?: number;
  /** Drop the collector's own events (its file opens would otherwise feed its own stream). */
  ignoreSelf?: boolean;
  addonPath?: string;
}

export const SESSION_DEFAULTS = {
  mode: 'ringbuf',
  ringBufferBytes: 8 * 1024 * 1024,
  perfBufferPages: 64,
  wakeupBytes: 256 * 1024,
  drainIntervalMs: 10,
  ringShards: 0,
  maxBatchBytes: 2 * 1024 * 1024,
  ignoreSelf: true,
} as const;

/** Bounds of maxBatchBytes: room for two records of the largest size (pal_event_header.size is a u16), and 64 MiB. */
export const MAX_BATCH_BYTES_MIN = 128 * 1024;
export const MAX_BATCH_BYTES_MAX = 64 * 1024 * 1024;
/** More shards than this is a configuration mistake (the addon also caps them at the possible CPUs). */
export const RING_SHARDS_MAX = 1024;

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function invalid(message: string): PalisadeError {
  return new PalisadeError('CONFIG_INVALID', message);
}

export function resolveSessionOptions(opts: BpfSessionOptions): NativeSessionOptions {
  const mode = opts.mode ?? SESSION_DEFAULTS.mode;
  const ringBufferBytes = opts.ringBufferBytes ?? SESSION_DEFAULTS.ringBufferBytes;
  const perfBufferPages = opts.perfBufferPages ?? SESSION_DEFAULTS.perfBufferPages;
  const wakeupBytes = opts.wakeupBytes ?? SESSION_DEFAULTS.wakeupBytes;
  const drainIntervalMs = opts.drainIntervalMs ?? SESSION_DEFAULTS.drainIntervalMs;
  const ringShards = opts.ringShards ?? SESSION_DEFAULTS.ringShards;
  const maxBatchBytes = opts.maxBatchBytes ?? SESSION_DEFAULTS.maxBatchBytes;
  if (mode !== 'ringbuf' && mode !== 'perfbuf') throw invalid(`mode must be 'ringbuf' or 'perfbuf', got ${String(mode)}`);
  if (!isPowerOfTwo(ringBufferBytes) || ringBufferBytes < 4096 || ringBufferBytes > 2 ** 30) {
    throw invalid(`ringBufferBytes must be a power of two between 4096 and 2^30, got ${ringBufferBytes}`);
  }
  if (!isPowerOfTwo(perfBufferPages) || perfBufferPages > 65536) {
    throw invalid(`perfBufferPages must be a power of two up to 65536, got ${perfBufferPages}`);
  }
  if (!Number.isInteger(wakeupBytes) || wakeupBytes < 0 || wakeupBytes > 2 ** 32 - 1) {
    throw invalid(`wakeupBytes must be an integer in [0, 2^32), got ${wakeupBytes}`);
  }
  if (!Number.isInteger(drainIntervalMs) || drainIntervalMs < 1 || drainIntervalMs > 10_000) {
    throw invalid(`drainIntervalMs must be an integer in [1, 10000], got ${drainIntervalMs}`);
  }
  if (!Number.isInteger(ringShards) || ringShards < 0 || ringShards > RING_SHARDS_MAX) {
    throw invalid(`ringShards must be an integer in [0, ${RING_SHARDS_MAX}] (0: one per CPU), got ${ringShards}`);
  }
  if (!Number.isInteger(maxBatchBytes) || maxBatchBytes < MAX_BATCH_BYTES_MIN || maxBatchBytes > MAX_BATCH_BYTES_MAX) {
    throw invalid(`maxBatchBytes must be an integer in [${MAX_BATCH_BYTES_MIN}, ${MAX_BATCH_BYTES_MAX}], got ${maxBatchBytes}`);
  }
  return {
    objectPath: opts.objectPath ?? DEFAULT_OBJECT_PATH,
    mode,
    ringBufferBytes,
    perfBufferPages,
    wakeupBytes,
    ignoreTgid: (opts.ignoreSelf ?? SESSION_DEFAULTS.ignoreSelf) ? process.pid : 0,
    drainIntervalMs,
    ringShards,
    maxBatchBytes,
  };
}

const ACTION_BITS: Readonly<Record<FilterAction, number>> = {
  drop: FILTER_ABI.actionDrop, sigkill: FILTER_ABI.actionSigkill, post: FILTER_LIMITS.actionPost,
};

function actionBits(action: unknown, where: string, allowed: readonly FilterAction[] = ['drop', 'sigkill']): number {
  if (typeof action === 'string' && (allowed as readonly string[]).includes(action)) return ACTION_BITS[action as FilterAction];
  throw invalid(`${where}.action must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${JSON.stringify(action)}`);
}

function kindIds(kinds: unknown, where: string): number[] {
  if (kinds === undefined) return [];
  if (!Array.isArray(kinds) || kinds.length === 0) throw invalid(`${where} must be a non-empty array of event kind ids`);
  return [...new Set(kinds.map((k: unknown) => {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k >= FILTER_LIMITS.filterKinds) {
      throw invalid(`${where} holds ${JSON.stringify(k)}; event kinds are 1-${FILTER_LIMITS.filterKinds - 1}`);
    }
    return k;
  }))].sort((a, b) => a - b);
}

/** Turns RateLimit objects into rate ids: one id (one bucket per process) per distinct object, i.e. per selector. */
class RateTable {
  readonly rates: { costNs: number; burstNs: number }[] = [];
  private readonly ids = new Map<RateLimit, number>();

  id(limit: RateLimit | undefined, actions: number, where: string): number {
    if (limit === undefined) return 0;
    if (actions !== FILTER_LIMITS.actionPost) throw invalid(`${where}.rateLimit needs action 'post'`);
    const known = this.ids.get(limit);
    if (known !== undefined) return known;
    const { events, seconds } = limit as { events?: unknown; seconds?: unknown };
    if (typeof events !== 'number' || !Number.isInteger(events) || events < 1) {
      throw invalid(`${where}.rateLimit.events must be a positive integer, got ${JSON.stringify(events)}`);
    }
    if (typeof seconds !== 'number' || !(seconds > 0) || seconds > 86_400) {
      throw invalid(`${where}.rateLimit.seconds must be in (0, 86400], got ${JSON.stringify(seconds)}`);
    }
    const costNs = Math.max(1, Math.round((seconds * 1e9) / events));
    if (this.rates.length >= FILTER_LIMITS.filterRates) {
      throw invalid(`more than ${FILTER_LIMITS.filterRates} rate-limited selectors`);
    }
    this.rates.push({ costNs, burstNs: costNs * events });
    this.ids.set(limit, this.rates.length);
    return this.rates.length;
  }
}

/** Merges entries with the same key: actions are a union; a different rate or kinds for one key is an error. */
function mergeKeyed<K>(into: Map<K, NativeKeyed>, key: K, entry: NativeKeyed, where: string): void {
  const old = into.get(key);
  if (old === undefined) {
    into.set(key, entry);
    return;
  }
  if (old.rate !== entry.rate || old.kinds.join() !== entry.kinds.join()) {
    throw invalid(`${where} repeats a key already given with another rateLimit or kinds; the kernel keeps one entry per key`);
  }
  old.actions |= entry.actions;
}

function safeId(v: unknown, where: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw invalid(`${where} must be an integer in [1, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Checks a KernelFilter against the kernel side's limits and turns it into what the addon writes into the maps.
 * The same key given twice gets the union of its actions; path prefixes are all checked by the kernel (the
 * actions of every matching prefix apply), so their order does not matter.
 */
export function resolveKernelFilter(filter: KernelFilter): NativeFilter {
  if (typeof filter !== 'object' || filter === null) throw invalid('filter must be an object');
  if (!Array.isArray(filter.binaries)) throw invalid('filter.binaries must be an array');
  if (!Array.isArray(filter.pathPrefixes)) throw invalid('filter.pathPrefixes must be an array');
  const optionalList = (v: unknown, name: string): readonly unknown[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw invalid(`filter.${name} must be an array`);
    return v;
  };
  const emit = filter.emitKillEvents ?? false;
  if (typeof emit !== 'boolean') throw invalid('filter.emitKillEvents must be a boolean');
  const rates = new RateTable();
  const keyed = (s: SelectorOptions & { action?: unknown }, where: string, allowed: readonly FilterAction[]): NativeKeyed => {
    const actions = actionBits(s.action, where, allowed);
    return { actions, rate: rates.id(s.rateLimit, actions, where), kinds: kindIds(s.kinds, `${where}.kinds`) };
  };

  const comms = new Map<string, NativeKeyed>();
  filter.binaries.forEach((b, i) => {
    const where = `filter.binaries[${i}]`;
    const comm: unknown = (b as { comm?: unknown } | null)?.comm;
    if (typeof comm !== 'string' || comm === '') throw invalid(`${where}.comm must be a non-empty string`);
    if (comm.includes('\0')) throw invalid(`${where}.comm must not contain NUL`);
    const bytes = Buffer.byteLength(comm, 'utf8');
    if (bytes > COMM_MAX_BYTES) {
      throw invalid(`${where}.comm '${comm}' is ${bytes} bytes; the kernel keeps only ${COMM_MAX_BYTES}: use its first ${COMM_MAX_BYTES}`);
    }
    mergeKeyed(comms, comm, keyed(b, where, ['drop', 'sigkill', 'post']), where);
  });
  if (comms.size > FILTER_ABI.filterCommEntries) {
    throw invalid(`filter.binaries has ${comms.size} distinct comms; at most ${FILTER_ABI.filterCommEntries}`);
  }
  const binaryPrefixes = optionalList(filter.binaryPrefixes, 'binaryPrefixes');
  if (binaryPrefixes.length > FILTER_LIMITS.filterCommPrefixes) {
    throw invalid(`filter.binaryPrefixes has ${binaryPrefixes.length} entries; at most ${FILTER_LIMITS.filterCommPrefixes}`);
  }
  const commPrefixes = binaryPrefixes.map((raw, i) => {
    const where = `filter.binaryPrefixes[${i}]`;
    const p = raw as { prefix?: unknown; action?: unknown } & SelectorOptions;
    if (typeof p.prefix !== 'string' || p.prefix === '' || p.prefix.includes('\0')) {
      throw invalid(`${where}.prefix must be a non-empty string without NUL`);
    }
    const bytes = Buffer.byteLength(p.prefix, 'utf8');
    if (bytes > COMM_MAX_BYTES) throw invalid(`${where}.prefix is ${bytes} bytes; a comm has at most ${COMM_MAX_BYTES}`);
    return { prefix: p.prefix, ...keyed(p, where, ['drop', 'sigkill', 'post']) };
  });
  if (filter.pathPrefixes.length > FILTER_ABI.filterPrefixes) {
    throw invalid(`filter.pathPrefixes has ${filter.pathPrefixes.length} entries; at most ${FILTER_ABI.filterPrefixes}`);
  }
  const pathPrefixes = filter.pathPrefixes.map((p, i) => {
    const where = `filter.pathPrefixes[${i}]`;
    const prefix: unknown = (p as { prefix?: unknown } | null)?.prefix;
    if (typeof prefix !== 'string' || !prefix.startsWith('/')) {
      throw invalid(`${where}.prefix must be an absolute path, got ${JSON.stringify(prefix)}`);
    }
    if (prefix.includes('\0')) throw invalid(`${where}.prefix must not contain NUL`);
    const bytes = Buffer.byteLength(prefix, 'utf8');
    if (bytes > FILTER_ABI.filterPrefixMax) {
      throw invalid(`${where}.prefix is ${bytes} bytes; at most ${FILTER_ABI.filterPrefixMax}`);
    }
    return { prefix, actions: actionBits(p.action, where) };
  });

  const cgroups = new Map<number, NativeKeyed>();
  optionalList(filter.cgroups, 'cgroups').forEach((raw, i) => {
    const where = `filter.cgroups[${i}]`;
    const c = raw as { id?: unknown; action?: unknown } & SelectorOptions;
    mergeKeyed(cgroups, safeId(c.id, `${where}.id`), keyed(c, where, ['drop', 'post']), where);
  });
  const only = filter.onlyCgroups;
  if (only !== undefined) {
    if (!Array.isArray(only) || only.length === 0) throw invalid('filter.onlyCgroups must be a non-empty array of cgroup ids');
    only.forEach((id, i) => {
      const key = safeId(id, `filter.onlyCgroups[${i}]`);
      const old = cgroups.get(key);
      if (old !== undefined) old.actions |= FILTER_LIMITS.actionListed;
      else cgroups.set(key, { actions: FILTER_LIMITS.actionListed, rate: 0, kinds: [] });
    });
  }
  if (cgroups.size > FILTER_LIMITS.filterCgroupEntries) {
    throw invalid(`filter.cgroups and onlyCgroups name ${cgroups.size} cgroups; at most ${FILTER_LIMITS.filterCgroupEntries}`);
  }

  const ports = new Map<number, NativeKeyed>();
  optionalList(filter.ports, 'ports').forEach((raw, i) => {
    const where = `filter.ports[${i}]`;
    const p = raw as { port?: unknown; action?: unknown; rateLimit?: RateLimit };
    mergeKeyed(ports, safeId(p.port, `${where}.port`, 65535), keyed({ action: p.action, ...(p.rateLimit && { rateLimit: p.rateLimit }) }, where, ['drop', 'post']), where);
  });
  if (ports.size > FILTER_LIMITS.filterPortEntries) {
    throw invalid(`filter.ports has ${ports.size} distinct ports; at most ${FILTER_LIMITS.filterPortEntries}`);
  }

  let kindsDropped: number[] = [];
  if (filter.kinds !== undefined) {
    const selected = new Set(kindIds(filter.kinds, 'filter.kinds'));
    kindsDropped = Array.from({ length: FILTER_LIMITS.filterKinds - 1 }, (_, i) => i + 1).filter((k) => !selected.has(k));
  }
  return {
    binaries: [...comms].map(([comm, k]) => ({ comm, ...k })),
    binaryPrefixes: commPrefixes,
    pathPrefixes,
    cgroups: [...cgroups].map(([id, k]) => ({ id, ...k })),
    cgroupOnly: only !== undefined,
    ports: [...ports].map(([port, k]) => ({ port, ...k })),
    rates: rates.rates,
    kindsDropped,
    flags: emit ? FILTER_ABI.filterEmitKillEvents : 0,
  };
}

export function isNativeError(err: unknown): err is NativeErrorFields {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as Partial<Record<keyof NativeErrorFields, unknown>>;
  return typeof e.errno === 'number' && typeof e.code === 'string' && typeof e.op === 'string';
}

function codeForOp(op: string): ErrorCode {
  if (/^(mount|bpf_object__|set_config|bpf_map__|bpf_map_create|bpf_map_update_elem\(pal_rings\))/.test(op)) return 'BPF_LOAD_FAILED';
  if (/^(bpf_program__attach|ring_buffer__new|perf_buffer__new)/.test(op)) return 'BPF_ATTACH_FAILED';
  if (/^(uv_poll|ring_buffer__consume|perf_buffer__consume)/.test(op)) return 'BPF_POLL_FAILED';
  return 'NATIVE_ERROR';
}

function logTail(log: string | undefined, lines = 12): string {
  if (log === undefined || log.trim() === '') return '';
  return `\n--- libbpf log (tail) ---\n${log.trimEnd().split('\n').slice(-lines).join('\n')}`;
}

/** Turns whatever the addon threw into a PalisadeError whose message says what to do about it. */
export function toPalisadeError(err: unknown, context: { objectPath?: string } = {}): PalisadeError {
  if (err instanceof PalisadeError) return err;
  if (!isNativeError(err)) {
    return new PalisadeError('NATIVE_ERROR', `native addon failed: ${String(err)}`, { cause: err });
  }
  const code = codeForOp(err.op);
  const permission = err.code === 'EPERM' || err.code === 'EACCES';
  let message: string;
  if (err.op === 'bpf_object__open_file' && err.code === 'ENOENT') {
    message = `BPF object not found at ${context.objectPath ?? '(unknown)'}: run node scripts/build-native.mjs`;
  } else if (permission && code !== 'BPF_POLL_FAILED') {
    message = `${err.op} was refused (${err.code}): the collector needs root, or CAP_BPF + CAP_PERFMON + CAP_SYS_RESOURCE`;
  } else if (err.op.startsWith('mount')) {
    message = `tracefs is not mounted at /sys/kernel/tracing and mounting it failed (${err.code}); mount it on the host`;
  } else if (err.op === 'bpf_object__load') {
    message = `the kernel refused to load the BPF programs (${err.code}): needs BTF (/sys/kernel/btf/vmlinux) and a 5.8+ kernel`;
  } else if (code === 'BPF_ATTACH_FAILED') {
    message = `${err.op} failed (${err.code}): this kernel lacks the hook or refuses this program type`;
  } else if (code === 'BPF_POLL_FAILED') {
    message = `reading kernel events failed in ${err.op} (${err.code}); the session stopped polling`;
  } else {
    message = `${err.op} failed (${err.code})`;
  }
  return new PalisadeError(code, message + logTail(err.log), { cause: err, retriable: code === 'BPF_POLL_FAILED' });
}

/** A loaded and attached BPF object plus its output buffer, drained on the Node event loop. */
export class BpfSession {
  readonly options: Readonly<NativeSessionOptions>;
  private readonly native: NativeSession;
  private closed = false;

  private constructor(native: NativeSession, options: NativeSessionOptions) {
    this.native = native;
    this.options = options;
  }

  /** open -> set .rodata config -> load -> attach. Throws CONFIG_INVALID or a BPF_* PalisadeError. */
  static open(opts: BpfSessionOptions = {}): BpfSession {
    const options = resolveSessionOptions(opts);
    const addon = loadAddon(opts.addonPath);
    try {
      return new BpfSession(new addon.Session(options), options);
    } catch (err) {
      throw toPalisadeError(err, { objectPath: options.objectPath });
    }
  }

  /**
   * Starts polling. onBatch gets one Buffer per crossing (at most maxBatchBytes): records back to back, each starting
   * with the common header whose size field gives its length. The Buffer is a fresh copy that the handler owns and
   * may keep or slice. Asynchronous failures (which stop polling) go to onError.
   */
  start(onBatch: (batch: Buffer) => void, onError: (err: PalisadeError) => void): void {
    if (typeof onBatch !== 'function' || typeof onError !== 'function') {
      throw new PalisadeError('INTERNAL', 'start(onBatch, onError) needs two functions');
    }
    try {
      this.native.start(
        (batch) => {
          try {
            onBatch(batch);
          } catch (err) {
            onError(new PalisadeError('INTERNAL', `batch handler threw: ${String(err)}`, { cause: err }));
          }
        },
        (err) => onError(toPalisadeError(err)),
      );
    } catch (err) {
      throw toPalisadeError(err);
    }
  }

  stats(): NativeStats {
    if (this.closed) throw new PalisadeError('NATIVE_ERROR', 'stats() on a closed BPF session');
    try {
      return this.native.stats();
    } catch (err) {
      throw toPalisadeError(err);
    }
  }

  /** The ring shards (count, size) and per-shard traffic; see RingStats. */
  ringStats(): RingStats {
    if (this.closed) throw new PalisadeError('NATIVE_ERROR', 'ringStats() on a closed BPF session');
    try {
      return this.native.ringStats();
    } catch (err) {
      throw toPalisadeError(err);
    }
  }

  /**
   * Replaces the in-kernel filter while the programs stay attached (map writes only). Throws CONFIG_INVALID for a
   * filter the kernel side cannot hold.
   *
   * sigkill on a binary kills it at its next open/openat/openat2; on a path prefix, kills whoever opens a path
   * with that prefix. The signal is sent at sys_enter, before userspace sees anything, but a tracepoint cannot
   * fail the syscall: the open itself still runs and the process dies when it returns (see bpf/README.md).
   */
  setFilter(filter: KernelFilter): void {
    if (this.closed) throw new PalisadeError('NATIVE_ERROR', 'setFilter() on a closed BPF session');
    const resolved = resolveKernelFilter(filter);
    try {
      this.native.setFilter(resolved);
    } catch (err) {
      throw toPalisadeError(err);
    }
  }

  /** Detaches and frees everything. Idempotent. */
  close(): void {
    this.closed = true;
    this.native.close();
  }
}

/**
 * Why BPF cannot run here, or undefined when it should. For tests and for a friendlier startup error; the real
 * check is loading.
 */
export function bpfUnavailableReason(opts: { addonPath?: string; objectPath?: string } = {}): string | undefined {
  if (process.platform !== 'linux') return `BPF needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `loading BPF programs needs root (running as uid ${process.getuid?.() ?? '?'})`;
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE cannot work';
  const addonPath = opts.addonPath ?? DEFAULT_ADDON_PATH;
  if (!existsSync(addonPath)) return `native addon not built (${addonPath}): run node scripts/build-native.mjs`;
  const objectPath = opts.objectPath ?? DEFAULT_OBJECT_PATH;
  if (!existsSync(objectPath)) return `BPF object not built (${objectPath}): run node scripts/build-native.mjs`;
  return undefined;
}
