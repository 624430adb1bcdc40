// Least-privilege identities for the stages under test on the real API server: one ServiceAccount per stage that
// talks to Kubernetes, bound to a ClusterRole with exactly the calls that stage makes, and a token for it. A stage
// run with its token through the fault proxy proves the RBAC as it goes: a call missing from its rules would be a
// real 403 from the server, not something the test assumed.
//
// The rules are the chart's own (deploy/helm/palisade/templates/rbac.yaml, rendered with helm): every test that runs
// a stage as its ServiceAccount runs it with exactly the ClusterRole a cluster install gives it, so a call the chart
// does not grant fails the test with the server's 403 rather than passing on a hand-kept copy of the verbs.
// The roles are cluster-wide because the stages are: a pod to enrich or quarantine may be in any namespace.
import { waitFor } from '@palisade/common/testing';
import { find, render } from './helm.js';
import type { KubeCluster } from './kube-cluster.js';

export type KubeStage = 'enricher' | 'responder';

interface PolicyRule { apiGroups: string[]; resources: string[]; verbs: string[] }

let chartRules: Readonly<Record<KubeStage, readonly PolicyRule[]>> | undefined;

/** The ClusterRole rules the chart gives each stage (rendered once per process). */
export function stageRules(stage: KubeStage): readonly PolicyRule[] {
  if (chartRules === undefined) {
    const { objects } = render();
    const rules = (s: KubeStage): PolicyRule[] => {
      const r = find(objects, 'ClusterRole', `palisade-${s}`)['rules'];
      if (!Array.isArray(r) || r.length === 0) throw new Error(`the chart's ClusterRole palisade-${s} has no rules`);
      return r as PolicyRule[];
    };
    chartRules = { enricher: rules('enricher'), responder: rules('responder') };
  }
  return chartRules[stage];
}

async function must(what: string, p: Promise<{ status: number; body: unknown }>, ok: number[] = [200, 201]): Promise<void> {
  const r = await p;
  if (!ok.includes(r.status)) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
}

/**
 * Makes ServiceAccount `palisade-<stage>` in `namespace` (created when missing), a ClusterRole and binding named
 * `<namespace>-<stage>` (unique on a shared server), and returns a token for it. `stages` may name several stages
 * for one process (embedded mode runs both): the role then holds the rules of each.
 */
export async function stageToken(kube: KubeCluster, namespace: string, stages: readonly KubeStage[],
  account = `palisade-${stages.join('-')}`): Promise<string> {
  const name = `${namespace}-${stages.join('-')}`;
  await must(`ClusterRole ${name}`, kube.api('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name },
    rules: stages.flatMap((s) => stageRules(s)),
  }));
  // The token request makes the namespace and the account.
  const token = await kube.mintToken(namespace, account, 4 * 3600);
  await must(`ClusterRoleBinding ${name}`, kube.api('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
  }));
  // The authorizer learns of a new binding from its informer, a moment after the write: ask as the token until every
  // rule is in force, so a stage started next does not begin with a 403.
  for (const rule of stages.flatMap((s) => stageRules(s))) {
    for (const verb of rule.verbs) {
      await waitFor(`${account} to be allowed to ${verb} ${rule.resources.join(',')}`, async () => {
        const r = await kube.apiAs(token, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
          apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: { group: rule.apiGroups[0] ?? '', resource: rule.resources[0] ?? '', verb } },
        });
        return (r.body as { status?: { allowed?: boolean } }).status?.allowed === true;
      }, { timeoutMs: 30_000, intervalMs: 100 });
    }
  }
  return token;
}
