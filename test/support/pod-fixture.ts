// A Kubernetes pod object for the fake API whose container id and uid match a real test cgroup, so the kernel's
// events from that cgroup enrich to this pod.
import type { PodCgroup } from './pod-cgroup.js';

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
