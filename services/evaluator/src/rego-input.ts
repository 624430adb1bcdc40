// The Rego input document: what the rules under policies/ see as `input`. One evaluation takes a batch,
// `{ events: RegoEvent[] }`, and a rule reports the index of the event it fires on.
// Keep in sync with policies/README.md ("The input document") and policies/lib/fixtures_test.rego.
import { ABI, KIND_NAME_BY_ID, pb, type EventKindName, type palisade } from '@palisade/common';

/** Every event kind as Rego sees it (`input.events[_].kind`): the registry's names (bpf/include/palisade.h). */
export type RegoEventKind = EventKindName;

export const REGO_EVENT_KINDS: readonly RegoEventKind[] = ABI.kinds.map((k) => k.name);

/** O_CREAT (asm-generic/fcntl.h): file_open.o_creat is read from the flags the open passed. */
const O_CREAT = 0o100;

/** The kinds with a Rego shape of their own below; every other kind's payload is passed through. */
type ShapedKind = 'exec' | 'exit' | 'file_open' | 'net_connect';
type PassThroughKind = Exclude<RegoEventKind, ShapedKind>;
const SHAPED: ReadonlySet<string> = new Set<ShapedKind>(['exec', 'exit', 'file_open', 'net_connect']);

/** Kinds whose payload is passed through as the proto message with snake_case keys (see policies/README.md). */
const PASS_THROUGH_KINDS = REGO_EVENT_KINDS.filter((k): k is PassThroughKind => !SHAPED.has(k));

/** A pass-through payload: the proto message's scalar fields, keys in snake_case, enums as numbers. */
export type RegoPayload = Readonly<Record<string, string | number | boolean>>;

/** A process above the event's one: parent first, then grandparent (proto Ancestor). */
export interface RegoAncestor {
  pid: number;
  binary: string;
  comm: string;
  exec_id: string;
}

export interface RegoProcess {
  pid: number;
  ppid: number;
  uid: number;
  euid: number;
  gid: number;
  comm: string;
  parent_comm: string;
  binary: string;
  cgroup_id: number;
  exec_id: string;
  /** ancestors[0].binary, "" when the parent is unknown: the common case gets a plain field. */
  parent_binary: string;
  ancestors: RegoAncestor[];
}

/** One of fds 0..2 of an exec'd process that is a socket (proto StdioSocket; bpf/README.md "Sockets as stdio"). */
export interface RegoStdioSocket {
  fd: number;
  /** "inet" | "inet6" | "unix" | "netlink" | "packet" | ... | "af_<n>" */
  family: string;
  /** "stream" | "dgram" | "raw" | "seqpacket" | ... */
  type: string;
  protocol: number;
  /** the far end when connected ("" otherwise; then local_addr/local_port) */
  peer_addr: string;
  peer_port: number;
  /** unix: the peer's bound path ("@name" abstract; "" for a socketpair) */
  unix_path: string;
  connected: boolean;
  local_addr: string;
  local_port: number;
}

export interface RegoExec {
  filename: string;
  argv: string[];
  cwd: string;
  /** fileless exec: the binary is a memfd or an unlinked file */
  from_memfd: boolean;
  cap_effective: number;
  /** fds 0..2 that are sockets, lowest fd first; [] when none is (a reverse shell's stdio is one) */
  stdio_sockets: RegoStdioSocket[];
  // exec environment and executable origin (bpf/README.md "Exec environment and executable origin")
  /** the watched variables present at exec (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT) -> value; absent when unset */
  env: Record<string, string>;
  /** the kernel's scan stopped before the environment's end (padding): a watched variable may be missing */
  env_scan_incomplete: boolean;
  env_value_truncated: boolean;
  env_count: number;
  env_bytes: number;
  /** "tmpfs" | "overlay" | "ext4" | ... ("" unknown) */
  exe_fs_type: string;
  exe_on_tmpfs: boolean;
  /** the binary's path is under /tmp/, /dev/shm/ or /var/tmp/ */
  exe_in_tmp_dir: boolean;
  /** on overlayfs: "upper" (written or changed in the container) | "lower" (image) | "unknown"; "" not overlay */
  exe_overlay_layer: 'upper' | 'lower' | 'unknown' | '';
  exe_ctime_unix_nano: number;
  container_start_unix_nano: number;
  /** the binary's inode changed (ctime) after its container started */
  exe_modified_after_container_start: boolean;
}

export interface RegoExit {
  exit_code: number;
  signal: number;
}

export interface RegoFileOpen {
  path: string;
  flags: number;
  result: number;
  syscall: string;
  /** opened for writing under /etc/, /root/.ssh/, /usr/bin/, ... (collector event-decoder.ts SENSITIVE_PREFIXES) */
  sensitive_write: boolean;
  /** the string the process passed; equal to path unless the kernel resolved it to something else */
  requested_path: string;
  /** "kernel" (walked from the opened file) | "normalised" (failed open: folded lexically) | "" (unknown) */
  path_resolution: 'kernel' | 'normalised' | '';
  /** opened for writing (the file's f_mode; a failed open: O_WRONLY/O_RDWR asked) */
  write_intent: boolean;
  /** O_TRUNC, O_APPEND, O_CREAT as passed */
  o_trunc: boolean;
  o_append: boolean;
  o_creat: boolean;
  /** this open created the file (FMODE_CREATED) */
  created: boolean;
  /** O_TRUNC emptied a regular file that existed before the open: log wiping (`> /var/log/auth.log`) */
  truncated_existing: boolean;
}

export interface RegoNetConnect {
  family: 'inet' | 'inet6' | 'unspecified';
  daddr: string;
  dport: number;
  result: number;
}

export interface RegoContainer {
  id: string; // empty when the enricher knew it was a container but not which one
  runtime: string;
}

export interface RegoPod {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  owner: { kind: string; name: string };
  image: string;
  container_name: string;
}

export type RegoEvent = RegoEventBase & { [K in PassThroughKind]?: RegoPayload };

interface RegoEventBase {
  kind: RegoEventKind;
  time_unix_nano: number;
  node: string;
  process: RegoProcess;
  // At most one payload, the one the raw event carried (normally the one named by kind).
  exec?: RegoExec;
  exit?: RegoExit;
  file_open?: RegoFileOpen;
  net_connect?: RegoNetConnect;
  container: RegoContainer | null;
  pod: RegoPod | null;
}

export interface RegoInput {
  events: RegoEvent[];
}


/** RawEvent's camelCase oneof field for each pass-through kind: the registry name is the proto field name. */
const PASS_THROUGH_FIELDS = Object.fromEntries(PASS_THROUGH_KINDS.map((k) =>
  [k, k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())])) as Readonly<Record<PassThroughKind, keyof palisade.v1.IRawEvent>>;

/** A decoded payload (scalar fields only) with snake_case keys; Long-like 64-bit values become numbers. */
function passThrough(msg: object): RegoPayload {
  // A decoded message keeps defaults on its prototype: its class's toObject fills them in (a plain object from the
  // collector's decoder already has every field).
  const ctor = msg.constructor as { toObject?: (m: object, o: { defaults: boolean; longs: NumberConstructor }) => object };
  const full = typeof ctor.toObject === 'function' ? ctor.toObject(msg, { defaults: true, longs: Number }) : msg;
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(full)) {
    const key = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[key] = v;
    else if (v !== null && typeof v === 'object' && 'toNumber' in v && typeof v.toNumber === 'function') {
      out[key] = Number((v as { toNumber(): number }).toNumber());
    }
  }
  return out;
}

/** The Rego name of an event kind; undefined for EVENT_KIND_UNSPECIFIED and kinds this build does not know. */
export function regoEventKind(kind: number | null | undefined): RegoEventKind | undefined {
  return kind == null ? undefined : KIND_NAME_BY_ID.get(kind);
}

export function isRegoEventKind(s: string): s is RegoEventKind {
  return (REGO_EVENT_KINDS as readonly string[]).includes(s);
}

function family(f: number | null | undefined): RegoNetConnect['family'] {
  if (f === pb.AddressFamily.ADDRESS_FAMILY_INET) return 'inet';
  if (f === pb.AddressFamily.ADDRESS_FAMILY_INET6) return 'inet6';
  return 'unspecified';
}

function regoStdioSocket(s: palisade.v1.IStdioSocket): RegoStdioSocket {
  return {
    fd: s.fd ?? 0, family: s.family ?? '', type: s.type ?? '', protocol: s.protocol ?? 0, peer_addr: s.peerAddr ?? '',
    peer_port: s.peerPort ?? 0, unix_path: s.unixPath ?? '', connected: s.connected ?? false,
    local_addr: s.localAddr ?? '', local_port: s.localPort ?? 0,
  };
}

function regoAncestor(a: palisade.v1.IAncestor): RegoAncestor {
  return { pid: a.pid ?? 0, binary: a.binary ?? '', comm: a.comm ?? '', exec_id: a.execId ?? '' };
}

function regoProcess(p: palisade.v1.IProcess | null | undefined): RegoProcess {
  const ancestors = (p?.ancestors ?? []).map(regoAncestor);
  return {
    pid: p?.pid ?? 0,
    ppid: p?.ppid ?? 0,
    uid: p?.uid ?? 0,
    euid: p?.euid ?? 0,
    gid: p?.gid ?? 0,
    comm: p?.comm ?? '',
    parent_comm: p?.parentComm ?? '',
    binary: p?.binary ?? '',
    cgroup_id: p?.cgroupId ?? 0,
    exec_id: p?.execId ?? '',
    parent_binary: ancestors[0]?.binary ?? '',
    ancestors,
  };
}

// The pod is known only when the enricher found it (ENRICHED, or an older producer that left status unset but filled
// the pod). An UNENRICHED event may carry a pod message holding only container_id: that is a container, not a pod.
function regoPod(ev: palisade.v1.IEnrichedEvent): RegoPod | null {
  const p = ev.pod;
  const status = ev.status ?? pb.EnrichmentStatus.ENRICHMENT_STATUS_UNSPECIFIED;
  if (!p || status === pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST) return null;
  if (status === pb.EnrichmentStatus.ENRICHMENT_STATUS_UNENRICHED) return null;
  if (!p.name && !p.uid) return null;
  return {
    namespace: p.namespace ?? '',
    name: p.name ?? '',
    uid: p.uid ?? '',
    labels: { ...(p.labels ?? {}) },
    owner: { kind: p.owner?.kind ?? '', name: p.owner?.name ?? '' },
    image: p.image ?? '',
    container_name: p.containerName ?? '',
  };
}

// Non-null whenever the event came from a container cgroup, pod known or not: the rules fire on containers, and a pod
// the enricher could not find in time must not turn an attack into a host event.
function regoContainer(ev: palisade.v1.IEnrichedEvent, pod: RegoPod | null): RegoContainer | null {
  const status = ev.status ?? pb.EnrichmentStatus.ENRICHMENT_STATUS_UNSPECIFIED;
  if (status === pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST) return null;
  const id = ev.pod?.containerId ?? '';
  const inContainer =
    status === pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED ||
    status === pb.EnrichmentStatus.ENRICHMENT_STATUS_UNENRICHED ||
    id !== '' ||
    pod !== null;
  return inContainer ? { id, runtime: ev.pod?.runtime ?? '' } : null;
}

function overlayLayer(l: palisade.v1.ExeOverlayLayer | null | undefined): RegoExec['exe_overlay_layer'] {
  if (l === pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UPPER) return 'upper';
  if (l === pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_LOWER) return 'lower';
  if (l === pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UNKNOWN) return 'unknown';
  return '';
}

function pathResolution(r: palisade.v1.PathResolution | null | undefined): RegoFileOpen['path_resolution'] {
  if (r === pb.PathResolution.PATH_RESOLUTION_KERNEL) return 'kernel';
  if (r === pb.PathResolution.PATH_RESOLUTION_NORMALISED) return 'normalised';
  return '';
}

/** One enriched event in the Rego shape; undefined when it has no raw event or an unknown kind (nothing can match it). */
export function toRegoEvent(ev: palisade.v1.IEnrichedEvent): RegoEvent | undefined {
  const raw = ev.event;
  const kind = regoEventKind(raw?.kind);
  if (!raw || kind === undefined) return undefined;
  const pod = regoPod(ev);
  const out: RegoEvent = {
    kind,
    time_unix_nano: raw.timeUnixNano ?? 0,
    node: ev.node || ev.pod?.node || '',
    process: regoProcess(raw.process),
    container: regoContainer(ev, pod),
    pod,
  };
  if (raw.exec) {
    out.exec = {
      filename: raw.exec.filename ?? '',
      argv: [...(raw.exec.argv ?? [])],
      cwd: raw.exec.cwd ?? '',
      from_memfd: raw.exec.fromMemfd ?? false,
      cap_effective: Number(raw.exec.capEffective ?? 0),
      stdio_sockets: (raw.exec.stdioSockets ?? []).map(regoStdioSocket),
      env: { ...(raw.exec.env ?? {}) },
      env_scan_incomplete: raw.exec.envScanIncomplete ?? false,
      env_value_truncated: raw.exec.envValueTruncated ?? false,
      env_count: raw.exec.envCount ?? 0,
      env_bytes: raw.exec.envBytes ?? 0,
      exe_fs_type: raw.exec.exeFsType ?? '',
      exe_on_tmpfs: raw.exec.exeOnTmpfs ?? false,
      exe_in_tmp_dir: raw.exec.exeInTmpDir ?? false,
      exe_overlay_layer: overlayLayer(raw.exec.exeOverlayLayer),
      exe_ctime_unix_nano: Number(raw.exec.exeCtimeUnixNano ?? 0),
      container_start_unix_nano: Number(raw.exec.containerStartUnixNano ?? 0),
      exe_modified_after_container_start: raw.exec.exeModifiedAfterContainerStart ?? false,
    };
  }
  if (raw.exit) out.exit = { exit_code: raw.exit.exitCode ?? 0, signal: raw.exit.signal ?? 0 };
  if (raw.fileOpen) {
    out.file_open = {
      path: raw.fileOpen.path ?? '',
      flags: raw.fileOpen.flags ?? 0,
      result: raw.fileOpen.result ?? 0,
      syscall: raw.fileOpen.syscall ?? '',
      sensitive_write: raw.fileOpen.sensitiveWrite ?? false,
      requested_path: raw.fileOpen.requestedPath || (raw.fileOpen.path ?? ''),
      path_resolution: pathResolution(raw.fileOpen.pathResolution),
      write_intent: raw.fileOpen.writeIntent ?? false,
      o_trunc: raw.fileOpen.oTrunc ?? false,
      o_append: raw.fileOpen.oAppend ?? false,
      o_creat: ((raw.fileOpen.flags ?? 0) & O_CREAT) !== 0,
      created: raw.fileOpen.created ?? false,
      truncated_existing: raw.fileOpen.truncatedExisting ?? false,
    };
  }
  if (raw.netConnect) {
    out.net_connect = {
      family: family(raw.netConnect.family),
      daddr: raw.netConnect.daddr ?? '',
      dport: raw.netConnect.dport ?? 0,
      result: raw.netConnect.result ?? 0,
    };
  }
  for (const k of PASS_THROUGH_KINDS) {
    const payload = raw[PASS_THROUGH_FIELDS[k]];
    if (payload !== null && payload !== undefined && typeof payload === 'object') out[k] = passThrough(payload);
  }
  return out;
}
