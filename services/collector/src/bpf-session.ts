// BpfSession: the facade over the addon's Session. It validates options before they cross, compiles the in-kernel
// filter (kernel-filter-compile.ts) and turns the addon's errors into PalisadeError (native-errors.ts).
import { existsSync } from 'node:fs';
import { PalisadeError } from '@palisade/common';
import { resolveKernelFilter, type KernelFilter } from './kernel-filter-compile.js';
import {
  DEFAULT_ADDON_PATH, DEFAULT_OBJECT_PATH, loadAddon, type NativeProgram, type NativeSession, type NativeSessionOptions,
  type NativeStats, type OutputMode, type RingStats,
} from './native.js';
import { toPalisadeError } from './native-errors.js';

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

  /** Every program of the object: attached or not, and why not (optional programs whose hook this kernel lacks). */
  programs(): NativeProgram[] {
    if (this.closed) throw new PalisadeError('NATIVE_ERROR', 'programs() on a closed BPF session');
    try {
      return this.native.programs();
    } catch (err) {
      throw toPalisadeError(err);
    }
  }

  /**
   * A clean stop's first half: detaches the programs (nothing new is written), then hands every record still in the
   * buffers to onBatch, synchronously. Returns how many it delivered. close() frees the rest.
   */
  detachAndDrain(): number {
    if (this.closed) return 0;
    try {
      return this.native.detachAndDrain();
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
