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
