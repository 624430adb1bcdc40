// The collector's configuration: one schema, resolved once in main.ts.
import { bool, commonKeys, int, list, loadConfig, oneOf, str, type ConfigSources, type ResolvedConfig } from '@palisade/common';
import { DEFAULT_CGROUP2_ROOT } from './cgroup-resolver.js';

export const collectorSchema = {
  ...commonKeys,
  metricsPort: int('Port of /metrics, /healthz and /readyz', 'PALISADE_COLLECTOR_METRICS_PORT', 9464, 0, 65535),
  bpfObject: str('The compiled BPF object (built by npm run setup); empty: the one in build/bpf', 'PALISADE_BPF_OBJECT', ''),
  bufferMode: oneOf('Kernel-to-user buffer: BPF ring buffer, or per-CPU perf buffers for kernels without one',
    'PALISADE_BUFFER_MODE', 'ringbuf', ['ringbuf', 'perfbuf'] as const),
  ringBufferBytes: int('Ring buffer bytes in total, split over the shards (a power of two, at least a page)',
    'PALISADE_RING_BUFFER_BYTES', 16 << 20, 4096),
  ringShards: int('Ring buffer shards: CPU c writes to shard c % shards; 0: one per possible CPU, at most 16',
    'PALISADE_RING_SHARDS', 0, 0, 1024),
  maxBatchBytes: int('Most bytes of kernel records handed to JS per drain; a full drain is followed at once by the next',
    'PALISADE_COLLECTOR_MAX_BATCH_BYTES', 2 << 20, 128 << 10, 64 << 20),
  perfBufferPages: int('Pages per CPU of the perf buffer (a power of two)', 'PALISADE_PERF_BUFFER_PAGES', 256, 1),
  maxBatchEvents: int('Events per RawEventBatch record at most', 'PALISADE_COLLECTOR_MAX_BATCH', 1024, 1),
  flushIntervalMs: int('A partial batch is published after this long', 'PALISADE_COLLECTOR_FLUSH_MS', 20, 1),
  maxPendingEvents: int('Events held in memory while the bus is slow; beyond this they go to the spool (without one, ' +
    'or when it is full, they are dropped and counted in-band)',
    'PALISADE_COLLECTOR_MAX_PENDING', 200_000, 1),
  policy: str('TracingPolicy YAML for the in-kernel filter (kinds, binaries, paths, cgroups, ports; Drop/Sigkill/Post), ' +
    'reloaded on change; empty: policies/tracing/default.yaml of this installation', 'PALISADE_TRACING_POLICY', ''),
  policyCheckIntervalMs: int('How often the TracingPolicy file is re-checked besides fs.watch; 0: load once, never reload',
    'PALISADE_TRACING_POLICY_CHECK_MS', 5000, 0),
  cgroupRoot: str('Where the host\'s cgroup2 hierarchy is mounted: event cgroup ids resolve to paths below it, and ' +
    'TracingPolicy cgroup paths are relative to it (in a pod: the host\'s cgroup2 mounted read-only, e.g. /host/sys/fs/cgroup)',
  'PALISADE_CGROUP_ROOT', DEFAULT_CGROUP2_ROOT),
  ignoreSelf: bool('Drop events of the collector\'s own process, so its work does not feed back into the pipeline',
    'PALISADE_COLLECTOR_IGNORE_SELF', true),
  stateDir: str('Where the collector keeps the last moment it was alive (so a restart reports how long the node was ' +
    'blind: a visibility_gap LossRecord), its loss totals (carried over a restart) and its spool; empty: keep nothing ' +
    '(every start reports a gap from boot, counters start at 0, no spool)',
  'PALISADE_COLLECTOR_STATE_DIR', '/var/lib/palisade'),
  spoolMaxBytes: int('Most bytes of records the on-disk spool (in --state-dir) holds while the broker is away; beyond ' +
    'it batches are dropped and counted (spool_full); 0: no spool', 'PALISADE_COLLECTOR_SPOOL_MAX_BYTES', 1 << 30, 0),
  spoolAfterMs: int('A send the broker has not answered after this long goes to the spool, with every record after it, ' +
    'until the spool is replayed', 'PALISADE_COLLECTOR_SPOOL_AFTER_MS', 5000, 100),
  spoolFsyncMs: int('The open spool segment is fdatasync\'ed this long after a write at most (and every segment when ' +
    'it is rolled): what a machine crash can take from the spool', 'PALISADE_COLLECTOR_SPOOL_FSYNC_MS', 1000, 10),
  redactArgs: bool('Replace secrets in exec argv (password/token/key flags and variables, URL credentials, bearer ' +
    'and cloud tokens) with [REDACTED] before they leave the collector', 'PALISADE_COLLECTOR_REDACT_ARGS', true),
  redactPatterns: list('Extra regular expressions, comma-separated, whose matches in an argument are redacted too ' +
    '(only the (?<secret>...) group when there is one)', 'PALISADE_COLLECTOR_REDACT_PATTERNS', []),
};

export type CollectorConfig = ResolvedConfig<typeof collectorSchema>;

export function loadCollectorConfig(src: ConfigSources): CollectorConfig {
  return loadConfig(collectorSchema, src);
}
