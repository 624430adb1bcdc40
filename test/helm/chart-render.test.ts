// The chart as rendered: helm lint, the objects it makes, the collector's privileges, probes, and that every env
// variable it sets is one the stage's config schema reads (services/<stage>/src/config.ts), with the value the
// values ask for. Needs only the helm binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipUnless } from '@palisade/common/testing';
import { collectorSchema } from '@palisade/collector';
import { enricherSchema } from '@palisade/enricher';
import { evaluatorSchema } from '@palisade/evaluator';
import { responderSchema } from '@palisade/responder';
import { CHART_DIR, find, helm, helmTemplate, helmUnavailableReason, render, type K8sObject } from '../support/helm.js';
import { REPO_ROOT } from '../support/service-process.js';
import { ALL_OPTIONS_VALUES, STAGES, TLS_SASL_VALUES, nameOf, type Stage } from './values-fixtures.js';

const why = helmUnavailableReason();
const opts = { skip: skipUnless(why === undefined, why ?? '') };

interface EnvVar { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }
interface Mount { name: string; mountPath: string; readOnly?: boolean }
interface Container {
  name: string; command: string[]; env: EnvVar[]; ports: { name: string; containerPort: number }[];
  volumeMounts: Mount[]; securityContext: Record<string, unknown>;
  resources: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  livenessProbe?: { httpGet: { path: string; port: string } }; readinessProbe?: { httpGet: { path: string; port: string } };
  startupProbe?: { httpGet: { path: string; port: string } };
}
interface Volume { name: string; hostPath?: { path: string; type?: string }; secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] } }
interface PodSpec {
  serviceAccountName: string; automountServiceAccountToken?: boolean; hostPID?: boolean;
  securityContext?: Record<string, unknown>; containers: Container[]; volumes: Volume[];
}

const workload = (objects: K8sObject[], stage: Stage): K8sObject =>
  find(objects, stage === 'collector' ? 'DaemonSet' : 'Deployment', nameOf(stage));
const podSpec = (o: K8sObject): PodSpec => (o['spec'] as { template: { spec: PodSpec } }).template.spec;
const container = (objects: K8sObject[], stage: Stage): Container => {
  const c = podSpec(workload(objects, stage)).containers;
  assert.equal(c.length, 1);
  return c[0]!;
};
const envOf = (c: Container): Map<string, EnvVar> => new Map(c.env.map((e) => [e.name, e]));
const value = (c: Container, name: string): string | undefined => envOf(c).get(name)?.value;

const SCHEMAS = { collector: collectorSchema, enricher: enricherSchema, evaluator: evaluatorSchema, responder: responderSchema };

test('helm lint --strict passes with the default values and with TLS + SASL', opts, () => {
  const plain = helm(['lint', '--strict', CHART_DIR]);
  assert.equal(plain.status, 0, plain.stdout + plain.stderr);
  assert.match(plain.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  assert.doesNotMatch(plain.stdout, /\[(WARNING|ERROR)\]/);
  for (const values of [TLS_SASL_VALUES, ALL_OPTIONS_VALUES]) {
    const r = helm(['lint', '--strict', CHART_DIR, ...Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`])]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/);
  }
});

test('defaults render a DaemonSet, three Deployments, a ServiceAccount per stage, RBAC for two and three PDBs', opts, () => {
  const { objects } = render();
  const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(kinds, [
    'ClusterRole/palisade-enricher', 'ClusterRole/palisade-responder',
    'ClusterRoleBinding/palisade-enricher', 'ClusterRoleBinding/palisade-responder',
    'DaemonSet/palisade-collector',
    'Deployment/palisade-enricher', 'Deployment/palisade-evaluator', 'Deployment/palisade-responder',
    'PodDisruptionBudget/palisade-enricher', 'PodDisruptionBudget/palisade-evaluator', 'PodDisruptionBudget/palisade-responder',
    'ServiceAccount/palisade-collector', 'ServiceAccount/palisade-enricher', 'ServiceAccount/palisade-evaluator',
    'ServiceAccount/palisade-responder',
  ]);
  for (const o of objects) {
    if (!o.kind.startsWith('Cluster')) assert.equal(o.metadata.namespace, 'palisade', `${o.kind}/${o.metadata.name}`);
  }
  for (const stage of STAGES) {
    const spec = podSpec(workload(objects, stage));
    assert.equal(spec.serviceAccountName, nameOf(stage));
    assert.deepEqual(container(objects, stage).command, ['palisade', stage]);
  }
});

test('the collector and the evaluator get no API token; the enricher and the responder do', opts, () => {
  const { objects } = render();
  for (const stage of STAGES) {
    const wants = stage === 'enricher' || stage === 'responder';
    assert.equal(find(objects, 'ServiceAccount', nameOf(stage))['automountServiceAccountToken'], wants, stage);
    assert.equal(podSpec(workload(objects, stage)).automountServiceAccountToken, wants, stage);
  }
});

test('RBAC: the enricher lists and watches pods; the responder gets and patches pods and gets, creates and updates NetworkPolicies', opts, () => {
  const { objects } = render();
  const rules = (name: string): unknown => find(objects, 'ClusterRole', name)['rules'];
  assert.deepEqual(rules('palisade-enricher'), [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }]);
  assert.deepEqual(rules('palisade-responder'), [
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'create', 'update'] },
  ]);
  for (const stage of ['enricher', 'responder'] as const) {
    const b = find(objects, 'ClusterRoleBinding', nameOf(stage));
    assert.deepEqual(b['subjects'], [{ kind: 'ServiceAccount', name: nameOf(stage), namespace: 'palisade' }]);
    assert.deepEqual(b['roleRef'], { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: nameOf(stage) });
  }
});

test('the collector holds capabilities, not privileged: hostPID, BTF, bpffs, tracefs and cgroupfs read-only, a read-only root', opts, () => {
  const { objects } = render();
  const spec = podSpec(workload(objects, 'collector'));
  assert.equal(spec.hostPID, true);
  const c = container(objects, 'collector');
  const sc = c.securityContext as { privileged?: boolean; allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] } };
  assert.equal(sc.privileged, false);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.deepEqual(sc.capabilities, { drop: ['ALL'], add: ['BPF', 'PERFMON', 'SYS_RESOURCE', 'SYS_PTRACE'] });
  const mounts = new Map(c.volumeMounts.map((m) => [m.mountPath, m]));
  const hostOf = (mountPath: string): string | undefined => {
    const m = mounts.get(mountPath);
    return spec.volumes.find((v) => v.name === m?.name)?.hostPath?.path;
  };
  for (const [path, host] of [['/sys/kernel/btf', '/sys/kernel/btf'], ['/sys/fs/bpf', '/sys/fs/bpf'],
    ['/sys/kernel/tracing', '/sys/kernel/tracing'], ['/host/sys/fs/cgroup', '/sys/fs/cgroup']] as const) {
    assert.equal(hostOf(path), host, path);
    assert.equal(mounts.get(path)?.readOnly, true, `${path} must be read-only`);
  }
  // The state directory is the one host path it writes (visibility gap, carried counters, spool).
  assert.equal(hostOf('/var/lib/palisade'), '/var/lib/palisade');
  assert.notEqual(mounts.get('/var/lib/palisade')?.readOnly, true);
  assert.equal(value(c, 'PALISADE_COLLECTOR_STATE_DIR'), '/var/lib/palisade');
  assert.equal(value(c, 'PALISADE_CGROUP_ROOT'), '/host/sys/fs/cgroup', 'the collector resolves cgroups where the host\'s are mounted');
  assert.ok([...mounts.keys()].every((p) => !p.startsWith('/sys/fs/cgroup')), 'nothing mounted into the pod\'s own read-only cgroupfs');
  assert.equal(envOf(c).get('NODE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');

  // SYS_ADMIN only when asked for, and then the API server needs allowPrivilegeEscalation.
  const admin = container(render({ values: { collector: { sysAdmin: true } } }).objects, 'collector').securityContext as typeof sc;
  assert.deepEqual(admin.capabilities?.add, ['BPF', 'PERFMON', 'SYS_RESOURCE', 'SYS_PTRACE', 'SYS_ADMIN']);
  assert.equal(admin.allowPrivilegeEscalation, true);
});

test('the enricher, evaluator and responder are Pod Security restricted', opts, () => {
  const { objects } = render();
  for (const stage of ['enricher', 'evaluator', 'responder'] as const) {
    const spec = podSpec(workload(objects, stage));
    assert.equal(spec.hostPID, undefined, stage);
    assert.equal(spec.securityContext?.['runAsNonRoot'], true, stage);
    assert.deepEqual(spec.securityContext?.['seccompProfile'], { type: 'RuntimeDefault' }, stage);
    assert.deepEqual(container(objects, stage).securityContext, {
      allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] },
    }, stage);
    assert.ok(spec.volumes.every((v) => v.hostPath === undefined), `${stage} mounts no host path`);
  }
});

test('probes: /healthz (startup, liveness) and /readyz (readiness) on the port the stage serves them on', opts, () => {
  const { objects } = render({ values: { enricher: { metricsPort: 19465 } } });
  const envPort = { collector: 'PALISADE_COLLECTOR_METRICS_PORT', enricher: 'PALISADE_ENRICHER_METRICS_PORT',
    evaluator: 'PALISADE_EVALUATOR_METRICS_PORT', responder: 'PALISADE_RESPONDER_METRICS_PORT' };
  for (const stage of STAGES) {
    const c = container(objects, stage);
    assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: 'ops' }, stage);
    assert.deepEqual(c.startupProbe?.httpGet, { path: '/healthz', port: 'ops' }, stage);
    assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: 'ops' }, stage);
    const ops = c.ports.find((p) => p.name === 'ops');
    assert.equal(String(ops?.containerPort), value(c, envPort[stage]), stage);
    assert.ok(c.resources.requests?.['cpu'] !== undefined && c.resources.limits?.['memory'] !== undefined, `${stage} has requests and limits`);
  }
  assert.equal(value(container(objects, 'enricher'), 'PALISADE_ENRICHER_METRICS_PORT'), '19465');
});

test('PodDisruptionBudgets select each Deployment\'s pods', opts, () => {
  const { objects } = render({ values: { evaluator: { pdbMaxUnavailable: 0 } } });
  for (const stage of ['enricher', 'evaluator', 'responder'] as const) {
    const spec = find(objects, 'PodDisruptionBudget', nameOf(stage))['spec'] as { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
    const podLabels = (workload(objects, stage)['spec'] as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    for (const [k, v] of Object.entries(spec.selector.matchLabels)) assert.equal(podLabels[k], v, `${stage} ${k}`);
    assert.equal(spec.selector.matchLabels['app.kubernetes.io/component'], stage);
    assert.equal(spec.maxUnavailable, stage === 'evaluator' ? 0 : 1);
  }
});

test('namespace.create makes the namespace with Pod Security labels: enforce privileged, warn and audit restricted', opts, () => {
  const { objects } = render({ values: { namespace: { create: true, name: 'palisade-system' } } });
  const ns = find(objects, 'Namespace', 'palisade-system');
  assert.deepEqual(Object.fromEntries(Object.entries(ns.metadata.labels ?? {}).filter(([k]) => k.startsWith('pod-security'))), {
    'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/enforce-version': 'latest',
    'pod-security.kubernetes.io/warn': 'restricted', 'pod-security.kubernetes.io/warn-version': 'latest',
    'pod-security.kubernetes.io/audit': 'restricted', 'pod-security.kubernetes.io/audit-version': 'latest',
  });
  for (const o of objects) if (o.kind !== 'Namespace' && !o.kind.startsWith('Cluster')) assert.equal(o.metadata.namespace, 'palisade-system');
  assert.equal(render().objects.find((o) => o.kind === 'Namespace'), undefined, 'no Namespace unless asked');
});

test('every env variable the chart sets is a key of that stage\'s config schema', opts, () => {
  for (const values of [{}, TLS_SASL_VALUES, ALL_OPTIONS_VALUES]) {
    const { objects } = render({ values });
    for (const stage of STAGES) {
      const known = new Set(Object.values(SCHEMAS[stage]).map((k) => k.env));
      for (const e of container(objects, stage).env) assert.ok(known.has(e.name), `${stage}: ${e.name} is not in its config schema`);
    }
  }
});

test('TLS + SASL: SASL_SSL, the CA, each stage\'s own user, client certificate and password, and nothing of the others', opts, () => {
  const { objects } = render({ values: TLS_SASL_VALUES });
  for (const stage of STAGES) {
    const c = container(objects, stage);
    const spec = podSpec(workload(objects, stage));
    assert.equal(value(c, 'PALISADE_KAFKA_BROKERS'), 'kafka-0.kafka.svc:9093,kafka-1.kafka.svc:9093');
    assert.equal(value(c, 'PALISADE_KAFKA_SECURITY_PROTOCOL'), 'SASL_SSL');
    assert.equal(value(c, 'PALISADE_KAFKA_SASL_MECHANISM'), 'scram-sha-512');
    assert.equal(value(c, 'PALISADE_KAFKA_USERNAME'), TLS_SASL_VALUES.kafka.sasl.users[stage]);
    assert.equal(value(c, 'PALISADE_KAFKA_TLS_SERVER_NAME'), 'kafka.internal');
    assert.equal(envOf(c).get('PALISADE_KAFKA_PASSWORD'), undefined, 'the password itself never goes into the pod spec');
    // Each file the env names is in a mounted Secret, under the key the values name.
    const fileIn = (envName: string): { secret: string; key: string } => {
      const path = value(c, envName);
      assert.ok(path !== undefined, `${stage}: ${envName} unset`);
      const m = c.volumeMounts.find((x) => path.startsWith(`${x.mountPath}/`));
      assert.ok(m !== undefined, `${stage}: ${path} is not under a mount`);
      assert.equal(m.readOnly, true);
      const v = spec.volumes.find((x) => x.name === m.name)?.secret;
      const item = v?.items?.find((i) => `${m.mountPath}/${i.path}` === path);
      assert.ok(v !== undefined && item !== undefined, `${stage}: ${path} is not an item of a Secret volume`);
      return { secret: v.secretName, key: item.key };
    };
    assert.deepEqual(fileIn('PALISADE_KAFKA_CA_FILE'), { secret: 'kafka-ca', key: 'ca.pem' });
    assert.deepEqual(fileIn('PALISADE_KAFKA_CERT_FILE'), { secret: `kafka-${stage}-cert`, key: 'tls.crt' });
    assert.deepEqual(fileIn('PALISADE_KAFKA_KEY_FILE'), { secret: `kafka-${stage}-cert`, key: 'tls.key' });
    assert.deepEqual(fileIn('PALISADE_KAFKA_PASSWORD_FILE'), { secret: 'kafka-passwords', key: stage });
    for (const v of spec.volumes) if (v.secret !== undefined) assert.equal(v.secret.defaultMode, 0o440, `${stage}: Secret ${v.secret.secretName} mode`);
    const passwordItems = spec.volumes.filter((v) => v.secret?.secretName === 'kafka-passwords').flatMap((v) => v.secret?.items ?? []);
    assert.deepEqual(passwordItems.map((i) => i.key), [stage], `${stage} mounts only its own password`);
  }
  // TLS alone is SSL; SASL alone SASL_PLAINTEXT; neither PLAINTEXT, with no TLS or SASL variables at all.
  const proto = (kafka: Record<string, unknown>): string | undefined =>
    value(container(render({ values: { kafka } }).objects, 'enricher'), 'PALISADE_KAFKA_SECURITY_PROTOCOL');
  assert.equal(proto({ tls: { enabled: true } }), 'SSL');
  assert.equal(proto({ sasl: { enabled: true, passwordSecret: 'p' } }), 'SASL_PLAINTEXT');
  const plain = container(render().objects, 'collector');
  assert.equal(value(plain, 'PALISADE_KAFKA_SECURITY_PROTOCOL'), 'PLAINTEXT');
  assert.deepEqual(plain.env.map((e) => e.name).filter((n) => /KAFKA_(CA|CERT|KEY|SASL|USERNAME|PASSWORD|TLS)/.test(n)), []);
});

test('the alert signing key: the evaluator mounts only the private key, the responder only the public one', opts, () => {
  const { objects } = render({ values: { alertSigning: { secretName: 'sig', privateKeyKey: 'priv', publicKeyKey: 'pub' } } });
  const items = (stage: Stage): { key: string; path: string }[] =>
    podSpec(workload(objects, stage)).volumes.filter((v) => v.secret?.secretName === 'sig').flatMap((v) => v.secret?.items ?? []);
  assert.deepEqual(items('evaluator'), [{ key: 'priv', path: 'signing.key' }]);
  assert.deepEqual(items('responder'), [{ key: 'pub', path: 'verify.pem' }]);
  assert.deepEqual(items('collector'), []);
  assert.deepEqual(items('enricher'), []);
  assert.equal(value(container(objects, 'evaluator'), 'PALISADE_ALERT_SIGNING_KEY_FILE'), '/etc/palisade/alert-signing/signing.key');
  assert.equal(value(container(objects, 'responder'), 'PALISADE_ALERT_VERIFY_KEYS'), '/etc/palisade/alert-signing/verify.pem');
  const r = container(objects, 'responder');
  assert.equal(value(r, 'PALISADE_DRY_RUN'), 'true', 'the responder stays in dry-run unless told');
  assert.equal(envOf(r).get('POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
});

test('combinations the stages would refuse are refused at render time, naming the value', opts, () => {
  const plainNoTls = helmTemplate({ values: { kafka: { sasl: { enabled: true, mechanism: 'plain', passwordSecret: 'p' } } } });
  assert.notEqual(plainNoTls.status, 0);
  assert.match(plainNoTls.stderr, /kafka\.sasl\.mechanism plain needs kafka\.tls\.enabled/);
  const noSecret = helmTemplate({ values: { kafka: { sasl: { enabled: true } } } });
  assert.notEqual(noSecret.status, 0);
  assert.match(noSecret.stderr, /kafka\.sasl\.passwordSecret is required/);
});

test('the README\'s capability table names exactly the capabilities the chart can give the collector', opts, () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Install on a cluster (Helm)'), readme.indexOf('**The namespace.**'));
  const inReadme = [...section.matchAll(/^\| `CAP_([A-Z_]+)` \|/gm)].map((m) => m[1]);
  const caps = (container(render().objects, 'collector').securityContext as { capabilities: { add: string[] } }).capabilities.add;
  assert.deepEqual(inReadme, [...caps, 'SYS_ADMIN']);
});
