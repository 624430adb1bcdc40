// A Deployment's pod on the real API server whose container is a real test cgroup, so the kernel's events from that
// cgroup enrich to it: kube-pods.ts' podInCgroup (the server assigns the uid, the cgroup is named with it) with the
// labels and ReplicaSet owner a workload's pod carries, named as the ReplicaSet controller names its pods.
import { randomBytes } from 'node:crypto';
import type { KubeCluster } from './kube-cluster.js';
import { deploymentPod, podInCgroup, type JsonObject } from './kube-pods.js';
import type { PodCgroup } from './pod-cgroup.js';

export interface WorkloadPod {
  namespace: string;
  /** `<deployment>-<template hash>-<5 chars>` */
  name: string;
  /** The uid the server assigned (also the cgroup's pod uid). */
  uid: string;
  deployment: string;
  cgroup: PodCgroup;
  /** The pod as the server returned it after its status was reported. */
  object: JsonObject;
}

export async function workloadPodInCgroup(kube: KubeCluster, opts: {
  namespace: string; deployment: string; node: string; name?: string; hash?: string;
}): Promise<WorkloadPod> {
  const hash = opts.hash ?? '7d9f8c6b5';
  const name = opts.name ?? `${opts.deployment}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`;
  const { pod, cgroup } = await podInCgroup(kube, {
    namespace: opts.namespace, name, node: opts.node, ...deploymentPod(opts.deployment, hash),
  });
  const uid = (pod.metadata as { uid: string }).uid;
  return { namespace: opts.namespace, name, uid, deployment: opts.deployment, cgroup, object: pod };
}

// The fault drills (test/faults/drill.ts) still feed the fake API objects of this shape until they move to the real
// server: a Pod whose uid and container id are the test cgroup's.
export interface PodFixture {
  namespace: string;
  name: string;
  object: Record<string, unknown>;
}

export function podFor(cg: PodCgroup, opts: { namespace: string; name: string; node: string }): PodFixture {
  const rs = opts.name.split('-').slice(0, -1).join('-');
  const hash = rs.split('-').at(-1) ?? 'abc';
  return {
    namespace: opts.namespace,
    name: opts.name,
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: opts.name, namespace: opts.namespace, uid: cg.podUid,
        labels: { app: 'web', 'pod-template-hash': hash },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: '0b6c2a51-7a3e-4f7e-9d55-3f7a1b2c4d5e', controller: true }],
      },
      spec: { nodeName: opts.node, containers: [{ name: 'web', image: 'nginx:1.27' }] },
      status: {
        phase: 'Running',
        containerStatuses: [{
          name: 'web', image: 'nginx:1.27', imageID: '', ready: true, restartCount: 0,
          containerID: `containerd://${cg.containerId}`,
        }],
      },
    },
  };
}
