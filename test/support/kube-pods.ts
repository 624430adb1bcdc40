// Pods on the real API server (test/support/kube-cluster.ts) as a node would make them, without a kubelet: the pod is
// created bound to a node (spec.nodeName; there is no scheduler), and what the kubelet would report (phase, pod IP,
// container ids) is patched onto the status subresource. The server assigns the uid, so a pod whose kernel events
// must enrich to it gets its cgroup made after the create, named with that uid (podInCgroup).
import { createPodCgroup, type PodCgroup } from './pod-cgroup.js';
import type { ApiResponse, KubeCluster } from './kube-cluster.js';

export type JsonObject = Record<string, unknown>;

export interface ContainerSpec {
  name: string;
  image: string;
  /** The runtime's id (64 hex), reported as containerd://<id> in the status. */
  id?: string;
}

export interface PodOptions {
  namespace: string;
  name: string;
  /** spec.nodeName; default "node-a". */
  node?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: JsonObject[];
  containers?: ContainerSpec[];
  serviceAccountName?: string;
  /** The status the kubelet would report; default Running with every container's id and ready. */
  phase?: string;
  podIP?: string;
}

function ok(r: ApiResponse, what: string, expected: number[] = [200, 201]): JsonObject {
  if (!expected.includes(r.status)) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as JsonObject;
}

/** Creates the namespace unless it exists. */
export async function ensureNamespace(kube: KubeCluster, namespace: string, labels?: Record<string, string>): Promise<void> {
  if ((await kube.api('GET', `/api/v1/namespaces/${namespace}`)).status === 200) return;
  const r = await kube.api('POST', '/api/v1/namespaces', {
    apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, ...(labels !== undefined && { labels }) },
  });
  ok(r, `create namespace ${namespace}`, [201, 409]);
}

function containerStatuses(containers: ContainerSpec[]): JsonObject[] {
  return containers.map((c) => ({
    name: c.name, image: c.image, imageID: '', ready: c.id !== undefined, restartCount: 0, started: c.id !== undefined,
    ...(c.id !== undefined
      ? { containerID: `containerd://${c.id}`, state: { running: { startedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } } }
      : { state: { waiting: { reason: 'ContainerCreating' } } }),
  }));
}

/** Creates a pod bound to a node and reports its status as a kubelet would; returns the pod as the server has it. */
export async function createPod(kube: KubeCluster, opts: PodOptions): Promise<JsonObject> {
  await ensureNamespace(kube, opts.namespace);
  const containers = opts.containers ?? [{ name: 'app', image: 'nginx:1.27' }];
  ok(await kube.api('POST', `/api/v1/namespaces/${opts.namespace}/pods`, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: opts.name, namespace: opts.namespace,
      ...(opts.labels !== undefined && { labels: opts.labels }),
      ...(opts.annotations !== undefined && { annotations: opts.annotations }),
      ...(opts.ownerReferences !== undefined && { ownerReferences: opts.ownerReferences }),
    },
    spec: {
      nodeName: opts.node ?? 'node-a',
      ...(opts.serviceAccountName !== undefined && { serviceAccountName: opts.serviceAccountName }),
      containers: containers.map((c) => ({ name: c.name, image: c.image })),
    },
  }), `create pod ${opts.namespace}/${opts.name}`);
  return setPodStatus(kube, opts.namespace, opts.name, {
    phase: opts.phase ?? 'Running',
    ...(opts.podIP !== undefined && { podIP: opts.podIP, podIPs: [{ ip: opts.podIP }] }),
    containerStatuses: containerStatuses(containers),
  });
}

/** Merge-patches the status subresource (what only a kubelet writes on a cluster). */
export async function setPodStatus(kube: KubeCluster, namespace: string, name: string, status: JsonObject): Promise<JsonObject> {
  return ok(await kube.api('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, { status },
    'application/merge-patch+json'), `patch status of ${namespace}/${name}`);
}

/** Reports new container ids (a restart): the containers keep their names, the runtime ids change. */
export async function setContainerIds(kube: KubeCluster, namespace: string, name: string, containers: ContainerSpec[]): Promise<JsonObject> {
  return setPodStatus(kube, namespace, name, { containerStatuses: containerStatuses(containers) });
}

export async function getPod(kube: KubeCluster, namespace: string, name: string): Promise<JsonObject | undefined> {
  const r = await kube.api('GET', `/api/v1/namespaces/${namespace}/pods/${name}`);
  if (r.status === 404) return undefined;
  return ok(r, `get pod ${namespace}/${name}`, [200]);
}

/** Deletes at once (grace 0: with no kubelet a graceful delete never finishes). */
export async function deletePod(kube: KubeCluster, namespace: string, name: string): Promise<void> {
  ok(await kube.api('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`), `delete pod ${namespace}/${name}`, [200, 202, 404]);
}

/**
 * A pod the kernel believes in: created on the server first (which assigns its uid), then a cgroup named for that
 * uid and a fresh container id, then the id reported in the status. Events from a process run in `cgroup` enrich
 * to this pod.
 */
export async function podInCgroup(kube: KubeCluster, opts: Omit<PodOptions, 'containers'> & { container?: { name: string; image: string } }): Promise<{ pod: JsonObject; cgroup: PodCgroup }> {
  await ensureNamespace(kube, opts.namespace);
  const c = opts.container ?? { name: 'web', image: 'nginx:1.27' };
  const created = await createPod(kube, { ...opts, containers: [c], phase: 'Pending' });
  const uid = (created.metadata as { uid: string }).uid;
  const cgroup = createPodCgroup({ podUid: uid });
  try {
    const pod = await setPodStatus(kube, opts.namespace, opts.name, {
      phase: opts.phase ?? 'Running',
      ...(opts.podIP !== undefined && { podIP: opts.podIP, podIPs: [{ ip: opts.podIP }] }),
      containerStatuses: containerStatuses([{ ...c, id: cgroup.containerId }]),
    });
    return { pod, cgroup };
  } catch (err) {
    cgroup.remove();
    throw err;
  }
}

/** A Deployment's pod: labels and the ReplicaSet owner a workload's pod carries (the enricher reports the workload). */
export function deploymentPod(deployment: string, hash = '5d8f7c9b6'): Pick<PodOptions, 'labels' | 'ownerReferences'> {
  return {
    labels: { app: deployment, 'pod-template-hash': hash },
    ownerReferences: [{
      apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${deployment}-${hash}`,
      uid: '0b6c2a51-7a3e-4f7e-9d55-3f7a1b2c4d5e', controller: true, blockOwnerDeletion: true,
    }],
  };
}
