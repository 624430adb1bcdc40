// Which pod and container a process belongs to, read from its cgroup v2 path (as below the cgroup2 mount, e.g.
// /sys/fs/cgroup or /sys/fs/cgroup/unified) or from the leaf cgroup name alone (ProcessExec.cgroup_name).
//
// The kubelet lays pods out in one of two ways, depending on its cgroup driver:
//
//   systemd:  /kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid, '-' written as '_'>.slice/<runtime scope>
//             guaranteed pods have no <qos> level: /kubepods.slice/kubepods-pod<uid>.slice/<runtime scope>
//   cgroupfs: /kubepods/<qos>/pod<uid>/<64 hex container id>, guaranteed: /kubepods/pod<uid>/<id>
//
// and the runtime names the container's scope: cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope.
// The kubepods root may sit below another cgroup (kind nodes are containers themselves:
// /system.slice/docker-<node>.scope/kubepods/...), so the root is searched for, not expected at the start.
// Segments below the container scope are a container's own sub-cgroups (crun's "container" leaf, cgroup
// namespaces) and belong to the same container.

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface CgroupIdentity {
  /** Pod uid with its dashes restored (the systemd driver writes them as underscores). */
  podUid?: string;
  /** 64 lowercase hex, without any runtime prefix. */
  containerId?: string;
  /** Known only when the scope name carries a runtime prefix (not for the cgroupfs driver's bare ids). */
  runtime?: ContainerRuntime;
  qos?: QosClass;
}

const CONTAINER_ID = /^[0-9a-f]{64}$/;
// Regular pods have RFC 4122 uids; static pods have the kubelet's 32-hex hash of their manifest.
const POD_UID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;
const RUNTIME_SCOPE = /^(cri-containerd|crio|docker)-([0-9a-f]{64})\.scope$/;
const SYSTEMD_QOS_SLICE = /^kubepods-(besteffort|burstable)\.slice$/;
const SYSTEMD_POD_SLICE = /^kubepods-(?:(besteffort|burstable)-)?pod([0-9a-f_]+)\.slice$/;
const CGROUPFS_POD_DIR = /^pod([0-9a-f-]+)$/;

const RUNTIME_BY_PREFIX: Readonly<Record<string, ContainerRuntime>> = {
  'cri-containerd': 'containerd',
  crio: 'cri-o',
  docker: 'docker',
};

/**
 * Parses one cgroup directory name as a container: `cri-containerd-<id>.scope`, `crio-<id>.scope`,
 * `docker-<id>.scope`, or a bare 64-hex id (cgroupfs driver). Returns null for anything else, including
 * `crio-conmon-<id>.scope` (CRI-O's monitor process, which runs outside the container).
 */
export function parseContainerScope(name: string): { containerId: string; runtime?: ContainerRuntime } | null {
  if (CONTAINER_ID.test(name)) return { containerId: name };
  const m = RUNTIME_SCOPE.exec(name);
  if (m === null) return null;
  const runtime = RUNTIME_BY_PREFIX[m[1] ?? ''];
  const containerId = m[2];
  if (runtime === undefined || containerId === undefined) return null;
  return { containerId, runtime };
}

/**
 * Parses a cgroup path, or a leaf cgroup name alone, into the pod and container it names.
 * Returns null for host processes: anything that names neither a pod nor a container.
 * A container outside Kubernetes (`/system.slice/docker-<id>.scope`) yields the container without a pod.
 */
export function parseCgroupPath(path: string): CgroupIdentity | null {
  const segments = path.split('/').filter((s) => s.length > 0);
  if (segments.length === 0) return null;

  const rootIndex = segments.findIndex((s) => s === 'kubepods.slice' || s === 'kubepods');
  if (rootIndex === -1) {
    // Not below the kubelet's root: either a leaf name alone, or a container some other tool started.
    const leaf = segments[segments.length - 1];
    const scope = leaf === undefined ? null : parseContainerScope(leaf);
    return scope === null ? null : { ...scope };
  }

  const rest = segments.slice(rootIndex + 1);
  const parsed = segments[rootIndex] === 'kubepods.slice' ? parseSystemdPod(rest) : parseCgroupfsPod(rest);
  if (parsed === null) return null;

  const result: CgroupIdentity = { podUid: parsed.podUid, qos: parsed.qos };
  const containerSegment = rest[parsed.consumed];
  if (containerSegment !== undefined) {
    const scope = parseContainerScope(containerSegment);
    if (scope !== null) {
      result.containerId = scope.containerId;
      if (scope.runtime !== undefined) result.runtime = scope.runtime;
    }
    // Anything else below a pod (crio-conmon-<id>.scope, a runtime we do not know) still tells us the pod.
  }
  return result;
}

interface PodLevel {
  podUid: string;
  qos: QosClass;
  /** How many segments after the kubepods root the pod level took. */
  consumed: number;
}

function parseSystemdPod(rest: readonly string[]): PodLevel | null {
  let index = 0;
  let sliceQos: string | undefined;
  const first = rest[0];
  if (first === undefined) return null;
  const qosMatch = SYSTEMD_QOS_SLICE.exec(first);
  if (qosMatch !== null) {
    sliceQos = qosMatch[1];
    index = 1;
  }
  const podSegment = rest[index];
  if (podSegment === undefined) return null;
  const m = SYSTEMD_POD_SLICE.exec(podSegment);
  if (m === null) return null;
  // systemd encodes the hierarchy in the name: the pod slice must repeat its parent's QoS level exactly.
  if (m[1] !== sliceQos) return null;
  const podUid = (m[2] ?? '').replaceAll('_', '-');
  if (!POD_UID.test(podUid)) return null;
  return { podUid, qos: toQos(sliceQos), consumed: index + 1 };
}

function parseCgroupfsPod(rest: readonly string[]): PodLevel | null {
  let index = 0;
  let qos: string | undefined;
  const first = rest[0];
  if (first === 'besteffort' || first === 'burstable') {
    qos = first;
    index = 1;
  }
  const podSegment = rest[index];
  if (podSegment === undefined) return null;
  const m = CGROUPFS_POD_DIR.exec(podSegment);
  const podUid = m?.[1];
  if (podUid === undefined || !POD_UID.test(podUid)) return null;
  return { podUid, qos: toQos(qos), consumed: index + 1 };
}

function toQos(level: string | undefined): QosClass {
  if (level === 'besteffort' || level === 'burstable') return level;
  return 'guaranteed';
}
