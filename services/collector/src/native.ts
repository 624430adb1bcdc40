// The whole native surface of the collector, declared once and typed, in the order native/src/addon.cc exports it:
//   abi(), probe(objectPath?), clocks(), Session { start, stats, ringStats, setFilter, programs, close },
//   testHooks { frameRecords, compileFilter }.
// Nothing here validates or interprets: bpf-session.ts is the facade that does, kernel-filter-compile.ts builds
// setFilter()'s argument and native-errors.ts turns the addon's errors into PalisadeError.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PalisadeError, type ABI } from '@palisade/common';

/** abi(): the registry of bpf/include/palisade.h, exactly what services/common/src/gen/abi.ts was generated from. */
export type NativeAbi = typeof ABI;

/** One probe verdict: whether it worked, and what was tried or why it failed. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
}

/** One program of the BPF object and what became of it (Session.programs(), or probe() without loading). */
export interface NativeProgram {
  readonly name: string;
  readonly section: string;
  readonly hook: 'tracepoint' | 'raw_tp' | 'tp_btf' | 'kprobe' | 'fentry' | 'lsm' | 'other';
  /** PAL_REQUIRED: the session fails when it cannot attach. */
  readonly required: boolean;
  /** PAL_KIND: the registry name of the event kind it produces; '' when untagged. */
  readonly kind: string;
  /**
   * PAL_UNLESS: a fallback for its kind's other programs, left out ("not needed: …") where the kernel has this
   * tracepoint; '' for an ordinary program.
   */
  readonly unless: string;
  /** The kernel has its hook (as far as probing can tell), and (in a session) the verifier took it. */
  readonly supported: boolean;
  readonly attached: boolean;
  /** Why it is not attached; '' when it is. */
  readonly reason: string;
}

/** probe(): what this kernel supports, each found by trying it. */
export interface NativeProbe {
  readonly kernelRelease: string;
  /** /sys/kernel/security/lsm: the active LSMs, comma-separated ('' when unreadable). */
  readonly lsm: string;
  readonly btf: ProbeResult;
  readonly buffers: { readonly ringbuf: ProbeResult; readonly perfbuf: ProbeResult };
  readonly hooks: {
    readonly tracepoint: ProbeResult; readonly raw_tp: ProbeResult; readonly tp_btf: ProbeResult;
    readonly kprobe: ProbeResult; readonly fentry: ProbeResult; readonly lsm: ProbeResult;
  };
  readonly helpers: { readonly send_signal: ProbeResult; readonly override_return: ProbeResult };
  /** Only when probe() was given the object: its programs against this kernel's hooks (no load, no verifier). */
  readonly programs?: readonly NativeProgram[];
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

/** Per-reason counters: the kernel's pal_stats (summed over CPUs) plus the addon's own (ABI.stats names them all). */
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

export interface NativeKeyed {
  actions: number;
  /** Index + 1 into rates; 0 = no limit. */
  rate: number;
  kinds: number[];
}

/** Exactly what Session.setFilter in native/src/filter_maps.cc reads (built by kernel-filter-compile.ts). */
export interface NativeFilter {
  binaries: ({ comm: string } & NativeKeyed)[];
  binaryPrefixes: ({ prefix: string } & NativeKeyed)[];
  /** Executable paths, exact (pal_filter_exe) and prefix (pal_filter_exe_prefix); optional for older callers. */
  exes?: ({ path: string } & NativeKeyed)[];
  exePrefixes?: ({ prefix: string } & NativeKeyed)[];
  pathPrefixes: { prefix: string; actions: number }[];
  cgroups: ({ id: number } & NativeKeyed)[];
  cgroupOnly: boolean;
  ports: ({ port: number } & NativeKeyed)[];
  rates: { costNs: number; burstNs: number }[];
  kindsDropped: number[];
  flags: number;
}

export interface NativeSession {
  start(onBatch: (batch: Buffer) => void, onError?: (err: unknown) => void): void;
  stats(): NativeStats;
  ringStats(): RingStats;
  setFilter(filter: NativeFilter): void;
  programs(): NativeProgram[];
  /** Detaches every program, then delivers what the buffers still hold; returns the records delivered. */
  detachAndDrain(): number;
  close(): void;
}

export interface NativeAddon {
  abi(): NativeAbi;
  probe(objectPath?: string): NativeProbe;
  clocks(): NativeClocks;
  Session: new (options: NativeSessionOptions) => NativeSession;
  testHooks: NativeTestHooks;
}

/**
 * The addon's own handling of kernel bytes and of setFilter()'s argument, run from JS with no kernel, BPF or root
 * (native/src/test_hooks.cc): for the fuzz suite (test/fuzz/targets.ts), never for the collector itself.
 */
export interface NativeTestHooks {
  /**
   * The samples as one drain takes them from the buffers (ring samples, or perf events with `perf`), a ring drain
   * flushed where its stop rule says, and the batches cut into crossings of at most maxBatchBytes.
   * maxRecordBytes (default 65535) scales the stop rule down; maxBatchBytes must be at least twice it.
   */
  frameRecords(samples: Buffer[], options?: { perf?: boolean; maxBatchBytes?: number; maxRecordBytes?: number }): {
    crossings: Buffer[];
    records: number;
    malformed: number;
    lost: number;
  };
  /** What setFilter() would write last (pal_filter_state) and the rate count, or the TypeError it throws. */
  compileFilter(filter: unknown): {
    commCount: number;
    prefixCount: number;
    prefixKill: number;
    flags: number;
    kindsDropped: bigint;
    commPrefixCount: number;
    cgroupCount: number;
    cgroupOnly: number;
    portCount: number;
    rateCount: number;
  };
}

/** What the addon throws (see native/src/native_error.cc). */
export interface NativeErrorFields {
  errno: number;
  /** The errno's name (EPERM, ENOENT, ...). */
  code: string;
  op: string;
  /** The PalisadeError code, decided where the failing step is known: BPF_LOAD_FAILED, BPF_ATTACH_FAILED, ... */
  kind: 'BPF_LOAD_FAILED' | 'BPF_ATTACH_FAILED' | 'BPF_POLL_FAILED' | 'NATIVE_ERROR';
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

export function abi(addonPath?: string): NativeAbi {
  return loadAddon(addonPath).abi();
}

export function probe(objectPath?: string, addonPath?: string): NativeProbe {
  return loadAddon(addonPath).probe(objectPath);
}

export function clocks(addonPath?: string): NativeClocks {
  return loadAddon(addonPath).clocks();
}
