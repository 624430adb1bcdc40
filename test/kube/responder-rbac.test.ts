// The responder's RBAC, proven on the real API server: a ServiceAccount token (TokenRequest) bound to a Role with
// exactly the verbs services/responder/src/quarantine.ts uses, through the fault proxy (which passes the token on, so
// the server's RBAC judges every request). With those verbs a quarantine works, on both of the policy's paths (create
// when missing, replace when not ours); without any one of them it fails at that call with the server's 403, once
// (not retried), and nothing is labelled; and the stage itself, run from its config with that kubeconfig, records
// the failure (ActionRecord FAILED, palisade_responder_actions_total{outcome="failed"}) and goes on.
//
// The verbs (what deploy/helm/palisade's responder ClusterRole grants): pods get, patch; networking.k8s.io
// networkpolicies get, create, update. A Role per namespace here (the chart binds a ClusterRole), so every test
// stays inside namespaces of its own on the shared server.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { MemoryBus, Metrics, TOPICS, ephemeralAlertKeys, pb, silentLogger, type palisade } from '@palisade/common';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { composeResponder, loadResponderConfig } from '@palisade/responder';
import { quarantineClients, quarantinePod, type QuarantineOptions } from '@palisade/responder/dist/quarantine.js';
import { kubeUnavailableReason, sharedKubeCluster, uniqueNamespace, type KubeCluster } from '../support/kube-cluster.js';
import { startFaultProxy, type FaultProxy, type RequestRecord } from '../support/kube-fault-proxy.js';
import { createPod, getPod, type JsonObject } from '../support/kube-pods.js';

const why = kubeUnavailableReason();
const skip = skipUnless(why === undefined, why ?? '');
let kube: KubeCluster;
let proxy: FaultProxy;
let dir: string;
/** The responder's ServiceAccount lives in a namespace of its own, as it would in the chart's. */
let saNamespace: string;
let token: string;
let kubeconfig: string;

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[] }

/** Exactly what the quarantine calls. */
const RESPONDER_RULES: readonly Rule[] = [
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'create', 'update'] },
];

before(async () => {
  if (skip) return;
  kube = await sharedKubeCluster();
  proxy = await startFaultProxy(kube);
  dir = mkdtempSync(join(tmpdir(), 'resp-rbac-'));
  saNamespace = uniqueNamespace('palisade');
  token = await kube.mintToken(saNamespace, 'palisade-responder');
  kubeconfig = join(dir, 'responder.kubeconfig');
  proxy.writeKubeconfig(kubeconfig, { token });
});

after(async () => {
  await proxy?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function created(r: { status: number; body: unknown }, what: string): JsonObject {
  assert.ok(r.status === 200 || r.status === 201, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as JsonObject;
}

/** A Role with `rules` in `ns`, bound to the responder's ServiceAccount. */
async function grant(ns: string, rules: readonly Rule[]): Promise<void> {
  created(await kube.api('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'palisade-responder' }, rules,
  }), `create role in ${ns}`);
  created(await kube.api('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'palisade-responder' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'palisade-responder' },
    subjects: [{ kind: 'ServiceAccount', name: 'palisade-responder', namespace: saNamespace }],
  }), `create rolebinding in ${ns}`);
  await untilAuthorized(ns, rules);
}

/** Asks the server, as the token, whether it may do `verb` on `resource`. */
async function allowed(ns: string, group: string, resource: string, verb: string): Promise<boolean> {
  const r = await kube.apiAs(token, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { namespace: ns, group, resource, verb } },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return (r.body as { status?: { allowed?: boolean } }).status?.allowed === true;
}

/** The authorizer learns of new Roles through a watch: wait until it grants every verb of `rules`. */
async function untilAuthorized(ns: string, rules: readonly Rule[]): Promise<void> {
  for (const rule of rules) {
    for (const verb of rule.verbs) {
      await waitFor(`RBAC to grant ${verb} ${rule.resources[0]} in ${ns}`, () => allowed(ns, rule.apiGroups[0]!, rule.resources[0]!, verb));
    }
  }
}

/** RESPONDER_RULES without one verb. */
function without(resource: string, verb: string): Rule[] {
  return RESPONDER_RULES.map((r) => (r.resources[0] === resource ? { ...r, verbs: r.verbs.filter((v) => v !== verb) } : r))
    .filter((r) => r.verbs.length > 0);
}

function tokenClients() {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return quarantineClients(kc);
}

const opts: QuarantineOptions = { retry: { maxAttempts: 5 }, sleep: async () => { /* no backoff needed */ } };
const sent = (ns: string): RequestRecord[] => proxy.requests.filter((r) => r.path.includes(`/namespaces/${ns}/`));
const uidOf = (pod: JsonObject | undefined): string => (pod?.['metadata'] as { uid: string }).uid;
const labelsOf = (pod: JsonObject | undefined): Record<string, string> | undefined => (pod?.['metadata'] as { labels?: Record<string, string> }).labels;

async function foreignPolicy(ns: string, name: string): Promise<void> {
  created(await kube.api('POST', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name },
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  }), `create policy ${name}`);
}

test('with exactly the verbs it uses, the responder\'s ServiceAccount quarantines (policy created, and replaced)', { skip }, async () => {
  const ns = uniqueNamespace('shop');
  const web1 = await createPod(kube, { namespace: ns, name: 'web-1', labels: { app: 'web' } });
  const web2 = await createPod(kube, { namespace: ns, name: 'web-2', labels: { app: 'web' } });
  await foreignPolicy(ns, 'isolate');
  await grant(ns, RESPONDER_RULES);
  const clients = tokenClients();

  const createPath = await quarantinePod(clients, { namespace: ns, name: 'web-1', uid: uidOf(web1) }, opts);
  assert.equal(createPath.outcome, 'done', createPath.reason);
  assert.ok(createPath.steps.includes(`CREATE networkpolicies/${ns}/palisade-quarantine`), createPath.steps.join('\n'));
  const replacePath = await quarantinePod(clients, { namespace: ns, name: 'web-2', uid: uidOf(web2) }, { ...opts, policyName: 'isolate' });
  assert.equal(replacePath.outcome, 'done', replacePath.reason);
  assert.ok(replacePath.steps.includes(`REPLACE networkpolicies/${ns}/isolate spec`), replacePath.steps.join('\n'));

  // Every request went as the ServiceAccount, and the server allowed each one.
  assert.deepEqual([...new Set(sent(ns).map((r) => `${r.method} ${r.status}`))].sort(),
    ['GET 200', 'GET 404', 'PATCH 200', 'POST 201', 'PUT 200']);
  assert.equal(labelsOf(await getPod(kube, ns, 'web-1'))?.['quarantined'], 'true');
  assert.equal(labelsOf(await getPod(kube, ns, 'web-2'))?.['quarantined'], 'true');

  // Nothing more: the same token may not delete or list pods, touch secrets, delete policies, or act elsewhere.
  const denied: Array<[string, string, unknown?]> = [
    ['DELETE', `/api/v1/namespaces/${ns}/pods/web-1`],
    ['GET', `/api/v1/namespaces/${ns}/pods`],
    ['GET', `/api/v1/namespaces/${ns}/secrets`],
    ['DELETE', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/isolate`],
    ['GET', `/api/v1/namespaces/${uniqueNamespace('other')}/pods/web-1`],
    ['POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: uniqueNamespace('nope') } }],
  ];
  for (const [method, path, body] of denied) {
    const r = await kube.apiAs(token, method, path, body);
    assert.equal(r.status, 403, `${method} ${path}: ${r.status}`);
  }
});

test('without any one of those verbs, the quarantine fails at that call with the server\'s 403, once, and labels nothing', { skip }, async () => {
  const cases: Array<{ resource: string; verb: string; step: RegExp; attempts: number; foreign?: true }> = [
    { resource: 'pods', verb: 'get', step: /^GET pods\/[^:]+: HTTP 403 Forbidden/, attempts: 1 },
    { resource: 'networkpolicies', verb: 'get', step: /^GET networkpolicies\/[^:]+: HTTP 403 Forbidden/, attempts: 2 },
    { resource: 'networkpolicies', verb: 'create', step: /^CREATE networkpolicies\/[^:]+: HTTP 403 Forbidden/, attempts: 3 },
    { resource: 'networkpolicies', verb: 'update', step: /^REPLACE networkpolicies\/[^:]+: HTTP 403 Forbidden/, attempts: 3, foreign: true },
    { resource: 'pods', verb: 'patch', step: /^PATCH pods\/[^:]+: HTTP 403 Forbidden/, attempts: 4 },
  ];
  const clients = tokenClients();
  for (const c of cases) {
    const ns = uniqueNamespace('shop');
    const pod = await createPod(kube, { namespace: ns, name: 'web-1', labels: { app: 'web' } });
    if (c.foreign) await foreignPolicy(ns, 'palisade-quarantine');
    await grant(ns, without(c.resource, c.verb));
    assert.equal(await allowed(ns, c.resource === 'pods' ? '' : 'networking.k8s.io', c.resource, c.verb), false);
    const r = await quarantinePod(clients, { namespace: ns, name: 'web-1', uid: uidOf(pod) }, opts);
    const what = `without ${c.verb} ${c.resource}`;
    assert.equal(r.outcome, 'failed', `${what}: ${r.reason}`);
    assert.equal(r.error?.code, 'KUBE_FORBIDDEN', what);
    assert.equal(r.error?.retriable, false, what);
    assert.match(r.reason, c.step, what);
    assert.equal(r.attempts, c.attempts, `${what}: ${r.steps.join(' | ')}`);
    const forbidden = sent(ns).filter((q) => q.status === 403);
    assert.equal(forbidden.length, 1, `${what}: a 403 was retried`);
    assert.equal(forbidden[0]?.injected, false, 'the server\'s own 403');
    assert.equal(labelsOf(await getPod(kube, ns, 'web-1'))?.['quarantined'], undefined, what);
  }
});

test('the responder stage with that ServiceAccount and no NetworkPolicy verbs: the 403 is audited and counted, the stage goes on', { skip }, async () => {
  const ns = uniqueNamespace('shop');
  const pod = await createPod(kube, { namespace: ns, name: 'web-1', node: 'node-a', labels: { app: 'web' } });
  const uid = uidOf(pod);
  await grant(ns, RESPONDER_RULES.filter((r) => r.resources[0] !== 'networkpolicies'));

  const bus = new MemoryBus({ partitions: 1 });
  const metrics = new Metrics();
  const keys = ephemeralAlertKeys();
  const cfg = loadResponderConfig({ argv: ['--kubeconfig', kubeconfig, '--dry-run=false'], env: {} });
  const decided: palisade.v1.IActionRecord[] = [];
  const { service } = composeResponder(cfg, { bus, metrics, logger: silentLogger },
    { verifier: keys.verifier, onAction: (r) => decided.push(r) });
  await service.start();
  const audit: palisade.v1.ActionRecord[] = [];
  await bus.consume({ groupId: 'audit', topics: [TOPICS.actions], handler: async (b) => {
    for (const m of b) audit.push(pb.ActionRecord.decode(m.value));
  } });
  try {
    let n = 0;
    const send = async (): Promise<void> => {
      const alert: palisade.v1.IAlert = {
        id: `PAL-T01:node-a:${++n}`, ruleId: 'PAL-T01', title: 't', severity: pb.Severity.SEVERITY_CRITICAL, actions: ['quarantine'],
        event: {
          node: 'node-a', status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED,
          pod: { uid, name: 'web-1', namespace: ns, node: 'node-a' },
          event: { kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, process: { pid: 1 } },
        },
      };
      const value = pb.Alert.encode(alert).finish();
      await bus.producer().send(TOPICS.alerts, [{ key: uid, value, headers: { 'palisade-schema': 'palisade.v1.Alert', ...keys.signer.sign(value) } }]);
    };

    await send();
    const failed = await waitFor('the audit record of the first alert', () => audit[0]);
    assert.equal(failed.outcome, pb.ActionOutcome.ACTION_OUTCOME_FAILED);
    assert.match(failed.reason, new RegExp(`GET networkpolicies/${ns}/palisade-quarantine: HTTP 403 Forbidden`));
    assert.equal(failed.target?.uid, uid);
    assert.equal(failed.attempts, 2);
    const count = async (outcome: string): Promise<number> => {
      const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'palisade_responder_actions_total');
      return Number(m?.values.find((v) => v.labels['outcome'] === outcome)?.value ?? 0);
    };
    assert.equal(await count('failed'), 1);
    assert.equal(labelsOf(await getPod(kube, ns, 'web-1'))?.['quarantined'], undefined);
    assert.equal(sent(ns).filter((q) => q.status === 403).length, 1);

    // The operator grants the missing verbs; the next alert for the same pod is carried out by the same stage.
    const role = await kube.api('PUT', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/palisade-responder`, {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'palisade-responder' }, rules: RESPONDER_RULES,
    });
    assert.equal(role.status, 200, JSON.stringify(role.body));
    await untilAuthorized(ns, RESPONDER_RULES);
    await send();
    const done = await waitFor('the audit record of the second alert', () => audit[1]);
    assert.equal(done.outcome, pb.ActionOutcome.ACTION_OUTCOME_DONE, done.reason);
    assert.equal(await count('done'), 1);
    assert.equal(labelsOf(await getPod(kube, ns, 'web-1'))?.['quarantined'], 'true');
    assert.equal(decided.length, 2);
  } finally {
    await service.stop();
    await bus.close();
  }
});
